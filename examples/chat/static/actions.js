/* What the user's taps and keys do: sending, uploads, tabs, phone navigation, rooms,
 * members, loading older history. */

import { post, postForm } from "./api.js";
import {
  addMessage, goBack, loadContacts, loadOlder, loadRooms, logout, showMembers, state,
  openConversation, updateComposer,
} from "./main.js";
import { closeMembers, membersOpened } from "./navigation.js";
import { $, toast, tooBig } from "./view.js";

const TITLES = { rooms: "群聊", contacts: "私聊", me: "我" };

async function sendMessage(msgtype, content) {
  const conv = state.conv;
  if (!conv) return false;
  const target = conv.kind === "room" ? { group_id: conv.id } : { group_id: 0, to_user_id: conv.id };
  try {
    addMessage(await post("/api/send", { action_type: "send_msg", msgtype, content, ...target }));
    return true;  // the push of the same message is then a duplicate, kept once
  } catch (error) {
    toast(error.message);
    return false;
  }
}

async function sendText(event) {
  event?.preventDefault();
  const input = $("#input");
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  if (!(await sendMessage(0, text)) && !input.value) input.value = text;  // keep it to retry
  input.focus();
}

async function sendFile() {
  const input = $("#media-file");
  const file = input.files[0];
  input.value = "";
  if (!file) return;
  if (file.size > state.config.max_upload) {  // the backend would refuse it: not sent
    toast(tooBig(state.config.max_upload));
    return;
  }
  const form = new FormData();
  form.append("file", file);
  try {
    const saved = await postForm("/api/upload", form);
    await sendMessage(saved.msgtype, saved.url);
  } catch (error) {
    toast(error.message);
  }
}

async function renameRoom(event) {
  event.preventDefault();
  const conv = state.conv;
  const name = $("#rename-name").value.trim();
  if (!conv || conv.kind !== "room" || !name) return;
  try {
    await post(`/api/rooms/${conv.id}/rename`, { name });  // told back to us as to everyone
    $("#rename-name").value = "";
  } catch (error) {
    toast(error.message);
  }
}

function showTab(name) {
  for (const tab of document.querySelectorAll(".rail-tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  $("#rooms-pane").hidden = name !== "rooms";
  $("#contacts-pane").hidden = name !== "contacts";
  $("#me-pane").hidden = name !== "me";
  $("#list-title").textContent = TITLES[name];
  if (name === "contacts") loadContacts().catch(() => {});
  if (name === "rooms") loadRooms().catch(() => {});
}

async function leaveRoom() {
  const conv = state.conv;
  if (!conv || conv.kind !== "room") return;
  try {
    await post(`/api/rooms/${conv.id}/leave`);
    await loadRooms();
    toast("已退出房间");
    updateComposer();
  } catch (error) {
    toast(error.message);
  }
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

/* The members sheet is a history step over its room: closing it is going back. */
function toggleMembers(show) {
  if (show && state.conv) membersOpened(state.conv);
  if (show || !closeMembers()) showMembers(show);
}

export function setupActions() {
  $("#composer").onsubmit = sendText;
  $("#input").onkeydown = (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) sendText(event);
  };
  $("#media-file").onchange = sendFile;
  for (const tab of document.querySelectorAll(".rail-tab")) tab.onclick = () => showTab(tab.dataset.tab);
  $("#back").onclick = goBack;
  $("#leave-room").onclick = leaveRoom;
  $("#members-leave").onclick = () => {
    toggleMembers(false);
    leaveRoom();
  };
  $("#join-room").onclick = async () => {
    const conv = state.conv;
    if (!conv) return;
    try {
      await post(`/api/rooms/${conv.id}/join`);
      await loadRooms();
    } catch (error) {
      toast(error.message);
    }
  };
  $("#members-toggle").onclick = () => toggleMembers($("#members").hidden);
  $("#members-close").onclick = () => toggleMembers(false);
  $("#new-room").onsubmit = createRoom;
  $("#rename-room").onsubmit = renameRoom;
  $("#logout").onclick = () => logout();
  $("#logout-me").onclick = () => logout();
  const list = $("#messages");
  list.addEventListener("scroll", () => { if (list.scrollTop < 60) loadOlder(); }, { passive: true });
  list.addEventListener("click", (event) => {
    if (event.target.closest(".history-more")) loadOlder();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("#members").hidden) toggleMembers(false);
  });
}
