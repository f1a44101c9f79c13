"""The chat's messages in SQLite: storing, history pages, what a user missed, previews.

Message ids are one increasing sequence for every room and private conversation,
so an id is a cursor: history pages go *before* an id, and what a page missed
while disconnected is everything visible to its user *after* the last id it has
(:meth:`MessageStore.updates`), whatever the clocks say.

:class:`MessageStore` is a part of :class:`examples.chat.web.db.Store` (same
connection, same thread); it is kept apart because messages are a concern of their
own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from .models import Message, User

MAX_PAGE = 200


_SELECT = """
SELECT m.id, m.room_id, m.from_uid, m.to_uid, m.msgtype, m.content, m.created_at,
       u.nickname, u.avatar
FROM messages m JOIN users u ON u.id = m.from_uid
"""
_NO_CURSOR = 2**62


def _page(limit: int) -> int:
    return max(1, min(MAX_PAGE, limit))


class MessageStore:
    """Message queries; the host class provides the connection and the clock."""

    _db: sqlite3.Connection
    _clock: Callable[[], float]

    def add_message(
        self, sender: User, msgtype: int, content: str, room_id: int = 0, to_uid: int | None = None
    ) -> Message:
        """Store a room message (``room_id``) or a private one (``to_uid``)."""
        now = self._clock()
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO messages (room_id, from_uid, to_uid, msgtype, content, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (room_id, sender.id, to_uid, msgtype, content, now),
            )
        return Message(
            int(cursor.lastrowid or 0),
            room_id,
            sender.id,
            to_uid,
            msgtype,
            content,
            now,
            sender.nickname,
            sender.avatar,
        )

    def _newest_first(self, where: str, args: tuple[object, ...], limit: int) -> list[Message]:
        rows = self._db.execute(
            f"{_SELECT} WHERE {where} ORDER BY m.id DESC LIMIT ?", (*args, _page(limit))
        ).fetchall()
        return [Message(*row) for row in reversed(rows)]

    def room_history(
        self, room_id: int, limit: int = 50, before: int | None = None
    ) -> list[Message]:
        """The last ``limit`` messages of a room (before message id ``before``), oldest first."""
        return self._newest_first(
            "m.room_id = ? AND m.to_uid IS NULL AND m.id < ?",
            (room_id, before or _NO_CURSOR),
            limit,
        )

    def private_history(
        self, a: int, b: int, limit: int = 50, before: int | None = None
    ) -> list[Message]:
        """The last ``limit`` private messages between users ``a`` and ``b``, oldest first."""
        return self._newest_first(
            "m.room_id = 0 AND ((m.from_uid = ? AND m.to_uid = ?) OR (m.from_uid = ? AND"
            " m.to_uid = ?)) AND m.id < ?",
            (a, b, b, a, before or _NO_CURSOR),
            limit,
        )

    def updates(self, user_id: int, after: int, limit: int = MAX_PAGE) -> list[Message]:
        """What ``user_id`` may see with an id above ``after``, oldest first: messages of
        the rooms they belong to, and private messages to or from them."""
        rows = self._db.execute(
            f"{_SELECT} WHERE m.id > ? AND ("
            " (m.to_uid IS NULL AND m.room_id IN"
            "   (SELECT room_id FROM memberships WHERE user_id = ?))"
            " OR (m.room_id = 0 AND m.to_uid = ?) OR (m.room_id = 0 AND m.from_uid = ?)"
            ") ORDER BY m.id LIMIT ?",
            (after, user_id, user_id, user_id, _page(limit)),
        ).fetchall()
        return [Message(*row) for row in rows]

    def last_message_id(self) -> int:
        """The highest message id so far (0 when there is none)."""
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])

    def last_in_rooms(self, room_ids: Iterable[int]) -> dict[int, Message]:
        """The latest message of each room (rooms without one are left out)."""
        ids = list(room_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"{_SELECT} WHERE m.id IN (SELECT MAX(id) FROM messages WHERE to_uid IS NULL"
            f" AND room_id IN ({marks}) GROUP BY room_id)",
            ids,
        ).fetchall()
        return {message.room_id: message for message in map(lambda r: Message(*r), rows)}

    def is_first_private(self, message: Message) -> bool:
        """Whether a private message is the first between its two people (each way
        looked up by the pair's index, not by scanning every private message)."""
        a, b, before = message.from_uid, message.to_uid, message.id
        earlier = self._db.execute(
            "SELECT EXISTS(SELECT 1 FROM messages"
            " WHERE from_uid = ? AND to_uid = ? AND id < ? AND room_id = 0)"
            " OR EXISTS(SELECT 1 FROM messages"
            " WHERE from_uid = ? AND to_uid = ? AND id < ? AND room_id = 0)",
            (a, b, before, b, a, before),
        ).fetchone()[0]
        return not earlier

    def contacts_of(self, user_id: int, limit: int) -> list[int]:
        """The people ``user_id`` has a private conversation with, the latest talked to
        first, at most ``limit`` (what they sent, by the pair's index; what they were
        sent, by the recipient's)."""
        rows = self._db.execute(
            "SELECT other FROM ("
            " SELECT to_uid AS other, MAX(id) AS last FROM messages"
            " WHERE from_uid = ? AND room_id = 0 GROUP BY to_uid"
            " UNION ALL"
            " SELECT from_uid, MAX(id) FROM messages"
            " WHERE to_uid = ? AND room_id = 0 GROUP BY from_uid)"
            " WHERE other IS NOT NULL AND other != ? GROUP BY other"
            " ORDER BY MAX(last) DESC LIMIT ?",
            (user_id, user_id, user_id, limit),
        ).fetchall()
        return [row[0] for row in rows]

    def last_private(self, user_id: int) -> dict[int, Message]:
        """The latest private message with each person ``user_id`` has talked to."""
        rows = self._db.execute(
            f"{_SELECT} WHERE m.id IN (SELECT MAX(id) FROM messages WHERE room_id = 0"
            " AND (from_uid = ? OR to_uid = ?)"
            " GROUP BY CASE WHEN from_uid = ? THEN to_uid ELSE from_uid END)",
            (user_id, user_id, user_id),
        ).fetchall()
        found = [Message(*row) for row in rows]
        return {(m.to_uid if m.from_uid == user_id else m.from_uid) or 0: m for m in found}
