/* How a conversation reads, as data: no DOM, no network (the browser tests call these
 * functions directly; view.js draws what they say).
 *
 * - Day separators: a row "今天", "昨天", "星期三", "3月5日" or "2023年12月9日" before the
 *   first item of each day (the viewer's local days).
 * - Groups: a message that follows one of the same sender within GAP seconds, on the
 *   same day, with nothing between them (no notice), continues its group: it is drawn
 *   without the avatar and the name, which the group's first message carries.
 * - Links: http and https URLs in a text, cut out as {href, text} parts; nothing else
 *   is ever a link (no javascript:, no data:, no other scheme). The caller makes the
 *   parts text nodes and <a> elements, never HTML.
 */

export const GAP = 5 * 60;  // seconds of silence that start a new group

const pad = (n) => String(n).padStart(2, "0");
const dateOf = (seconds) => new Date(seconds * 1000);

/* The local day of a time in seconds, "2024-03-05". */
export function dayKey(seconds) {
  const d = dateOf(seconds);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

const WEEKDAYS = ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"];

/* What a day separator says of the day of `seconds`, seen at `now` (seconds). */
export function dayLabel(seconds, now = Date.now() / 1000) {
  const day = dateOf(seconds);
  const today = dateOf(now);
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const daysAgo = Math.round((midnight(today) - midnight(day)) / 86400000);
  if (daysAgo === 0) return "今天";
  if (daysAgo === 1) return "昨天";
  if (daysAgo > 1 && daysAgo < 7) return WEEKDAYS[day.getDay()];
  const monthDay = `${day.getMonth() + 1}月${day.getDate()}日`;
  return day.getFullYear() === today.getFullYear() ? monthDay : `${day.getFullYear()}年${monthDay}`;
}

/* Where `item` goes after `prev` (the item before it, or none): after a day separator
 * (`day`), and whether it continues prev's group (`continued`). */
export function placeOf(prev, item) {
  const day = !prev || dayKey(prev.time) !== dayKey(item.time);
  const continued = !day && prev.msg_id != null && item.msg_id != null
    && String(prev.uid) === String(item.uid) && Math.abs(item.time - prev.time) < GAP;
  return { day, continued };
}

/* The rows of a conversation: {day: label} before each day's first item, then
 * {item, continued} for each message or notice. */
export function rowsOf(items, now = Date.now() / 1000) {
  const rows = [];
  items.forEach((item, index) => {
    const place = placeOf(items[index - 1], item);
    if (place.day) rows.push({ day: dayLabel(item.time, now) });
    rows.push({ item, continued: place.continued });
  });
  return rows;
}

// A URL runs to the first space, quote, angle bracket or character outside ASCII
// (Chinese text often follows a link without a space); trailing punctuation is the
// sentence's, a closing bracket only if the URL opened none.
const URL_RE = /https?:\/\/[!#-;=?-~]+/gi;
const TRAILING = /[.,;:!?'*]+$/;

function trim(candidate) {
  let url = candidate.replace(TRAILING, "");
  for (const [open, close] of [["(", ")"], ["[", "]"]]) {
    while (url.endsWith(close) && url.split(open).length < url.split(close).length) {
      url = url.slice(0, -1).replace(TRAILING, "");
    }
  }
  return url;
}

/* The http(s) URL `text` is, normalised, or null. */
export function safeHref(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname ? url.href : null;
}

/* A message's text as parts: {text} and {href, text} (a link shows its own text). */
export function linkParts(text) {
  const parts = [];
  let at = 0;
  for (const found of text.matchAll(URL_RE)) {
    const candidate = trim(found[0]);
    const href = safeHref(candidate);
    if (!href) continue;
    if (found.index > at) parts.push({ text: text.slice(at, found.index) });
    parts.push({ href, text: candidate });
    at = found.index + candidate.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}
