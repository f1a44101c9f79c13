/* The chat page: its state, loading, conversations, the session (the drawing is in
 * view.js, the data in conversations.js, how a conversation reads in layout.js, the
 * WebSocket in socket.js (over clients/js/gateway-client.js, served as
 * /static/gateway-client.js), what the server pushes in live.js, the user's actions in
 * actions.js, the screens as browser history in navigation.js, unread counts in
 * reading.js).
 *
 * HTTP (the web backend, design document 000): login, rooms, history, uploads, and
 * POST /api/send for every message, to which the backend adds our nickname and avatar.
 * WebSocket (the gateway): pushes of every room we belong to and of our private chats.
 * The page shows who said what only from frames the server attests (new_msg, presence,
 * room_member: the backend or the worker built them from verified identities), never
 * from the document's raw {code, msg, data} frames, whose names are whatever a client
 * claimed. After a reconnection it asks what it missed since its cursor (by message id)
 * before saying "online".
 */

import { setupActions } from "./actions.js";
import { api, post, setCsrfToken } from "./api.js";
import { Cursor, Log, conversationOf, isNewer, keyOf, roomKey, userKey } from "./conversations.js";
import { startLink } from "./live.js";
import { setupLogin, showLogin } from "./login.js";
import * as navigation from "./navigation.js";
import { markRead, setReading, unreadCounts } from "./reading.js";
import {
  $, DEFAULT_AVATAR, appendLast, el, renderContacts, renderHeader, renderLog, renderMembers,
  renderRooms, renderTotals, toast,
} from "./view.js";

const PAGE = 50;
const PHONE = window.matchMedia("(max-width: 760px)");
export const state = {
  config: null, me: null, rooms: [], contacts: [], conv: null,
  logs: new Map(), online: new Set(), cursor: new Cursor(), link: null,
  reads: new Map(),  // key -> the server's reading {read, unread, latest} (reading.js)
  unread: {},  // key -> unread count, derived from reads and logs at each drawing
  recovered: 0,  // messages that only the recovery after a reconnection brought
  roomPushes: 0,  // rooms created or renamed by a push (live.js): a list asked before is stale
  loads: {},  // list -> {asked, shown}: the newest request, and the one whose answer shows
  presenceFrom: 0,  // after a reconnection: the contacts' request from which presence is taken
};
window.__chat = state;  // for debugging and the browser tests

export const myId = () => String(state.me.id);
export const isJoined = (roomId) => state.rooms.some((r) => r.id === roomId && r.joined);

export function logOf(key) {
  let log = state.logs.get(key);
  if (!log) state.logs.set(key, (log = new Log()));
  return log;
}

export function renderLists() {
  state.unread = unreadCounts();
  renderRooms(state, openConversation, joinRoom);
  renderContacts(state, openConversation);
  renderTotals(state);
}

// -- loading ---------------------------------------------------------------------------
/* Asks for a list; its answer, or null if a later request's answer is already shown
 * (requests overtake each other: an older answer never overwrites a newer one). */
async function newest(what, path) {
  if (!state.loads[what]) state.loads[what] = { asked: 0, shown: 0 };
  const loads = state.loads[what];
  const asked = ++loads.asked;
  const answer = await api(path);
  if (asked < loads.shown) return null;
  loads.shown = asked;
  return answer;
}
/* The room list. A room created or renamed by a push while an answer was on its way may
 * be missing from it: then ask again (twice at most while rooms keep changing; the next
 * push corrects what is left). */
export async function loadRooms() {
  let rooms = null;
  for (let tries = 1; tries <= 3; tries += 1) {
    const pushes = state.roomPushes;
    rooms = await newest("rooms", "/api/rooms");
    if (!rooms) return;
    if (pushes === state.roomPushes) break;
  }
  state.rooms = rooms;
  for (const room of state.rooms) if (room.read != null) setReading(roomKey(room.id), room);
  renderLists();
  renderHeader(state);
  updateComposer();
}
/* The contacts and their online dots. Who is "present" for the enter/leave notices is
 * taken from here only when (re)connecting (from the first answer asked since then);
 * afterwards presence frames change it, so a periodic refresh that happens to see someone
 * first cannot swallow their notice. */
export async function loadContacts(resetPresence = false) {
  if (resetPresence) state.presenceFrom = (state.loads.contacts?.asked ?? 0) + 1;
  const contacts = await newest("contacts", "/api/users");
  if (!contacts) return;
  state.contacts = contacts;
  for (const user of state.contacts) setReading(userKey(user.id), user);
  if (state.presenceFrom && state.loads.contacts.shown >= state.presenceFrom) {
    state.online = new Set(state.contacts.filter((u) => u.online).map((u) => String(u.id)));
    state.presenceFrom = 0;
  }
  renderLists();
  renderHeader(state);
}
export async function loadMembers() {
  const conv = state.conv;
  if (!conv || conv.kind !== "room" || $("#members").hidden) return;
  const members = await newest("members", `/api/rooms/${conv.id}/members`);
  if (members && state.conv === conv) renderMembers(members, myId(), openConversation);  // still there
}
let refreshTimer = null;
export function refreshSoon() {  // counts, flags and members change together: ask once
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    await Promise.all([loadRooms(), loadContacts(), loadMembers()]).catch(() => {});
  }, 300);
}

// -- messages and notices ----------------------------------------------------------------
function updatePreview(key, message) {
  const owner = key[0] === "r"
    ? state.rooms.find((r) => roomKey(r.id) === key)
    : state.contacts.find((u) => userKey(u.id) === key);
  if (owner && isNewer(message, owner.last)) owner.last = message;
}

/* A message from a push, a recovery or our own send; false if it was known. */
export function addMessage(message) {
  const key = conversationOf(message, myId());
  const log = logOf(key);
  const index = log.add(message);
  if (index < 0) return false;
  updatePreview(key, message);
  const mine = String(message.uid) === myId();
  if (key === keyOf(state.conv)) {
    markRead(state.conv, key);
    const list = $("#messages");
    if (log.loaded && index === log.items.length - 1) {
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      appendLast(list, log, myId());
      if (nearBottom || mine) list.scrollTop = list.scrollHeight;
    } else if (log.loaded) {
      const top = list.scrollHeight - list.scrollTop;
      renderLog(list, log, myId());
      list.scrollTop = list.scrollHeight - top;
    }
  }
  if (key[0] === "u" && !state.contacts.some((u) => userKey(u.id) === key)) refreshSoon();
  renderLists();
  return true;
}

// -- conversations -------------------------------------------------------------------------
export function setView(view) {
  $("#app").dataset.view = view;
}

export function updateComposer() {
  const conv = state.conv;
  const outside = conv && conv.kind === "room" && !isJoined(conv.id);
  $("#composer").hidden = !conv || outside;
  $("#join-bar").hidden = !outside;
  $("#leave-room").hidden = !conv || conv.kind !== "room" || outside;
  $("#members-leave").hidden = $("#leave-room").hidden;
  $("#members-toggle").hidden = !conv || conv.kind !== "room";
  const room = conv && conv.kind === "room" && state.rooms.find((r) => r.id === conv.id);
  $("#rename-room").hidden = !room || room.created_by !== myId();  // the owner's only
}

const historyPath = (conv, before) => `${conv.kind === "room" ? `/api/rooms/${conv.id}` : `/api/private/${conv.id}`}`
  + `/messages?limit=${PAGE}${before ? `&before=${before}` : ""}`;

/* Show a conversation; `fromHistory`: the browser's history asked for it (back, forward,
 * a reload), which then already has its entry; otherwise the user did. */
export async function openConversation(conv, { fromHistory = false } = {}) {
  state.conv = conv;
  const key = keyOf(conv);
  markRead(conv, key);
  setView("chat");
  if (!fromHistory) navigation.entered(conv);
  if (!fromHistory || conv.kind !== "room") $("#members").hidden = true;
  renderHeader(state);
  renderLists();
  updateComposer();
  const list = $("#messages");
  const log = logOf(key);
  if (!log.loaded) {
    list.replaceChildren(el("li", { className: "empty", textContent: "加载中…" }));
    try {
      const page = await api(historyPath(conv));
      log.merge(page);
      log.loaded = true;
      log.complete = page.length < PAGE;
    } catch (error) {
      toast(error.message);  // no such room or person: back to the lists
      if (keyOf(state.conv) === key) goBack();
      return;
    }
  }
  if (keyOf(state.conv) !== key) return;
  if (markRead(conv, key)) renderLists();
  renderLog(list, log, myId());
  list.scrollTop = list.scrollHeight;
  loadMembers().catch(() => {});
}

let loadingOlder = false;
export async function loadOlder() {
  const conv = state.conv;
  const log = conv && state.logs.get(keyOf(conv));
  if (!log || !log.loaded || log.complete || loadingOlder) return;
  loadingOlder = true;
  try {
    const page = await api(historyPath(conv, log.oldestId()));
    if (state.conv !== conv) return;
    log.merge(page);
    log.complete = page.length < PAGE;
    const list = $("#messages");
    const fromBottom = list.scrollHeight - list.scrollTop;
    renderLog(list, log, myId());
    list.scrollTop = list.scrollHeight - fromBottom;
  } catch (error) {
    toast(error.message);
  } finally {
    loadingOlder = false;
  }
}

export async function joinRoom(roomId) {
  const from = state.conv;
  try {
    await post(`/api/rooms/${roomId}/join`);
    await loadRooms();
    // Open the room we joined, unless the user went elsewhere while we waited.
    if (state.conv === from) openConversation({ kind: "room", id: roomId });
  } catch (error) {
    toast(error.message);
  }
}

export function closeConversation() {
  state.conv = null;
  setView("list");
  $("#members").hidden = true;
  renderHeader(state);
  renderLists();
  updateComposer();
}

/* The page's back button: the same step back as the browser's. */
export function goBack() {
  if (!navigation.backToLists()) closeConversation();
}

/* The members sheet of the open room, shown or hidden (not a history step). */
export function showMembers(show) {
  $("#members").hidden = !show;
  if (show) loadMembers().catch((error) => toast(error.message));
}

/* What the browser's history shows now (back, forward): the lists, a conversation,
 * the members sheet over a room. */
function showRoute(route) {
  if (!state.me) return;
  if (!route.conv) {
    closeConversation();
    return;
  }
  if (keyOf(route.conv) !== keyOf(state.conv)) openConversation(route.conv, { fromHistory: true });
  showMembers(route.members);
}

// -- session ---------------------------------------------------------------------------------
export async function logout(tell = true) {
  if (tell) await post("/api/logout").catch(() => {});
  if (state.link) state.link.stop();
  navigation.reset();
  Object.assign(state, { me: null, link: null, conv: null, logs: new Map(), unread: {},
    reads: new Map(), online: new Set(), cursor: new Cursor(), rooms: [], contacts: [] });
  showLogin();
}

async function startApp(user) {
  state.me = user;
  $("#login").hidden = true;
  $("#app").hidden = false;
  for (const id of ["#me-avatar", "#me-big-avatar"]) $(id).src = user.avatar || DEFAULT_AVATAR;
  $("#me-name").textContent = user.nickname;
  $("#me-id").textContent = `ID：${user.id}`;
  await Promise.all([loadRooms(), loadContacts(true)]).catch((error) => toast(error.message));
  startLink();
  const route = navigation.routeOf(location.hash);  // a reload or a link: where it was
  const mine = state.rooms.filter((r) => r.joined);
  const first = mine.find((r) => r.id === state.config.default_room) || mine[0];
  if (route.conv) showRoute(route);
  else if (!PHONE.matches && first) openConversation({ kind: "room", id: first.id });
  else closeConversation();
}

async function boot() {
  state.config = await api("/api/config");
  setCsrfToken(state.config.csrf);
  setupLogin(state.config, startApp);
  setupActions();
  navigation.setupNavigation(showRoute);
  if (PHONE.matches) $("#input").placeholder = "输入消息";
  document.addEventListener("visibilitychange", () => {  // back to the page: what it shows is read
    if (state.me && state.conv && markRead(state.conv, keyOf(state.conv))) renderLists();
  });
  // No polling: rooms created, renamed, joined and left are pushed (live.js); the lists
  // are asked again when the page comes back into view (online counts of rooms we are
  // not in, people who share no room with us: nothing pushes those to us).
  document.addEventListener("visibilitychange", () => {
    if (state.me && document.visibilityState === "visible") refreshSoon();
  });
  let user;
  try {
    user = await api("/api/me");
  } catch {
    showLogin();
    return;
  }
  startApp(user);
}
boot().catch((error) => toast(`启动失败：${error.message}`));
