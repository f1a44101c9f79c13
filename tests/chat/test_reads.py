"""Read positions and unread counts (examples/chat/web/reads.py) against a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from examples.chat.web import reads, schema
from examples.chat.web.db import Store
from examples.chat.web.models import Reading

from .test_db import HASH, clock

__all__ = ["clock"]  # fixture


@pytest.fixture
def store(tmp_path, clock):
    s = Store(tmp_path / "chat.sqlite3", clock=clock)
    yield s
    s.close()


def people(store: Store, *names: str) -> list:
    return [store.register(name, HASH, "/a.svg") for name in names]


def test_a_room_counts_the_messages_of_others_after_the_position(store):
    a, b = people(store, "甲", "乙")
    old = store.add_message(b, 0, "加入之前", room_id=101)
    store.join_room(a.id, 101)  # the history before joining is not news
    assert store.room_reading(a.id, 101) == Reading(read=old.id, unread=0, latest=old.id)
    first = store.add_message(b, 0, "一", room_id=101)
    store.add_message(a, 0, "我自己的", room_id=101)  # one's own never counts
    last = store.add_message(b, 0, "二", room_id=101)
    other_room = store.add_message(b, 0, "别的房间", room_id=102)
    store.add_message(b, 0, "私聊", to_uid=a.id)
    assert store.room_reading(a.id, 101) == Reading(old.id, 2, last.id)
    assert store.read_room(a.id, 101, first.id) == Reading(first.id, 1, last.id)
    assert store.read_room(a.id, 101, old.id) == Reading(first.id, 1, last.id)  # never back
    assert store.read_room(a.id, 101, 10**9) == Reading(last.id, 0, last.id)  # never past
    later = store.add_message(b, 0, "三", room_id=101)
    assert store.room_readings(a.id, [101, 102]) == {
        101: Reading(last.id, 1, later.id),
        102: Reading(0, 1, other_room.id),
    }


def test_joining_again_starts_from_the_latest_message(store):
    a, b = people(store, "甲", "乙")
    store.join_room(a.id, 101)
    store.add_message(b, 0, "还没读", room_id=101)
    store.leave_room(a.id, 101)
    while_away = store.add_message(b, 0, "离开期间", room_id=101)
    assert store.join_room(a.id, 101)
    assert store.room_reading(a.id, 101) == Reading(while_away.id, 0, while_away.id)


def test_a_private_conversation_counts_from_its_first_message(store):
    a, b, c = people(store, "甲", "乙", "丙")
    assert store.private_readings(a.id) == {}
    one = store.add_message(b, 0, "你好", to_uid=a.id)
    two = store.add_message(b, 0, "在吗", to_uid=a.id)
    mine = store.add_message(a, 0, "在", to_uid=b.id)
    store.add_message(c, 0, "给乙的", to_uid=b.id)  # not a's
    assert store.private_reading(a.id, b.id) == Reading(0, 2, mine.id)
    assert store.private_reading(b.id, a.id) == Reading(0, 1, mine.id)
    assert store.read_private(a.id, b.id, one.id) == Reading(one.id, 1, mine.id)
    assert store.private_readings(a.id) == {b.id: Reading(one.id, 1, mine.id)}
    assert store.read_private(a.id, b.id, mine.id) == Reading(mine.id, 0, mine.id)
    assert store.read_private(a.id, b.id, two.id) == Reading(mine.id, 0, mine.id)
    with_c = store.add_message(c, 0, "甲你好", to_uid=a.id)
    assert store.private_readings(a.id) == {
        b.id: Reading(mine.id, 0, mine.id),
        c.id: Reading(0, 1, with_c.id),
    }
    assert store.read_private(a.id, c.id, 10**9) == Reading(with_c.id, 0, with_c.id)


def test_counts_stop_at_a_bound(store, monkeypatch):
    monkeypatch.setattr(reads, "MAX_COUNTED", 3)
    a, b = people(store, "甲", "乙")
    store.join_room(a.id, 101)
    for n in range(5):
        store.add_message(b, 0, f"房间{n}", room_id=101)
        store.add_message(b, 0, f"私聊{n}", to_uid=a.id)
    assert store.room_reading(a.id, 101).unread == 3
    assert store.private_reading(a.id, b.id).unread == 3
    assert store.private_readings(a.id)[b.id].unread == 3


def test_an_existing_file_starts_with_everything_read(tmp_path):
    """A file of the release before (schema 1, no positions): every membership and
    private conversation is read up to its latest message, so no stale badges."""
    path = tmp_path / "chat.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(schema.BASE)
        db.executescript(schema.MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        db.executemany(
            "INSERT INTO users VALUES (?, ?, '/a.svg', 1.0, ?)", [(1, "甲", HASH), (2, "乙", HASH)]
        )
        db.execute("INSERT INTO rooms VALUES (101, 'Python 交流', 1.0)")
        db.execute("INSERT INTO memberships VALUES (1, 101, 1.0)")
        rows = [(1, 101, 2, None), (2, 0, 2, 1), (3, 101, 2, None), (4, 0, 1, 2)]
        db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, 0, 'x', 2.0)", rows)
    store = Store(path)
    try:
        assert store.room_reading(1, 101) == Reading(3, 0, 3)
        assert store.private_reading(1, 2) == Reading(2, 0, 4)
        assert store.private_reading(2, 1) == Reading(4, 0, 4)
        store.add_message(store.users()[1], 0, "升级以后", room_id=101)
        assert store.room_reading(1, 101).unread == 1
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert schema.version(db) == schema.VERSION
