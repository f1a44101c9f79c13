"""Read positions and unread counts in SQLite: per user, the last message read of each
room and private conversation.

A conversation is a room (``room_id``, ``peer_id`` 0) or a private one (``room_id`` 0,
``peer_id`` the other person). Its unread count is the number of messages of *others*
after the user's position, so a page's badges survive a reload, count what came while
no page was open, and clear on every page of the user when one of them reads
(:mod:`examples.chat.web.conversations` pushes the new position to the user's uid).

- A position only moves forward, and never past the conversation's latest message: a
  page cannot mark as read what does not exist yet.
- Joining a room starts its position at the room's latest message: the history from
  before is there to read, not news.
- A private conversation without a position counts every message of the other person:
  a first message, sent while no page of yours was open, is a badge.
- Counts stop at :data:`MAX_COUNTED` (a badge shows 99+ anyway), so a room left unread
  for long costs a bounded scan.

Every answer is a :class:`~examples.chat.web.models.Reading` (read, unread, latest) taken in
one call on the store's thread; a page adds the messages of others it gets with ids
above ``latest`` (they came after the count).

:class:`ReadStore` is a part of :class:`examples.chat.web.db.Store` (same connection, same
thread), kept apart as messages are (:mod:`examples.chat.web.history`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .models import Reading

MAX_COUNTED = 1000

_UPSERT = """
INSERT INTO read_positions (user_id, room_id, peer_id, last_read) VALUES (?, ?, ?, ?)
ON CONFLICT (user_id, room_id, peer_id) DO UPDATE SET last_read = MAX(last_read, excluded.last_read)
"""


class ReadStore:
    """Read positions; the host class provides the connection."""

    _db: sqlite3.Connection

    def _position(self, user_id: int, room_id: int, peer_id: int) -> int:
        row = self._db.execute(
            "SELECT last_read FROM read_positions WHERE user_id = ? AND room_id = ?"
            " AND peer_id = ?",
            (user_id, room_id, peer_id),
        ).fetchone()
        return int(row[0]) if row else 0

    def _scalar(self, sql: str, args: tuple[object, ...]) -> int:
        return int(self._db.execute(sql, args).fetchone()[0] or 0)

    def _latest_in_room(self, room_id: int) -> int:
        return self._scalar(
            "SELECT MAX(id) FROM messages WHERE room_id = ? AND to_uid IS NULL", (room_id,)
        )

    def _latest_private(self, a: int, b: int) -> int:
        return self._scalar(
            "SELECT MAX(id) FROM messages WHERE room_id = 0 AND ((from_uid = ? AND to_uid = ?)"
            " OR (from_uid = ? AND to_uid = ?))",
            (a, b, b, a),
        )

    def room_reading(self, user_id: int, room_id: int) -> Reading:
        read = self._position(user_id, room_id, 0)
        unread = self._scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE room_id = ? AND to_uid IS NULL"
            " AND from_uid != ? AND id > ? LIMIT ?)",
            (room_id, user_id, read, MAX_COUNTED),
        )
        return Reading(read, unread, self._latest_in_room(room_id))

    def room_readings(self, user_id: int, room_ids: Iterable[int]) -> dict[int, Reading]:
        return {room_id: self.room_reading(user_id, room_id) for room_id in room_ids}

    def private_reading(self, user_id: int, peer_id: int) -> Reading:
        read = self._position(user_id, 0, peer_id)
        unread = self._scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE room_id = 0 AND from_uid = ?"
            " AND to_uid = ? AND id > ? LIMIT ?)",
            (peer_id, user_id, read, MAX_COUNTED),
        )
        return Reading(read, unread, self._latest_private(user_id, peer_id))

    def private_readings(self, user_id: int) -> dict[int, Reading]:
        """Per person the user has a private conversation (or a position) with."""
        positions = dict(
            self._db.execute(
                "SELECT peer_id, last_read FROM read_positions WHERE user_id = ? AND room_id = 0",
                (user_id,),
            ).fetchall()
        )
        latest = dict(
            self._db.execute(
                "SELECT CASE WHEN from_uid = ? THEN to_uid ELSE from_uid END AS peer, MAX(id)"
                " FROM messages WHERE room_id = 0 AND (from_uid = ? OR to_uid = ?) GROUP BY peer",
                (user_id, user_id, user_id),
            ).fetchall()
        )
        unread = dict(
            self._db.execute(
                "SELECT m.from_uid, COUNT(*) FROM messages m LEFT JOIN read_positions r"
                " ON r.user_id = m.to_uid AND r.room_id = 0 AND r.peer_id = m.from_uid"
                " WHERE m.room_id = 0 AND m.to_uid = ? AND m.from_uid != m.to_uid"
                " AND m.id > COALESCE(r.last_read, 0) GROUP BY m.from_uid",
                (user_id,),
            ).fetchall()
        )
        return {
            peer: Reading(
                positions.get(peer, 0), min(MAX_COUNTED, unread.get(peer, 0)), latest.get(peer, 0)
            )
            for peer in positions.keys() | latest.keys()
        }

    def read_room(self, user_id: int, room_id: int, msg_id: int) -> Reading:
        """The user read the room up to message ``msg_id`` (kept if further than before)."""
        with self._db:
            self._db.execute(
                _UPSERT, (user_id, room_id, 0, min(msg_id, self._latest_in_room(room_id)))
            )
        return self.room_reading(user_id, room_id)

    def read_private(self, user_id: int, peer_id: int, msg_id: int) -> Reading:
        """The user read the conversation with ``peer_id`` up to message ``msg_id``."""
        latest = self._latest_private(user_id, peer_id)
        with self._db:
            self._db.execute(_UPSERT, (user_id, 0, peer_id, min(msg_id, latest)))
        return self.private_reading(user_id, peer_id)

    def _start_reading_room(self, user_id: int, room_id: int) -> None:
        """A new member has read everything so far (call inside the join's transaction)."""
        self._db.execute(_UPSERT, (user_id, room_id, 0, self._latest_in_room(room_id)))
