/* The live part of the page: what the server pushes (messages, presence, membership,
 * rooms created and renamed, how far we read), and the connection's life (socket.js,
 * over clients/js/gateway-client.js): token -> welcome -> what we missed since our
 * cursor -> "online". Names and avatars shown here come only from frames with an
 * action_type (the backend or the worker built them from verified identities); the
 * document's {code, msg, data} frames carry whatever a client claimed and are never
 * displayed. */

import { api, post } from "./api.js";
import { keyOf, roomKey } from "./conversations.js";
import {
  addMessage, isJoined, loadContacts, loadRooms, logout, myId, refreshSoon, renderLists, state,
  updateComposer,
} from "./main.js";
import { keyOfRead, setReading } from "./reading.js";
import { Link } from "./socket.js";
import { $, appendLast, renderHeader, toast } from "./view.js";

function notice(key, text) {
  const log = state.logs.get(key);
  if (!log || !log.loaded) return;  // notices are of the moment: not kept for unopened rooms
  log.notice(text);
  if (key === keyOf(state.conv)) {
    const list = $("#messages");
    appendLast(list, log, myId());
    list.scrollTop = list.scrollHeight;
  }
}

function onPresence(uid, online, username, groupIds) {
  if (uid === myId()) return;  // never about ourselves
  const was = state.online.has(uid);
  if (online) state.online.add(uid);
  else state.online.delete(uid);
  const contact = state.contacts.find((u) => String(u.id) === uid);
  if (contact) contact.online = online;
  if (was !== online) {
    for (const id of groupIds) {
      if (isJoined(Number(id))) notice(roomKey(id), `${username} ${online ? "进入了房间" : "离开了房间"}`);
    }
  }
  refreshSoon();
}

/* A room was created or renamed (told to every user): the lists change at once. */
function onRoom(frame) {
  const id = Number(frame.group_id);
  const room = state.rooms.find((r) => r.id === id);
  state.roomPushes += 1;  // a room list on its way may predate this (main.js loadRooms)
  if (frame.event === "created" && !room) {
    state.rooms.push({ id, name: frame.name, online: 0, joined: false, members: 0,
      created_by: frame.created_by });
  } else if (frame.event === "renamed" && room && room.name !== frame.name) {
    room.name = frame.name;
    const who = String(frame.uid) === myId() ? "你" : frame.username;
    if (isJoined(id)) notice(roomKey(id), `${who} 把房间名改为“${frame.name}”`);
  }
  renderLists();
  renderHeader(state);
  updateComposer();
}

function onFrame(current, frame) {
  switch (frame.action_type) {
    case "new_msg":
      addMessage(frame);
      state.cursor.pushed(frame, current);
      return;
    case "presence":
      onPresence(String(frame.uid), frame.state === "online", frame.username, frame.group_ids || []);
      return;
    case "new_user_login":  // document 000's login action: someone says they are here
      onPresence(String(frame.uid), true, frame.username, [frame.group_id]);
      return;
    case "room":
      onRoom(frame);
      return;
    case "read":  // this user read a conversation, on this page or another one
      setReading(keyOfRead(frame), frame);
      renderLists();
      return;
    case "room_member":
      if (String(frame.uid) === myId()) loadRooms().catch(() => {});  // another tab of ours
      else notice(roomKey(frame.group_id), `${frame.username} ${frame.event === "join" ? "加入了房间" : "退出了房间"}`);
      refreshSoon();
      return;
    default:
      // The document's {code, msg, data} replies: only refusals of our own frames matter
      // (403 is said in Chinese; a 500 carries the cluster's words, not shown).
      if (frame.code === 403) toast(frame.msg);
      else if (frame.code === 500) toast("服务器处理消息出错（500）");
  }
}

function setConn(kind, text) {
  const conn = $("#conn");
  conn.dataset.state = kind;
  conn.textContent = text;
}

/* Everything we may see with an id after the cursor, page by page. */
async function sync(current) {
  for (;;) {
    const after = state.cursor.value;
    const reply = await api(after == null ? "/api/updates" : `/api/updates?after=${after}&limit=200`);
    if (current !== state.link.current) return false;
    for (const message of reply.messages) if (addMessage(message)) state.recovered += 1;
    state.cursor.synced(reply, current, !reply.more);
    if (!reply.more) return true;
  }
}

let staleWelcomes = 0;  // welcomes in a row that missed a room we belong to

async function onWelcome(current, frame) {
  try {
    await loadRooms();
    if (current !== state.link.current) return;
    // A room joined after the token was issued is not among the welcome's groups, and
    // only the server puts a connection in a room's group: come back with a fresh
    // token (a few times at most: the two lists come from the same table).
    const missing = state.rooms.some((room) => room.joined && !frame.group_ids.includes(room.id));
    if (missing && staleWelcomes < 3) {
      staleWelcomes += 1;
      state.link.reconnectNow();
      return;
    }
    staleWelcomes = 0;
    if (!(await sync(current))) return;
    await loadContacts(true);
  } catch (error) {
    if (current !== state.link.current) return;
    toast(`同步失败：${error.message}`);
    setTimeout(() => { if (current === state.link.current) onWelcome(current, frame); }, 2000);
    return;
  }
  if (current === state.link.current) setConn("online", "在线");
}

export function startLink() {
  state.link = new Link(state.config.ws_url, {
    token: () => post("/api/token"),
    joinFrame: () => ({ event: "join", mode: 1, group_id: 0, from_user_id: myId(),
      from_username: state.me.nickname, to_user_id: "", content: "加入会话", from_avatar: state.me.avatar }),
    onWelcome, onFrame,
    onLost: () => state.cursor.lost(),
    onState: setConn,
    onLoggedOut: () => logout(false),
  });
  state.link.start();
}
