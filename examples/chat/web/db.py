"""SQLite storage of the chat: accounts, login sessions, rooms, membership (and messages).

:class:`Store` is synchronous and owns one connection; its message queries live in
:mod:`examples.chat.web.history`, its read positions in :mod:`examples.chat.web.reads`.
:class:`AsyncStore` runs every call of a Store on one dedicated thread (a
single-worker executor), so the event loop never blocks on SQLite and the connection
is only ever used by the thread that created it; calls are serialized, which SQLite
wants anyway. The schema and its migrations are in
:mod:`examples.chat.web.schema`.

Login sessions are stored as SHA-256 digests of their tokens: a copy of the
database file does not give anyone a usable cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import click

from common.options import option

from . import schema
from .history import MessageStore
from .models import Message, Reading, Room, User
from .reads import ReadStore

__all__ = [
    "DEFAULT_ROOMS",
    "AsyncStore",
    "Message",
    "NicknameTaken",
    "Reading",
    "Room",
    "Store",
    "User",
]
T = TypeVar("T")

DEFAULT_ROOMS = ((100, "开源技术小栈"), (101, "Python 交流"), (102, "闲聊灌水"))
SESSION_TTL = 30 * 86400  # seconds, as the cookie's max-age


class NicknameTaken(Exception):
    """``register`` with a nickname someone has (nicknames compare case-insensitively)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store(MessageStore, ReadStore):
    """The chat's tables in one SQLite file (created, with the default rooms, if new)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        schema.migrate(self._db)
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO rooms (id, name, created_at) VALUES (?, ?, ?)",
                [(rid, name, self._clock()) for rid, name in DEFAULT_ROOMS],
            )

    def close(self) -> None:
        self._db.close()

    # -- accounts and login sessions ------------------------------------------------------
    def register(self, nickname: str, password_hash: str, avatar: str) -> User:
        """A new account; :class:`NicknameTaken` if the nickname is in use."""
        try:
            with self._db:
                cursor = self._db.execute(
                    "INSERT INTO users (nickname, avatar, created_at, password_hash)"
                    " VALUES (?, ?, ?, ?)",
                    (nickname, avatar, self._clock(), password_hash),
                )
        except sqlite3.IntegrityError:
            raise NicknameTaken(nickname) from None
        return User(int(cursor.lastrowid or 0), nickname, avatar)

    def credentials(self, nickname: str) -> tuple[User, str | None] | None:
        """The account called ``nickname`` and its password hash (None: made before
        passwords existed), or None if there is no such account."""
        row = self._db.execute(
            "SELECT id, nickname, avatar, password_hash FROM users WHERE nickname = ?",
            (nickname,),
        ).fetchone()
        return None if row is None else (User(*row[:3]), row[3])

    def set_password(self, nickname: str, password_hash: str) -> User | None:
        """Give the account a new password hash and end its login sessions (an
        operator's reset, see :mod:`examples.chat.web.admin`); None if there is no such
        account."""
        found = self.credentials(nickname)
        if found is None:
            return None
        user = found[0]
        with self._db:
            self._db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user.id)
            )
            self._db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
        return user

    def set_avatar(self, user_id: int, avatar: str) -> User | None:
        with self._db:
            self._db.execute("UPDATE users SET avatar = ? WHERE id = ?", (avatar, user_id))
        return self.user(user_id)

    def start_session(self, user_id: int) -> str:
        """A new login session for the user; the token goes into the cookie. Expired
        sessions are deleted here (nothing else would: the table would only grow)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._db:
            self._db.execute("DELETE FROM sessions WHERE created_at <= ?", (now - SESSION_TTL,))
            self._db.execute(
                "INSERT INTO sessions (token, user_id, created_at) VALUES (?, ?, ?)",
                (_digest(token), user_id, now),
            )
        return token

    def logout(self, token: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM sessions WHERE token = ?", (_digest(token),))

    def user_by_token(self, token: str) -> User | None:
        """The user of a live session (not expired, of an account with a password)."""
        row = self._db.execute(
            "SELECT u.id, u.nickname, u.avatar FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token = ? AND s.created_at > ? AND u.password_hash IS NOT NULL",
            (_digest(token), self._clock() - SESSION_TTL),
        ).fetchone()
        return User(*row) if row else None

    def user(self, user_id: int) -> User | None:
        row = self._db.execute(
            "SELECT id, nickname, avatar FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return User(*row) if row else None

    def users(self) -> list[User]:
        """Every account that can log in (those with a password)."""
        rows = self._db.execute(
            "SELECT id, nickname, avatar FROM users WHERE password_hash IS NOT NULL ORDER BY id"
        ).fetchall()
        return [User(*row) for row in rows]

    # -- rooms and membership ---------------------------------------------------------
    def rooms(self) -> list[Room]:
        rows = self._db.execute("SELECT id, name, created_by FROM rooms ORDER BY id")
        return [Room(*row) for row in rows]

    def room(self, room_id: int) -> Room | None:
        row = self._db.execute(
            "SELECT id, name, created_by FROM rooms WHERE id = ?", (room_id,)
        ).fetchone()
        return Room(*row) if row else None

    def room_named(self, name: str) -> Room | None:
        row = self._db.execute(
            "SELECT id, name, created_by FROM rooms WHERE name = ?", (name,)
        ).fetchone()
        return Room(*row) if row else None

    def rooms_owned(self, user_id: int) -> int:
        """How many rooms this user created (and so owns)."""
        row = self._db.execute("SELECT COUNT(*) FROM rooms WHERE created_by = ?", (user_id,))
        return int(row.fetchone()[0])

    def create_room(self, name: str, created_by: int | None = None) -> Room:
        """A new room, or the existing one of that name."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO rooms (name, created_at, created_by) VALUES (?, ?, ?)",
                (name, self._clock(), created_by),
            )
        found = self.room_named(name)
        assert found is not None  # inserted, or there already
        return found

    def rename_room(self, room_id: int, name: str) -> Room | None:
        """Give the room a new name; None if another room has it."""
        try:
            with self._db:
                self._db.execute("UPDATE rooms SET name = ? WHERE id = ?", (name, room_id))
        except sqlite3.IntegrityError:
            return None
        return self.room(room_id)

    def join_room(self, user_id: int, room_id: int) -> bool:
        """Make the user a member, who has read the room so far; False if they already
        were."""
        with self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?)",
                (user_id, room_id, self._clock()),
            )
            if cursor.rowcount == 1:
                self._start_reading_room(user_id, room_id)
        return cursor.rowcount == 1

    def leave_room(self, user_id: int, room_id: int) -> bool:
        """End a membership; False if there was none."""
        with self._db:
            cursor = self._db.execute(
                "DELETE FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
            )
        return cursor.rowcount == 1

    def rooms_of(self, user_id: int) -> list[int]:
        """The ids of the rooms a user belongs to."""
        rows = self._db.execute(
            "SELECT room_id FROM memberships WHERE user_id = ? ORDER BY room_id", (user_id,)
        ).fetchall()
        return [row[0] for row in rows]

    def is_member(self, user_id: int, room_id: int) -> bool:
        return bool(
            self._db.execute(
                "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
            ).fetchone()
        )

    def members(self, room_ids: Iterable[int]) -> dict[int, list[int]]:
        """Per room, the ids of its members (every room asked for is in the answer)."""
        found: dict[int, list[int]] = {room_id: [] for room_id in room_ids}
        if found:
            marks = ",".join("?" * len(found))
            for room_id, user_id in self._db.execute(
                f"SELECT room_id, user_id FROM memberships WHERE room_id IN ({marks})"
                " ORDER BY joined_at, user_id",
                list(found),
            ):
                found[room_id].append(user_id)
        return found

    def users_by_id(self, user_ids: Iterable[int]) -> dict[int, User]:
        ids = list(user_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT id, nickname, avatar FROM users WHERE id IN ({marks})", ids
        ).fetchall()
        return {row[0]: User(*row) for row in rows}


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


# the option that names the database, for every command that opens it (the web
# backend, and the operator's commands: web/admin.py)
db_option = option(
    "--db",
    "db_path",
    default="data/chat.sqlite3",
    show_default=True,
    envvar="CHAT_DB",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chat's SQLite file (the web backend creates it, and its folder).",
)
