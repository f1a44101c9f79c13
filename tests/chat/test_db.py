"""SQLite storage against a real file (tmp_path), with a clock passed in."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from examples.chat.db import AsyncStore, Store


@pytest.fixture
def store(tmp_path):
    ticks = itertools.count(1000)
    s = Store(tmp_path / "data" / "chat.sqlite3", clock=lambda: float(next(ticks)))
    yield s
    s.close()


def test_new_file_has_the_default_rooms(store):
    assert store.path.exists()
    rooms = store.rooms()
    assert (rooms[0].id, rooms[0].name) == (100, "开源技术小栈")
    assert store.room(100) == rooms[0]
    assert store.room(99) is None


def test_login_creates_then_finds_the_user(store):
    user, token = store.login("阿克苏", "/static/avatars/1.svg")
    again, other_token = store.login("阿克苏", None)
    assert again == user and token != other_token
    assert store.user_by_token(token) == user
    assert store.user_by_token("nope") is None
    changed, _ = store.login("阿克苏", "/uploads/x.png")
    assert (changed.id, changed.avatar) == (user.id, "/uploads/x.png")
    assert store.user(user.id) == changed
    store.logout(token)
    assert store.user_by_token(token) is None
    assert store.user_by_token(other_token) == changed


def test_nicknames_are_case_insensitive(store):
    a, _ = store.login("Tinywan", "/a.svg")
    b, _ = store.login("tinywan", None)
    assert a.id == b.id
    assert [u.nickname for u in store.users()] == ["Tinywan"]


def test_create_room_once(store):
    room = store.create_room("Rust")
    assert room.id == 103  # after the default rooms
    assert store.create_room("Rust") == room


def test_room_history_is_the_latest_oldest_first(store):
    user, _ = store.login("a", "/a.svg")
    other, _ = store.login("b", "/b.svg")
    for n in range(5):
        store.add_message(user, 0, f"m{n}", room_id=100)
    store.add_message(user, 0, "elsewhere", room_id=101)
    store.add_message(user, 0, "secret", to_uid=other.id)
    history = store.room_history(100, limit=3)
    assert [m.content for m in history] == ["m2", "m3", "m4"]
    assert history[0].username == "a" and history[0].photo == "/a.svg"
    assert history[0].created_at < history[-1].created_at
    assert [m.content for m in store.room_history(100, limit=2, before=history[0].id)] == [
        "m0",
        "m1",
    ]


def test_private_history_has_both_directions_only(store):
    a, _ = store.login("a", "/a.svg")
    b, _ = store.login("b", "/b.svg")
    c, _ = store.login("c", "/c.svg")
    store.add_message(a, 0, "a->b", to_uid=b.id)
    store.add_message(b, 1, "/uploads/p.png", to_uid=a.id)
    store.add_message(a, 0, "a->c", to_uid=c.id)
    store.add_message(a, 0, "room", room_id=100)
    assert [(m.content, m.msgtype) for m in store.private_history(b.id, a.id)] == [
        ("a->b", 0), ("/uploads/p.png", 1)]  # fmt: skip
    assert store.room_history(100)[0].content == "room"


def test_data_survives_a_reopen(tmp_path):
    path = tmp_path / "chat.sqlite3"
    first = Store(path)
    user, token = first.login("阿克苏", "/a.svg")
    first.add_message(user, 0, "你好", room_id=100)
    first.close()
    second = Store(path)
    assert second.user_by_token(token) == user
    assert [m.content for m in second.room_history(100)] == ["你好"]
    second.close()
    with sqlite3.connect(path) as db:  # plain SQLite can read it
        assert db.execute("SELECT content FROM messages").fetchall() == [("你好",)]


async def test_async_store_runs_on_one_thread(tmp_path):
    import threading

    store = AsyncStore(tmp_path / "chat.sqlite3")
    await store.open()
    names = {await store.run(lambda s: threading.current_thread().name) for _ in range(3)}
    user, _ = await store.run(lambda s: s.login("x", "/x.svg"))
    assert (await store.run(lambda s: s.user(user.id))) == user
    await store.close()
    assert len(names) == 1 and names.pop() != threading.current_thread().name
    with pytest.raises(RuntimeError):
        await store.run(lambda s: s.rooms())
