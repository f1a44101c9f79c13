/* The page's conversations as data: no DOM, no network (the browser tests call these
 * functions directly).
 *
 * A conversation is a room ("r100") or a private chat with one person ("u7"). Its Log
 * keeps messages in message-id order (ids are one sequence for the whole server, so
 * the order is the server's), once each, with notices ("X 进入了房间") where they
 * happened. History pages are merged in from either end.
 *
 * A conversation's unread count is the server's (a reading {read, unread, latest}: the
 * position, how many messages of others came after it, the latest message id then),
 * plus the messages of others the page got after `latest` (unreadOf).
 *
 * The Cursor is how a page that was disconnected finds what it missed: the id up to
 * which it has everything it may see. It moves with /api/updates replies, and with
 * pushed messages once the current connection has synced (the server pushes in id
 * order, so a pushed id on a synced connection means nothing before it is missing).
 */

export const roomKey = (id) => `r${id}`;
export const userKey = (id) => `u${id}`;
export const keyOf = (conv) => (conv ? (conv.kind === "room" ? roomKey(conv.id) : userKey(conv.id)) : null);

/* The conversation a new_msg frame belongs to, as seen by user myId (a string). */
export function conversationOf(message, myId) {
  if (message.to_user_id) {
    return userKey(String(message.uid) === myId ? message.to_user_id : message.uid);
  }
  return roomKey(message.group_id);
}

export function isNewer(a, b) {
  return !b || (a && a.msg_id > b.msg_id);
}

/* The text of a message in a list's one-line preview. */
export function preview(message) {
  if (!message) return "";
  const type = Number(message.msgtype);
  const body = type === 1 ? "[图片]" : type === 2 ? "[视频]" : type === 3 ? "[语音]" : message.content;
  return body.replace(/\s+/g, " ");
}

const NOTHING_READ = { read: 0, unread: 0, latest: 0 };

/* How many messages of others are unread in a conversation: the server's count up to
 * its reading's `latest`, and those of the log after it (a log is in id order). */
export function unreadOf(reading, log, myId) {
  const base = reading || NOTHING_READ;
  const after = Math.max(base.read, base.latest);
  let count = base.unread;
  const items = log ? log.items : [];
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const item = items[i];
    if (item.msg_id == null) continue;
    if (item.msg_id <= after) break;
    if (String(item.uid) !== myId) count += 1;
  }
  return count;
}

/* Whether a reading from the server is as far on as the one the page has: a later one
 * never has a smaller `read` or `latest`, so one that arrives late is dropped. */
export function isFurther(next, current) {
  return !current || (next.read >= current.read && next.latest >= current.latest);
}

const order = (item) => (item.msg_id != null ? item.msg_id : item.after + 0.5);

export class Log {
  constructor() {
    this.items = [];       // messages (with msg_id) and notices ({notice, time})
    this.ids = new Set();
    this.loaded = false;   // the latest history page has been merged
    this.complete = false; // the first message of the conversation is in items
  }

  get messages() {
    return this.items.filter((item) => item.msg_id != null);
  }

  oldestId() {
    const first = this.items.find((item) => item.msg_id != null);
    return first ? first.msg_id : null;
  }

  newestId() {
    for (let i = this.items.length - 1; i >= 0; i -= 1) {
      if (this.items[i].msg_id != null) return this.items[i].msg_id;
    }
    return null;
  }

  /* Insert a message at its place by id; returns its index, or -1 if it was there.
   * A notice sits just after the newest message it followed when it was added. */
  add(message) {
    if (message.msg_id == null || this.ids.has(message.msg_id)) return -1;
    this.ids.add(message.msg_id);
    let index = this.items.length;
    while (index > 0 && order(this.items[index - 1]) > message.msg_id) index -= 1;
    this.items.splice(index, 0, message);
    return index;
  }

  /* Merge a page of history (oldest first); returns how many were new. */
  merge(page) {
    let added = 0;
    for (const message of page) if (this.add(message) >= 0) added += 1;
    return added;
  }

  notice(text, time = Date.now() / 1000) {
    this.items.push({ notice: text, time, after: this.newestId() ?? 0 });
  }
}

export class Cursor {
  constructor() {
    this.value = null;     // null until the first /api/updates reply
    this.syncedWith = null; // the connection whose pushes may move it
  }

  /* After an /api/updates reply for the connection `link`. */
  synced(reply, link, done) {
    this.value = Math.max(this.value ?? 0, reply.cursor);
    if (done) this.syncedWith = link;
  }

  /* A new_msg pushed on connection `link`. */
  pushed(message, link) {
    if (link === this.syncedWith && message.msg_id > (this.value ?? 0)) this.value = message.msg_id;
  }

  /* The connection went away: its pushes no longer say anything. */
  lost() {
    this.syncedWith = null;
  }
}
