/* Unread counts that last: the server keeps how far the user has read each conversation
 * (POST /api/read); the lists and the `read` frames (pushed to every page of the user)
 * carry readings {read, unread, latest}; the badges are unreadOf(reading, log).
 *
 * A conversation the page shows, while the page is visible, is read up to its newest
 * message: at once here (the badge goes), then on the server, one request at a time
 * per conversation, the last one carrying the newest id. A request that fails for a
 * passing reason (the network, a 5xx, a 429) is tried again, three times at most, 1, 2
 * and 4 s later (or when Retry-After says), so the user's other pages lose the badge
 * too; a refusal (a room left meanwhile) is not. */

import { post } from "./api.js";
import { isFurther, roomKey, unreadOf, userKey } from "./conversations.js";
import { isJoined, myId, state } from "./main.js";

const sending = new Map();  // key -> {busy, want}: the newest id to tell the server

const visible = () => document.visibilityState === "visible";

/* A reading from the server (a list, a read frame), kept if it is as far on. */
export function setReading(key, reading) {
  const next = { read: reading.read, unread: reading.unread, latest: reading.latest };
  if (isFurther(next, state.reads.get(key))) state.reads.set(key, next);
}

/* The key of a read frame's conversation. */
export const keyOfRead = (frame) => (frame.to_user_id ? userKey(frame.to_user_id) : roomKey(frame.group_id));

/* Every conversation's unread count, for the lists, the tabs and the title. */
export function unreadCounts() {
  const keys = new Set([
    ...state.rooms.filter((r) => r.joined).map((r) => roomKey(r.id)),
    ...state.contacts.map((u) => userKey(u.id)),
    ...[...state.logs.keys()].filter((key) => key[0] === "u"),
  ]);
  const counts = {};
  for (const key of keys) {
    const n = unreadOf(state.reads.get(key), state.logs.get(key), myId());
    if (n) counts[key] = n;
  }
  return counts;
}

const RETRIES = 3;
const passing = (error) => error.status === 0 || error.status === 429 || error.status >= 500;
const later = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function tell(key, conv) {
  const job = sending.get(key);
  job.busy = true;
  try {
    for (let sent = 0, failed = 0; sent !== job.want;) {
      sent = job.want;
      const target = conv.kind === "room" ? { group_id: conv.id } : { to_user_id: conv.id };
      try {
        setReading(key, await post("/api/read", { ...target, msg_id: sent }));
        failed = 0;
      } catch (error) {
        if (!passing(error) || failed === RETRIES) return;  // the next read tells it
        await later(error.retryAfter || 2 ** failed);
        failed += 1;
        sent = 0;  // again, with the newest id by then
      }
    }
  } finally {
    job.busy = false;
  }
}

/* The user sees conversation `conv` (key `key`): read up to its newest message. */
export function markRead(conv, key) {
  if (!visible() || (conv.kind === "room" && !isJoined(conv.id))) return false;
  const newest = state.logs.get(key)?.newestId();
  const current = state.reads.get(key);
  if (!newest || (current && current.read >= newest)) return false;
  state.reads.set(key, { read: newest, unread: 0, latest: newest });
  const job = sending.get(key) || { busy: false, want: 0 };
  job.want = Math.max(job.want, newest);
  sending.set(key, job);
  if (!job.busy) tell(key, conv);
  return true;
}
