/* Drawing the page from its state: lists, messages, header, members. No network.
 *
 * Text from the server is always set as text (textContent, text nodes), never parsed as
 * HTML; links in a message are <a> elements made here for http(s) URLs only
 * (layout.js), opened in a new tab with rel="noopener noreferrer". How a conversation
 * reads (day separators, one avatar and name for a sender's consecutive messages) is
 * decided in layout.js.
 * Media are our own uploads only: the backend sends nothing else as media, and a URL
 * of any other shape is shown as text here too, never loaded (the page's CSP would
 * refuse it anyway).
 */

import { keyOf, preview, roomKey, userKey } from "./conversations.js";
import { dayLabel, linkParts, placeOf, rowsOf } from "./layout.js";

export const $ = (selector) => document.querySelector(selector);
export const DEFAULT_AVATAR = "/static/avatars/default.svg";

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null && child !== false) node.append(child);
  return node;
}

export function toast(text) {
  const box = $("#toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 3000);
}

const clock = (seconds) => new Date(seconds * 1000)
  .toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false });

/* A list item's time: the time of day today, else the day. */
export function when(seconds) {
  const date = new Date(seconds * 1000);
  if (new Date().toDateString() === date.toDateString()) return clock(seconds);
  return `${date.getMonth() + 1}月${date.getDate()}日`;
}

/* The backend's words for a file over a limit (bytes), for a file refused before sending. */
export function tooBig(limit) {
  return `文件太大：不能超过 ${Math.round(limit / 1048576)} MB`;
}

function badge(n) {
  return n ? el("span", { className: "badge", textContent: n > 99 ? "99+" : String(n) }) : null;
}

const UPLOAD = /^\/uploads\/[0-9a-f]{24}\.[a-z0-9]{3,4}$/;

/* A text message's content: text nodes, and links for its http(s) URLs. */
function textNodes(content) {
  return linkParts(content).map((part) => (part.href
    ? el("a", { href: part.href, target: "_blank", rel: "noopener noreferrer", textContent: part.text })
    : document.createTextNode(part.text)));
}

const dayRow = (label) => el("li", { className: "day" }, el("span", { textContent: label }));

/* One message (or notice) of a conversation; `continued`: its sender's previous
 * message is just above, so neither avatar nor name again. */
export function renderMessage(item, myId, continued = false) {
  if (item.notice) return el("li", { className: "notice" }, el("span", {}, item.notice));
  const mine = String(item.uid) === myId;
  const type = UPLOAD.test(item.content) ? Number(item.msgtype) : 0;
  let bubble;
  if (type === 1) {
    const img = el("img", { className: "pic", src: item.content, alt: "图片", loading: "lazy" });
    img.onclick = () => window.open(item.content, "_blank", "noopener");
    bubble = el("div", { className: "bubble media" }, img);
  } else if (type === 2) {
    bubble = el("div", { className: "bubble media" }, el("video", { src: item.content, controls: true, preload: "metadata" }));
  } else if (type === 3) {
    bubble = el("div", { className: "bubble media" }, el("audio", { src: item.content, controls: true, preload: "none" }));
  } else {
    bubble = el("div", { className: "bubble" }, ...textNodes(item.content));
  }
  bubble.title = clock(item.time);
  const classes = `msg${mine ? " mine" : ""}${continued ? " continued" : ""}`;
  return el("li", { className: classes, dataset: { msgId: item.msg_id, uid: item.uid } },
    continued
      ? el("span", { className: "avatar-space" })
      : el("img", { className: "avatar", src: item.photo || DEFAULT_AVATAR, alt: item.username }),
    el("div", { className: "body" },
      !continued && el("div", { className: "meta" },
        el("span", { className: "name", textContent: item.username }),
        el("time", { textContent: clock(item.time) })),
      bubble));
}

function historyMark(log) {
  if (!log.complete) return el("li", { className: "history-more", textContent: "上滑加载更早的消息" });
  return el("li", { className: "history-end", textContent: log.items.length ? "没有更早的消息了" : "还没有消息，打个招呼吧" });
}

/* The whole message list of a conversation: the history marker on top, then each
 * day's separator and items. */
export function renderLog(list, log, myId) {
  list.replaceChildren(historyMark(log), ...rowsOf(log.items).map((row) => (row.item
    ? renderMessage(row.item, myId, row.continued)
    : dayRow(row.day))));
}

/* Append the last item of a log (a new message or notice) to its shown list. */
export function appendLast(list, log, myId) {
  list.firstElementChild?.replaceWith(historyMark(log));
  const items = log.items;
  const last = items[items.length - 1];
  const place = placeOf(items[items.length - 2], last);
  if (place.day) list.append(dayRow(dayLabel(last.time)));
  list.append(renderMessage(last, myId, place.continued));
}

function item(props, icon, name, sub, side) {
  return el("li", props, icon,
    el("div", { className: "item-text" },
      el("div", { className: "item-row" }, el("span", { className: "item-name", textContent: name }), side.time),
      el("div", { className: "item-row" }, el("span", { className: "item-sub", textContent: sub }), side.badge)));
}

function lastLine(message, myId, withName) {
  if (!message) return "";
  const who = withName && String(message.uid) !== myId ? `${message.username}: ` : "";
  return who + preview(message);
}

/* The room list: joined rooms (newest conversation first), then rooms to discover. */
export function renderRooms(state, open, join) {
  const current = keyOf(state.conv);
  const myId = String(state.me.id);
  const joined = state.rooms.filter((r) => r.joined)
    .sort((a, b) => (b.last?.msg_id ?? 0) - (a.last?.msg_id ?? 0) || a.id - b.id);
  $("#rooms").replaceChildren(...joined.map((room) => {
    const key = roomKey(room.id);
    const online = room.online == null ? "" : ` · ${room.online}人在线`;
    const node = item(
      { className: key === current ? "active" : "", dataset: { room: room.id } },
      el("span", { className: "room-icon", textContent: room.name.slice(0, 1) }),
      room.name, lastLine(room.last, myId, true) || `${room.members ?? 0}位成员${online}`,
      { time: el("time", { className: "item-time", textContent: room.last ? when(room.last.time) : "" }),
        badge: badge(state.unread[key]) });
    node.onclick = () => open({ kind: "room", id: room.id });
    return node;
  }));
  const others = state.rooms.filter((r) => !r.joined);
  $("#discover-title").hidden = !others.length;
  $("#discover").replaceChildren(...others.map((room) => {
    const button = el("button", { type: "button", className: "join", textContent: "加入" });
    button.onclick = (event) => { event.stopPropagation(); join(room.id); };
    const node = el("li", { dataset: { room: room.id } },
      el("span", { className: "room-icon muted", textContent: room.name.slice(0, 1) }),
      el("div", { className: "item-text" }, el("div", { className: "item-name", textContent: room.name }),
        el("div", { className: "item-sub", textContent: `${room.online ?? 0}人在线` })),
      button);
    node.onclick = () => open({ kind: "room", id: room.id });
    return node;
  }));
}

/* Contacts: people with a conversation first (newest first), then by name. */
export function renderContacts(state, open) {
  const current = keyOf(state.conv);
  const myId = String(state.me.id);
  const people = [...state.contacts].sort((a, b) => (b.last?.msg_id ?? 0) - (a.last?.msg_id ?? 0)
    || Number(b.online) - Number(a.online) || a.nickname.localeCompare(b.nickname, "zh-CN"));
  $("#contacts").replaceChildren(...people.map((user) => {
    const key = userKey(user.id);
    const node = item(
      { className: key === current ? "active" : "", dataset: { uid: user.id } },
      el("span", { className: "avatar-wrap" },
        el("img", { className: "avatar", src: user.avatar || DEFAULT_AVATAR, alt: "" }),
        el("span", { className: `dot${user.online ? " on" : ""}`, title: user.online ? "在线" : "离线" })),
      user.nickname, lastLine(user.last, myId, false) || (user.online ? "在线" : "离线"),
      { time: el("time", { className: "item-time", textContent: user.last ? when(user.last.time) : "" }),
        badge: badge(state.unread[key]) });
    node.onclick = () => open({ kind: "user", id: user.id });
    return node;
  }));
}

/* The unread totals on the tabs and in the window title. */
export function renderTotals(state) {
  let rooms = 0;
  let people = 0;
  for (const [key, n] of Object.entries(state.unread)) {
    if (key[0] === "u") people += n;
    else if (state.rooms.some((r) => r.joined && roomKey(r.id) === key)) rooms += n;
  }
  for (const [selector, n] of [["#rooms-badge", rooms], ["#contacts-badge", people]]) {
    const node = $(selector);
    node.hidden = !n;
    node.textContent = n > 99 ? "99+" : String(n);
  }
  document.title = rooms + people ? `(${rooms + people}) 聊天室` : "聊天室 · 开源技术小栈";
}

export function renderHeader(state) {
  const conv = state.conv;
  if (!conv) {
    $("#chat-title").textContent = "选择一个房间开始聊天";
    $("#chat-sub").textContent = "";
    return;
  }
  if (conv.kind === "room") {
    const room = state.rooms.find((r) => r.id === conv.id);
    $("#chat-title").textContent = room ? room.name : `房间 ${conv.id}`;
    $("#chat-sub").textContent = room && room.online != null ? `${room.online} 人在线` : "";
  } else {
    const user = state.contacts.find((u) => u.id === conv.id);
    $("#chat-title").textContent = user ? user.nickname : `用户 ${conv.id}`;
    $("#chat-sub").textContent = user ? (user.online ? "在线 · 私聊" : "离线 · 私聊") : "私聊";
  }
}

export function renderMembers(info, myId, open) {
  $("#members-title").textContent = `成员（${info.members.length}） · ${info.online} 人在线`;
  $("#member-list").replaceChildren(...info.members.map((m) => {
    const node = el("li", { dataset: { uid: m.uid }, className: m.online ? "on" : "" },
      el("img", { className: "avatar", src: m.photo || DEFAULT_AVATAR, alt: "" }),
      el("span", { className: "member-name", textContent: m.username + (m.uid === myId ? "（我）" : "") }),
      el("span", { className: `dot${m.online ? " on" : ""}` }));
    if (m.uid !== myId) node.onclick = () => open({ kind: "user", id: Number(m.uid) });
    return node;
  }));
}
