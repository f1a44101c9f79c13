/* The browser's history as the page's screens, so that a phone's back button (or the
 * browser's) goes back inside the chat instead of to the previous site.
 *
 * Three levels, each a history entry above the one before:
 *   0  the lists                          (no hash)
 *   1  a conversation                     #room/100, #user/7
 *   2  the members sheet over a room      #room/100/members
 * history.state is {depth}. Opening a conversation from the lists pushes level 1;
 * opening another one from a conversation replaces it (back is the lists, not the
 * previous chat); the members sheet pushes level 2. The page's own back button and the
 * sheet's close button go back in history too, so every way back is the same one.
 * A URL opened with a hash (a reload, a link) gets a lists entry put under it.
 *
 * The hash is what is shown: on popstate the page applies routeOf(location.hash).
 */

/* {conv: {kind, id} | null, members: bool} of a location hash. */
export function routeOf(hash) {
  const found = /^#(room|user)\/([1-9][0-9]{0,18})(\/members)?$/.exec(hash || "");
  if (!found) return { conv: null, members: false };
  const conv = { kind: found[1], id: Number(found[2]) };
  return { conv, members: Boolean(found[3]) && conv.kind === "room" };
}

export function hashOf(conv, members = false) {
  if (!conv) return "";
  return `#${conv.kind}/${conv.id}${members && conv.kind === "room" ? "/members" : ""}`;
}

const depth = () => (history.state && Number.isInteger(history.state.depth) ? history.state.depth : 0);
const listUrl = () => location.pathname + location.search;

/* Wire popstate to `show(route)`; returns the route the page was opened with, with
 * the lists put under it in history if it names a conversation. */
export function setupNavigation(show) {
  window.addEventListener("popstate", () => show(routeOf(location.hash)));
  const route = routeOf(location.hash);
  if (route.conv && depth() === 0) {  // opened at a conversation: the lists go under it
    history.replaceState({ depth: 0 }, "", listUrl());
    history.pushState({ depth: 1 }, "", hashOf(route.conv));
    if (route.members) history.pushState({ depth: 2 }, "", hashOf(route.conv, true));
  } else if (!route.conv) {
    history.replaceState({ depth: 0 }, "", listUrl());
  }
  return route;
}

/* The page now shows `conv` (called when the user opened it, not on popstate). */
export function entered(conv) {
  const hash = hashOf(conv);
  if (location.hash === hash && depth() === 1) return;
  if (depth() >= 1) history.replaceState({ depth: 1 }, "", hash);
  else history.pushState({ depth: 1 }, "", hash);
}

/* The members sheet of the open room was opened by the user. */
export function membersOpened(conv) {
  if (depth() === 1) history.pushState({ depth: 2 }, "", hashOf(conv, true));
}

/* Back to the conversation under the sheet; false if the sheet has no entry (the
 * caller then hides it itself). */
export function closeMembers() {
  if (depth() !== 2) return false;
  history.back();
  return true;
}

/* Back to the lists (the page's back button); false if there is no entry to go back
 * to (the caller then shows the lists itself, and the URL says so). */
export function backToLists() {
  const levels = depth();
  if (levels >= 1) {
    history.go(-levels);
    return true;
  }
  if (location.hash) history.replaceState({ depth: 0 }, "", listUrl());
  return false;
}

/* Logged out: the lists entry, without a conversation in the URL. */
export function reset() {
  history.replaceState({ depth: 0 }, "", listUrl());
}
