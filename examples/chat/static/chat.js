/* The chat page.
 *
 * HTTP (the web backend, design document 000): login, rooms, history, uploads, and
 * POST /api/send for every message, to which the backend adds our nickname and avatar.
 * WebSocket (the gateway, design document 001): "join" mode 1 binds our uid (private
 * messages reach us), then "join" mode 2 puts us in the room's group (room messages
 * reach us). The protocol has no "leave": changing room reconnects, and the worker
 * tells the old room we left. A dropped connection is retried with backoff.
 */
"use strict";
(() => {
  const $ = (selector) => document.querySelector(selector);
  const DEFAULT_AVATAR = "/static/avatars/default.svg";
  const state = {
    config: null, me: null, rooms: [], contacts: [],
    room: null,          // the room whose group our connection joins
    conv: null,          // the conversation shown: {kind: "room" | "user", id}
    logs: {},            // conversation key -> [message]
    unread: {},          // conversation key -> count
    ws: null, attempts: 0, timer: null, connects: 0, online: false,
  };
  window.__chat = state;  // for debugging and the browser test

  // -- HTTP -------------------------------------------------------------------------
  async function api(path, options = {}) {
    const response = await fetch(path, { credentials: "same-origin", ...options });
    let body;
    try { body = await response.json(); } catch { body = { code: response.status, msg: response.statusText }; }
    if (body.code !== 0) {
      const error = new Error(body.msg || `HTTP ${response.status}`);
      error.code = body.code;
      throw error;
    }
    return body.data;
  }
  const post = (path, data) => api(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
  });

  // -- small helpers -------------------------------------------------------------------
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }
  function toast(text) {
    const box = $("#toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 3000);
  }
  function when(seconds) {
    const date = new Date(seconds * 1000);
    const hm = date.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false });
    const today = new Date().toDateString() === date.toDateString();
    return today ? hm : `${date.getMonth() + 1}月${date.getDate()}日 ${hm}`;
  }
  const keyOf = (conv) => conv && `${conv.kind === "room" ? "r" : "u"}${conv.id}`;
  const myId = () => String(state.me.id);

  // -- login ---------------------------------------------------------------------------
  let chosenAvatar = null;
  function renderAvatarChoices() {
    const box = $("#avatar-choices");
    box.replaceChildren();
    chosenAvatar = state.config.avatars[0];
    for (const url of state.config.avatars) {
      const button = el("button", { type: "button", role: "radio", dataset: { avatar: url } },
        el("img", { src: url, alt: "" }));
      button.setAttribute("aria-checked", String(url === chosenAvatar));
      button.onclick = () => {
        chosenAvatar = url;
        for (const b of box.children) b.setAttribute("aria-checked", String(b === button));
      };
      box.append(button);
    }
  }
  async function login(event) {
    event.preventDefault();
    const nickname = $("#nickname").value.trim();
    const file = $("#avatar-file").files[0];
    $("#login-button").disabled = true;
    $("#login-error").textContent = "";
    try {
      if (file) {
        const form = new FormData();
        form.append("nickname", nickname);
        form.append("avatar_file", file);
        state.me = await api("/api/login", { method: "POST", body: form });
      } else {
        state.me = await post("/api/login", { nickname, avatar: chosenAvatar });
      }
      startApp();
    } catch (error) {
      $("#login-error").textContent = error.message;
    } finally {
      $("#login-button").disabled = false;
    }
  }
  async function logout() {
    await post("/api/logout", {}).catch(() => {});
    const ws = state.ws;
    Object.assign(state, { me: null, ws: null, room: null, conv: null, logs: {}, unread: {} });
    clearTimeout(state.timer);
    if (ws) ws.close(1000);
    $("#app").hidden = true;
    $("#login").hidden = false;
  }

  // -- WebSocket (gateway) -----------------------------------------------------------------
  function joinFrame(mode, groupId) {
    return {
      event: "join", mode, group_id: groupId, from_user_id: myId(),
      from_username: state.me.nickname, to_user_id: "", content: "加入会话",
      from_avatar: state.me.avatar,
    };
  }
  function setConn(kind, text) {
    const conn = $("#conn");
    conn.dataset.state = kind;
    conn.textContent = text;
  }
  function connect() {
    clearTimeout(state.timer);
    const ws = new WebSocket(state.config.ws_url);
    state.ws = ws;
    state.online = false;
    setConn("connecting", "连接中…");
    ws.onopen = () => {
      state.attempts = 0;
      state.connects += 1;
      ws.send(JSON.stringify(joinFrame(1, 0)));
    };
    ws.onmessage = (event) => onFrame(ws, event.data);
    ws.onclose = () => {
      if (state.ws !== ws || !state.me) return;  // replaced on purpose, or logged out
      state.ws = null;
      state.online = false;
      const delay = Math.min(30000, 500 * 2 ** state.attempts) * (0.8 + Math.random() * 0.4);
      state.attempts += 1;
      setConn("offline", `已断开，${Math.ceil(delay / 1000)} 秒后重连`);
      state.timer = setTimeout(connect, delay);
    };
  }
  function reconnectNow() {
    const old = state.ws;
    state.ws = null;
    if (old) old.close(1000);
    connect();
  }
  function onFrame(ws, text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    if (frame.action_type === "new_msg") return addMessage(frame);
    if (frame.action_type === "new_user_login") {
      notice(`r${frame.group_id}`, `${frame.username} 进入了房间`);
      refreshRoom();
      return;
    }
    const data = frame.data || {};
    if (frame.code === 0 && data.event === "join") return onJoined(ws, data);
    if (frame.code === 0 && frame.msg === "close" && data.event === "leave") {
      notice(`r${data.group_id}`, `${data.from_username || "有人"} 离开了房间`);
      refreshRoom();
      return;
    }
    if (frame.code === 0 && data.event === "speak") return addMessage(fromProtocol(data));
    if (frame.code !== 0) toast(`${frame.code}: ${frame.msg}`);
  }
  function onJoined(ws, data) {
    if (ws !== state.ws) return;  // an acknowledgement on a connection we replaced
    if (data.mode === 1 && state.room) {
      ws.send(JSON.stringify(joinFrame(2, state.room)));
      return;
    }
    state.online = true;
    setConn("online", "在线");
    if (data.mode === 2) {  // entered (or, after a drop, re-entered): tell the room
      post("/api/send", { action_type: "login", group_id: state.room, content: "", msgtype: 0 })
        .catch((error) => toast(error.message));
    }
    refreshRoom();
  }
  function fromProtocol(data) {  // a "speak" from a client using the document's raw protocol
    const privateTo = Number(data.mode) === 1 ? String(data.to_user_id) : null;
    return {
      action_type: "new_msg", msgtype: 0, uid: String(data.from_user_id), username: data.from_username,
      photo: data.from_avatar || DEFAULT_AVATAR, content: String(data.content),
      group_id: privateTo ? 0 : Number(data.group_id), to_user_id: privateTo,
      msg_id: null, time: Date.now() / 1000,
    };
  }

  // -- conversations ---------------------------------------------------------------------
  function conversationOf(message) {
    if (message.to_user_id) {
      const other = message.uid === myId() ? message.to_user_id : message.uid;
      return `u${other}`;
    }
    return `r${message.group_id}`;
  }
  function addMessage(message) {
    const key = conversationOf(message);
    const log = (state.logs[key] ||= []);
    if (message.msg_id != null && log.some((m) => m.msg_id === message.msg_id)) return;
    log.push(message);
    if (key === keyOf(state.conv)) {
      appendMessage(message);
    } else if (message.uid !== myId()) {
      state.unread[key] = (state.unread[key] || 0) + 1;
      if (key[0] === "u" && !state.contacts.some((u) => `u${u.id}` === key)) loadContacts();
      renderLists();
    }
  }
  function notice(key, text) {
    const log = (state.logs[key] ||= []);
    const item = { notice: text, time: Date.now() / 1000 };
    log.push(item);
    if (key === keyOf(state.conv)) appendMessage(item);
  }
  function appendMessage(message) {
    const list = $("#messages");
    list.querySelector(".empty")?.remove();
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.append(renderMessage(message));
    if (nearBottom || message.uid === myId()) list.scrollTop = list.scrollHeight;
  }
  function renderMessage(message) {
    if (message.notice) return el("li", { className: "notice" }, el("span", {}, message.notice));
    const mine = message.uid === myId();
    let bubble;
    const type = Number(message.msgtype);
    if (type === 1) {
      const img = el("img", { className: "pic", src: message.content, alt: "图片", loading: "lazy" });
      img.onclick = () => window.open(message.content, "_blank", "noopener");
      bubble = el("div", { className: "bubble media" }, img);
    } else if (type === 2) {
      bubble = el("div", { className: "bubble media" }, el("video", { src: message.content, controls: true, preload: "metadata" }));
    } else if (type === 3) {
      bubble = el("div", { className: "bubble media" }, el("audio", { src: message.content, controls: true, preload: "none" }));
    } else {
      bubble = el("div", { className: "bubble", textContent: message.content });
    }
    return el("li", { className: `msg${mine ? " mine" : ""}`, dataset: { msgId: message.msg_id ?? "", uid: message.uid } },
      el("img", { className: "avatar", src: message.photo || DEFAULT_AVATAR, alt: message.username }),
      el("div", { className: "body" },
        el("div", { className: "meta" }, el("span", { className: "name", textContent: message.username }),
          el("time", { textContent: when(message.time) })),
        bubble));
  }
  async function openConversation(conv) {
    state.conv = conv;
    const key = keyOf(conv);
    delete state.unread[key];
    const inRoom = conv.kind === "room";
    if (inRoom && state.room !== conv.id) {
      state.room = conv.id;
      reconnectNow();
    }
    $("#composer").hidden = false;
    $("#leave-room").hidden = !inRoom;
    $("#members-toggle").hidden = !inRoom;
    if (!inRoom) $("#members").hidden = true;
    renderHeader();
    renderLists();
    const list = $("#messages");
    list.replaceChildren(el("li", { className: "empty", textContent: "加载中…" }));
    try {
      const path = inRoom ? `/api/rooms/${conv.id}/messages` : `/api/private/${conv.id}/messages`;
      const history = await api(path);
      if (keyOf(state.conv) !== key) return;
      const pushed = state.logs[key] || [];
      const seen = new Set(history.map((m) => m.msg_id));
      const merged = [...history, ...pushed.filter((m) => m.msg_id == null || !seen.has(m.msg_id))];
      state.logs[key] = merged.sort((a, b) => a.time - b.time);  // stable: ties keep their order
      list.replaceChildren(...state.logs[key].map(renderMessage));
      if (!state.logs[key].length) list.append(el("li", { className: "empty", textContent: "还没有消息，打个招呼吧" }));
      list.scrollTop = list.scrollHeight;
    } catch (error) {
      toast(error.message);
    }
    if (inRoom) refreshRoom();
  }
  function leaveRoom() {
    state.room = null;
    state.conv = null;
    reconnectNow();  // a connection without the group: the worker tells the room we left
    $("#composer").hidden = true;
    $("#leave-room").hidden = true;
    $("#members-toggle").hidden = true;
    $("#members").hidden = true;
    $("#messages").replaceChildren(el("li", { className: "empty", textContent: "你已离开房间" }));
    renderHeader();
    renderLists();
  }

  // -- sending ---------------------------------------------------------------------------
  function target() {
    const conv = state.conv;
    return conv.kind === "room" ? { group_id: conv.id } : { group_id: 0, to_user_id: conv.id };
  }
  async function sendMessage(msgtype, content) {
    if (!state.conv) return;
    try {
      const frame = await post("/api/send", { action_type: "send_msg", msgtype, content, ...target() });
      addMessage(frame);  // also pushed to us; kept once (by msg_id)
    } catch (error) {
      toast(error.message);
    }
  }
  async function sendText(event) {
    event?.preventDefault();
    const input = $("#input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    await sendMessage(0, text);
    input.focus();
  }
  async function sendFile() {
    const input = $("#media-file");
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    try {
      const saved = await api("/api/upload", { method: "POST", body: form });
      await sendMessage(saved.msgtype, saved.url);
    } catch (error) {
      toast(error.message);
    }
  }
  function sendImageUrl() {
    const url = window.prompt("图片链接（http:// 或 https://）");
    if (url) sendMessage(1, url.trim());
  }

  // -- lists -------------------------------------------------------------------------------
  async function loadRooms() {
    state.rooms = await api("/api/rooms");
    renderLists();
    renderHeader();
  }
  async function loadContacts() {
    state.contacts = await api("/api/users");
    renderLists();
  }
  let roomRefresh = null;
  function refreshRoom() {  // counts and members change on join/leave: ask, at most every 300 ms
    if (roomRefresh) return;
    roomRefresh = setTimeout(async () => {
      roomRefresh = null;
      await Promise.all([loadRooms(), loadMembers(), loadContacts()]).catch(() => {});
    }, 300);
  }
  async function loadMembers() {
    const conv = state.conv;
    if (!conv || conv.kind !== "room") return;
    const info = await api(`/api/rooms/${conv.id}/members`);
    const list = $("#member-list");
    list.replaceChildren(...info.members.map((m) => {
      const item = el("li", { dataset: { uid: m.uid } },
        el("img", { className: "avatar", src: m.photo || DEFAULT_AVATAR, alt: "" }),
        el("span", { textContent: m.username }));
      item.onclick = () => {
        if (m.uid !== myId() && state.contacts.some((u) => String(u.id) === m.uid)) {
          openConversation({ kind: "user", id: Number(m.uid) });
        }
      };
      return item;
    }));
  }
  function renderHeader() {
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
  function badge(key) {
    const n = state.unread[key];
    return n ? el("span", { className: "badge", textContent: n > 99 ? "99+" : String(n) }) : null;
  }
  function renderLists() {
    const current = keyOf(state.conv);
    $("#rooms").replaceChildren(...state.rooms.map((room) => {
      const key = `r${room.id}`;
      const item = el("li", { className: key === current ? "active" : "", dataset: { room: room.id } },
        el("span", { className: "room-icon", textContent: room.name.slice(0, 1) }),
        el("div", { className: "item-text" },
          el("div", { className: "item-name", textContent: room.name }),
          el("div", { className: "item-sub" },
            el("span", { className: "count", textContent: room.online == null ? "在线人数未知" : `${room.online} 人在线` }),
            state.room === room.id ? " · 已加入" : "")),
        badge(key));
      item.onclick = () => openConversation({ kind: "room", id: room.id });
      return item;
    }));
    $("#contacts").replaceChildren(...state.contacts.map((user) => {
      const key = `u${user.id}`;
      const item = el("li", { className: key === current ? "active" : "", dataset: { uid: user.id } },
        el("img", { className: "avatar", src: user.avatar || DEFAULT_AVATAR, alt: "" }),
        el("div", { className: "item-text" },
          el("div", { className: "item-name", textContent: user.nickname }),
          el("div", { className: "item-sub" }, el("span", { className: `dot${user.online ? " on" : ""}` }),
            user.online ? "在线" : "离线")),
        badge(key));
      item.onclick = () => openConversation({ kind: "user", id: user.id });
      return item;
    }));
    const privateUnread = Object.entries(state.unread).filter(([k]) => k[0] === "u").reduce((a, [, n]) => a + n, 0);
    const contactsBadge = $("#contacts-badge");
    contactsBadge.hidden = !privateUnread;
    contactsBadge.textContent = String(privateUnread);
  }
  function showTab(name) {
    for (const tab of document.querySelectorAll(".rail-tab")) tab.classList.toggle("active", tab.dataset.tab === name);
    $("#rooms-pane").hidden = name !== "rooms";
    $("#contacts-pane").hidden = name !== "contacts";
    if (name === "contacts") loadContacts().catch(() => {});
  }
  async function createRoom(event) {
    event.preventDefault();
    const name = $("#new-room-name").value.trim();
    if (!name) return;
    try {
      const room = await post("/api/rooms", { name });
      $("#new-room-name").value = "";
      await loadRooms();
      openConversation({ kind: "room", id: room.id });
    } catch (error) {
      toast(error.message);
    }
  }

  // -- start -------------------------------------------------------------------------------
  async function startApp() {
    $("#login").hidden = true;
    $("#app").hidden = false;
    $("#me-avatar").src = state.me.avatar || DEFAULT_AVATAR;
    $("#me-name").textContent = state.me.nickname;
    await Promise.all([loadRooms(), loadContacts()]).catch((error) => toast(error.message));
    const wanted = state.rooms.find((r) => r.id === state.config.default_room) || state.rooms[0];
    if (wanted && !state.conv) openConversation({ kind: "room", id: wanted.id });  // connects
    else connect();
  }
  async function boot() {
    state.config = await api("/api/config");
    renderAvatarChoices();
    $("#login-form").onsubmit = login;
    $("#logout").onclick = logout;
    $("#composer").onsubmit = sendText;
    $("#input").onkeydown = (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) sendText(event);
    };
    $("#media-file").onchange = sendFile;
    $("#media-url").onclick = sendImageUrl;
    $("#leave-room").onclick = leaveRoom;
    $("#members-toggle").onclick = () => { $("#members").hidden = !$("#members").hidden; loadMembers().catch(() => {}); };
    $("#new-room").onsubmit = createRoom;
    for (const tab of document.querySelectorAll(".rail-tab")) tab.onclick = () => showTab(tab.dataset.tab);
    setInterval(() => { if (state.me) refreshRoom(); }, 15000);
    try {
      state.me = await api("/api/me");
    } catch {
      $("#login").hidden = false;
      return;
    }
    startApp();
  }
  boot().catch((error) => toast(`启动失败：${error.message}`));
})();
