"""SQLite storage of the chat: users, login sessions, rooms and messages.

:class:`Store` is synchronous and owns one connection. :class:`AsyncStore` runs
every call of a Store on one dedicated thread (a single-worker executor), so the
event loop never blocks on SQLite and the connection is only ever used by the
thread that created it; calls are serialized, which SQLite wants anyway.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_ROOMS = ((100, "开源技术小栈"), (101, "Python 交流"), (102, "闲聊灌水"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nickname TEXT NOT NULL UNIQUE COLLATE NOCASE,
    avatar TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL,            -- 0 for a private message
    from_uid INTEGER NOT NULL REFERENCES users(id),
    to_uid INTEGER,                       -- the recipient of a private message
    msgtype INTEGER NOT NULL,             -- 0 text, 1 image, 2 video, 3 voice
    content TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room ON messages (room_id, id);
CREATE INDEX IF NOT EXISTS messages_pair ON messages (from_uid, to_uid, id);
"""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    nickname: str
    avatar: str

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    room_id: int
    from_uid: int
    to_uid: int | None
    msgtype: int
    content: str
    created_at: float
    username: str  # the sender's, joined from users
    photo: str


_MESSAGE_SELECT = """
SELECT m.id, m.room_id, m.from_uid, m.to_uid, m.msgtype, m.content, m.created_at,
       u.nickname, u.avatar
FROM messages m JOIN users u ON u.id = m.from_uid
"""


class Store:
    """The chat's tables in one SQLite file (created, with the default rooms, if new)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._db:
            self._db.executescript(SCHEMA)
            self._db.executemany(
                "INSERT OR IGNORE INTO rooms (id, name, created_at) VALUES (?, ?, ?)",
                [(rid, name, self._clock()) for rid, name in DEFAULT_ROOMS],
            )

    def close(self) -> None:
        self._db.close()

    # -- users and login sessions ----------------------------------------------------
    def login(self, nickname: str, avatar: str | None) -> tuple[User, str]:
        """Find or create the user called ``nickname``; a new session token for it.

        An existing user keeps its avatar unless ``avatar`` is given.
        """
        with self._db:
            row = self._db.execute(
                "SELECT id, nickname, avatar FROM users WHERE nickname = ?", (nickname,)
            ).fetchone()
            if row is None:
                cursor = self._db.execute(
                    "INSERT INTO users (nickname, avatar, created_at) VALUES (?, ?, ?)",
                    (nickname, avatar or "", self._clock()),
                )
                user = User(int(cursor.lastrowid or 0), nickname, avatar or "")
            else:
                user = User(*row)
                if avatar and avatar != user.avatar:
                    self._db.execute("UPDATE users SET avatar = ? WHERE id = ?", (avatar, user.id))
                    user = User(user.id, user.nickname, avatar)
            token = secrets.token_urlsafe(24)
            self._db.execute(
                "INSERT INTO sessions (token, user_id, created_at) VALUES (?, ?, ?)",
                (token, user.id, self._clock()),
            )
        return user, token

    def logout(self, token: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM sessions WHERE token = ?", (token,))

    def user_by_token(self, token: str) -> User | None:
        row = self._db.execute(
            "SELECT u.id, u.nickname, u.avatar FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token = ?",
            (token,),
        ).fetchone()
        return User(*row) if row else None

    def user(self, user_id: int) -> User | None:
        row = self._db.execute(
            "SELECT id, nickname, avatar FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return User(*row) if row else None

    def users(self) -> list[User]:
        rows = self._db.execute("SELECT id, nickname, avatar FROM users ORDER BY id").fetchall()
        return [User(*row) for row in rows]

    # -- rooms -------------------------------------------------------------------------
    def rooms(self) -> list[Room]:
        return [Room(*row) for row in self._db.execute("SELECT id, name FROM rooms ORDER BY id")]

    def room(self, room_id: int) -> Room | None:
        row = self._db.execute("SELECT id, name FROM rooms WHERE id = ?", (room_id,)).fetchone()
        return Room(*row) if row else None

    def create_room(self, name: str) -> Room:
        """A new room, or the existing one of that name."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO rooms (name, created_at) VALUES (?, ?)",
                (name, self._clock()),
            )
            row = self._db.execute("SELECT id, name FROM rooms WHERE name = ?", (name,)).fetchone()
        return Room(*row)

    # -- messages ----------------------------------------------------------------------
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
            int(cursor.lastrowid or 0), room_id, sender.id, to_uid, msgtype, content, now,
            sender.nickname, sender.avatar,
        )  # fmt: skip

    def room_history(
        self, room_id: int, limit: int = 50, before: int | None = None
    ) -> list[Message]:
        """The last ``limit`` messages of a room (before message id ``before``), oldest first."""
        rows = self._db.execute(
            _MESSAGE_SELECT + " WHERE m.room_id = ? AND m.to_uid IS NULL AND m.id < ?"
            " ORDER BY m.id DESC LIMIT ?",
            (room_id, before or 2**62, limit),
        ).fetchall()
        return [Message(*row) for row in reversed(rows)]

    def private_history(self, a: int, b: int, limit: int = 50) -> list[Message]:
        """The last ``limit`` private messages between users ``a`` and ``b``, oldest first."""
        rows = self._db.execute(
            _MESSAGE_SELECT + " WHERE m.room_id = 0 AND ((m.from_uid = ? AND m.to_uid = ?)"
            " OR (m.from_uid = ? AND m.to_uid = ?)) ORDER BY m.id DESC LIMIT ?",
            (a, b, b, a, limit),
        ).fetchall()
        return [Message(*row) for row in reversed(rows)]


class AsyncStore:
    """A :class:`Store` whose calls run on one dedicated thread.

    ``rooms = await db.run(lambda store: store.rooms())``
    """

    def __init__(self, path: str | Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-sqlite")
        self._store: Store | None = None
        self._path = path

    async def open(self) -> None:
        self._store = await self._run(Store, self._path)

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    async def run(self, query: Callable[[Store], T]) -> T:
        """Run ``query(store)`` on the store's thread."""
        store = self._store
        if store is None:
            raise RuntimeError("the store is not open")
        return await self._run(query, store)

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await self._run(store.close)
        self._executor.shutdown(wait=True)
