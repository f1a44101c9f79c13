"""The chat's SQLite schema and its migrations.

``PRAGMA user_version`` says which migrations a file has had. Version 0 is the
schema of the first release (users by nickname alone, sessions, rooms, messages),
created as before for a new file; each later version only adds columns, tables and
indexes, so an existing ``data/chat.sqlite3`` keeps every row:

1. accounts have passwords (``users.password_hash``; NULL for accounts made before
   passwords existed: they cannot log in, see :mod:`examples.chat.web.accounts`), room
   membership (``memberships``), and an index for a user's private messages.
2. read positions (``read_positions``, :mod:`examples.chat.web.reads`): per user, the last
   message read of each room and private conversation. An existing file starts with
   everything read (each membership at its room's latest message, each private
   conversation at its latest message to the user), so an upgrade shows no badges for
   messages that were read under the release before, which kept no positions.
3. who created a room (``rooms.created_by``; NULL for the default rooms and the rooms
   of earlier releases): its owner, who may rename it.
"""

from __future__ import annotations

import sqlite3

BASE = """
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

MIGRATIONS: tuple[str, ...] = (
    # 1: passwords, membership, a user's private messages by recipient
    """
    ALTER TABLE users ADD COLUMN password_hash TEXT;
    CREATE TABLE memberships (
        user_id INTEGER NOT NULL REFERENCES users(id),
        room_id INTEGER NOT NULL REFERENCES rooms(id),
        joined_at REAL NOT NULL,
        PRIMARY KEY (user_id, room_id)
    );
    CREATE INDEX memberships_room ON memberships (room_id);
    CREATE INDEX messages_to ON messages (to_uid, id);
    """,
    # 2: read positions, everything read so far
    """
    CREATE TABLE read_positions (
        user_id INTEGER NOT NULL REFERENCES users(id),
        room_id INTEGER NOT NULL,            -- 0 for a private conversation
        peer_id INTEGER NOT NULL,            -- the other person of a private one, else 0
        last_read INTEGER NOT NULL,          -- the id of the last message read
        PRIMARY KEY (user_id, room_id, peer_id)
    );
    INSERT INTO read_positions (user_id, room_id, peer_id, last_read)
        SELECT mb.user_id, mb.room_id, 0, COALESCE((SELECT MAX(m.id) FROM messages m
            WHERE m.room_id = mb.room_id AND m.to_uid IS NULL), 0)
        FROM memberships mb;
    INSERT INTO read_positions (user_id, room_id, peer_id, last_read)
        SELECT to_uid, 0, from_uid, MAX(id) FROM messages
        WHERE room_id = 0 AND to_uid IS NOT NULL AND to_uid != from_uid
        GROUP BY to_uid, from_uid;
    """,
    # 3: a room's owner
    """
    ALTER TABLE rooms ADD COLUMN created_by INTEGER REFERENCES users(id);
    """,
)
VERSION = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Create the base tables if missing, then apply each migration the file lacks.

    Each migration runs in one transaction with its version bump (SQLite's DDL is
    transactional), so a crash leaves the file at the previous version, never
    half-migrated. Returns the number of migrations applied.
    """
    db.executescript(BASE)
    current = version(db)
    if current > VERSION:
        raise RuntimeError(f"{current} is a newer schema version than this code knows ({VERSION})")
    for number in range(current + 1, VERSION + 1):
        try:
            db.executescript(
                f"BEGIN; {MIGRATIONS[number - 1]}; PRAGMA user_version = {number}; COMMIT;"
            )
        except sqlite3.Error:
            if db.in_transaction:
                db.rollback()
            raise
    return VERSION - current
