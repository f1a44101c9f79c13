"""SQLite storage against a real file (tmp_path), with a clock passed in."""

from __future__ import annotations

import itertools
import sqlite3
import threading

import pytest

from examples.chat.web import schema
from examples.chat.web.db import SESSION_TTL, AsyncStore, NicknameTaken, Store
from examples.chat.web.models import Room

HASH = "scrypt$14$8$1$AAAA$AAAA"  # the store keeps hashes, it never checks them


class Clock:
    def __init__(self) -> None:
        self.ticks = itertools.count(1000)
        self.offset = 0.0

    def __call__(self) -> float:
        return float(next(self.ticks)) + self.offset


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    s = Store(tmp_path / "data" / "chat.sqlite3", clock=clock)
    yield s
    s.close()


def test_new_file_has_the_default_rooms_and_the_latest_schema(store):
    assert store.path.exists()
    rooms = store.rooms()
    assert (rooms[0].id, rooms[0].name) == (100, "开源技术小栈")
    assert store.room(100) == rooms[0]
    assert store.room(99) is None
    with sqlite3.connect(store.path) as db:
        assert schema.version(db) == schema.VERSION


def test_register_then_credentials(store):
    user = store.register("阿克苏", HASH, "/a.svg")
    assert store.credentials("阿克苏") == (user, HASH)
    assert store.credentials("阿克苏 ") is None
    with pytest.raises(NicknameTaken):
        store.register("阿克苏", HASH, "/b.svg")
    store.register("TinyWan", HASH, "/b.svg")
    with pytest.raises(NicknameTaken):  # nicknames compare case-insensitively
        store.register("tinywan", HASH, "/b.svg")
    assert [u.nickname for u in store.users()] == ["阿克苏", "TinyWan"]


def test_sessions_are_stored_as_digests_and_expire(store, clock):
    user = store.register("a", HASH, "/a.svg")
    token = store.start_session(user.id)
    assert store.user_by_token(token) == user
    assert store.user_by_token("nope") is None
    with sqlite3.connect(store.path) as db:
        stored = [row[0] for row in db.execute("SELECT token FROM sessions")]
    assert token not in stored and len(stored[0]) == 64  # SHA-256 hex
    other = store.start_session(user.id)
    store.logout(token)
    assert store.user_by_token(token) is None
    assert store.user_by_token(other) == user
    clock.offset = SESSION_TTL
    assert store.user_by_token(other) is None


def test_expired_sessions_are_deleted_when_someone_logs_in(store, clock):
    user = store.register("a", HASH, "/a.svg")
    old = store.start_session(user.id)
    clock.offset = SESSION_TTL / 2
    kept = store.start_session(user.id)
    clock.offset = SESSION_TTL + 10  # the first one expired, the second not yet
    newest = store.start_session(user.id)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (2,)
    assert store.user_by_token(old) is None
    assert store.user_by_token(kept) == user and store.user_by_token(newest) == user


def test_avatar_changes_only_when_asked(store):
    user = store.register("a", HASH, "/a.svg")
    assert store.set_avatar(user.id, "/uploads/x.png").avatar == "/uploads/x.png"
    assert store.credentials("a")[0].avatar == "/uploads/x.png"


def test_membership(store):
    a = store.register("a", HASH, "/a.svg")
    b = store.register("b", HASH, "/b.svg")
    assert store.join_room(a.id, 101) is True
    assert store.join_room(a.id, 101) is False
    store.join_room(a.id, 100)
    store.join_room(b.id, 100)
    assert store.rooms_of(a.id) == [100, 101]
    assert store.is_member(b.id, 100) and not store.is_member(b.id, 101)
    assert store.members([100, 101, 102]) == {100: [a.id, b.id], 101: [a.id], 102: []}
    assert store.leave_room(a.id, 101) is True
    assert store.leave_room(a.id, 101) is False
    assert store.rooms_of(a.id) == [100]
    assert store.users_by_id([b.id, 999]) == {b.id: b}


def test_create_room_once(store):
    room = store.create_room("Rust")
    assert room.id == 103  # after the default rooms
    assert store.create_room("Rust") == room


def test_a_room_has_its_owner_and_can_be_renamed(store):
    owner = store.register("房主", HASH, "/a.svg")
    room = store.create_room("Go", owner.id)
    assert (room.name, room.created_by) == ("Go", owner.id)
    assert store.create_room("Go", 999).created_by == owner.id  # the first one's
    assert store.room(100) == Room(100, "开源技术小栈", None)  # a default room: no owner
    assert store.rename_room(room.id, "Golang") == Room(room.id, "Golang", owner.id)
    assert store.room_named("Go") is None and store.room_named("Golang") == store.room(room.id)
    assert store.rename_room(room.id, "Python 交流") is None  # another room's name
    assert store.room(room.id) == Room(room.id, "Golang", owner.id)
    assert [r.name for r in store.rooms()][-1] == "Golang"


def test_room_history_pages_by_id(store):
    user = store.register("a", HASH, "/a.svg")
    other = store.register("b", HASH, "/b.svg")
    sent = [store.add_message(user, 0, f"m{n}", room_id=100) for n in range(5)]
    store.add_message(user, 0, "elsewhere", room_id=101)
    store.add_message(user, 0, "secret", to_uid=other.id)
    history = store.room_history(100, limit=3)
    assert [m.content for m in history] == ["m2", "m3", "m4"]
    assert history[0].username == "a" and history[0].photo == "/a.svg"
    assert history[0].created_at < history[-1].created_at
    older = store.room_history(100, limit=3, before=history[0].id)
    assert [m.content for m in older] == ["m0", "m1"]
    assert store.room_history(100, before=sent[0].id) == []


def test_private_history_has_both_directions_only(store):
    a = store.register("a", HASH, "/a.svg")
    b = store.register("b", HASH, "/b.svg")
    c = store.register("c", HASH, "/c.svg")
    first = store.add_message(a, 0, "a->b", to_uid=b.id)
    store.add_message(b, 1, "/uploads/p.png", to_uid=a.id)
    store.add_message(a, 0, "a->c", to_uid=c.id)
    store.add_message(a, 0, "room", room_id=100)
    assert [(m.content, m.msgtype) for m in store.private_history(b.id, a.id)] == [
        ("a->b", 0),
        ("/uploads/p.png", 1),
    ]
    assert [m.content for m in store.private_history(a.id, b.id, limit=1)] == ["/uploads/p.png"]
    assert [m.content for m in store.private_history(a.id, b.id, before=first.id + 1)] == ["a->b"]


def test_updates_are_what_a_user_may_see_after_an_id(store):
    a = store.register("a", HASH, "/a.svg")
    b = store.register("b", HASH, "/b.svg")
    c = store.register("c", HASH, "/c.svg")
    store.join_room(a.id, 100)
    start = store.last_message_id()
    in_room = store.add_message(b, 0, "room 100", room_id=100)
    store.add_message(b, 0, "room 101", room_id=101)  # a is not a member
    to_a = store.add_message(b, 0, "b->a", to_uid=a.id)
    store.add_message(b, 0, "b->c", to_uid=c.id)
    from_a = store.add_message(a, 0, "a->c", to_uid=c.id)
    assert [m.id for m in store.updates(a.id, start)] == [in_room.id, to_a.id, from_a.id]
    assert [m.id for m in store.updates(a.id, in_room.id)] == [to_a.id, from_a.id]
    assert [m.id for m in store.updates(a.id, start, limit=1)] == [in_room.id]
    assert store.last_message_id() == from_a.id


def test_previews(store):
    a = store.register("a", HASH, "/a.svg")
    b = store.register("b", HASH, "/b.svg")
    c = store.register("c", HASH, "/c.svg")
    store.add_message(a, 0, "old", room_id=100)
    last_100 = store.add_message(b, 0, "new", room_id=100)
    store.add_message(a, 0, "private", to_uid=b.id)
    assert store.last_in_rooms([100, 101]) == {100: last_100}
    assert store.last_in_rooms([]) == {}
    store.add_message(a, 0, "1", to_uid=b.id)
    back = store.add_message(b, 0, "2", to_uid=a.id)
    with_c = store.add_message(c, 0, "3", to_uid=a.id)
    assert store.last_private(a.id) == {b.id: back, c.id: with_c}
    assert store.last_private(c.id) == {a.id: with_c}


# the schema of the first release, as an existing data/chat.sqlite3 has it
FIRST_RELEASE = schema.BASE


def test_an_existing_file_is_migrated_without_losing_data(tmp_path):
    path = tmp_path / "chat.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_RELEASE)
        db.execute("INSERT INTO users VALUES (1, '老用户', '/static/avatars/2.svg', 1.0)")
        db.execute("INSERT INTO sessions VALUES ('old-token', 1, 1.0)")
        db.execute("INSERT INTO rooms VALUES (100, '开源技术小栈', 1.0)")
        db.execute("INSERT INTO messages VALUES (1, 100, 1, NULL, 0, '你好', 2.0)")
    store = Store(path)
    try:
        assert [(m.content, m.username) for m in store.room_history(100)] == [("你好", "老用户")]
        old = store.credentials("老用户")
        assert old is not None and old[1] is None  # no password: it cannot log in
        assert store.user_by_token("old-token") is None  # nor use an old session
        assert store.users() == []
        new = store.register("新用户", HASH, "/a.svg")
        store.join_room(new.id, 100)
        assert store.rooms_of(new.id) == [100]
    finally:
        store.close()
    again = Store(path)  # opening again applies nothing twice
    try:
        assert [m.content for m in again.room_history(100)] == ["你好"]
    finally:
        again.close()
    with sqlite3.connect(path) as db:
        assert schema.version(db) == schema.VERSION
        assert db.execute("SELECT COUNT(*) FROM users").fetchone() == (2,)


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "chat.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_RELEASE)
        db.execute("INSERT INTO users VALUES (1, 'x', '/a.svg', 1.0)")
    broken = (schema.MIGRATIONS[0] + "\nCREATE TABLE users (id INTEGER);",)
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError), sqlite3.connect(path) as db:
        schema.migrate(db)
    with sqlite3.connect(path) as db:
        assert schema.version(db) == 0
        columns = [row[1] for row in db.execute("PRAGMA table_info(users)")]
        assert "password_hash" not in columns
        assert db.execute("SELECT nickname FROM users").fetchall() == [("x",)]


def test_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "chat.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer schema"):
        Store(path)


async def test_async_store_runs_on_one_thread(tmp_path):
    store = AsyncStore(tmp_path / "chat.sqlite3")
    await store.open()
    names = {await store.run(lambda s: threading.current_thread().name) for _ in range(3)}
    user = await store.run(lambda s: s.register("x", HASH, "/x.svg"))
    assert (await store.run(lambda s: s.user(user.id))) == user
    await store.close()
    assert len(names) == 1 and names.pop() != threading.current_thread().name
    with pytest.raises(RuntimeError):
        await store.run(lambda s: s.rooms())
