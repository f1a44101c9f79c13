"""Presence by person (examples/chat/presence.py): pure rules and frames."""

from __future__ import annotations

from examples.chat import presence
from examples.chat.worker import notices
from examples.chat.worker.identity import Identity

WHO = Identity("7", "阿克苏", "/a.svg", (100, 101))


def test_welcome_and_announcements():
    assert notices.welcome(WHO, "c1") == {
        "action_type": "welcome",
        "uid": "7",
        "username": "阿克苏",
        "photo": "/a.svg",
        "group_ids": [100, 101],
        "client_id": "c1",
    }
    assert notices.announcement(WHO, "offline", [101]) == {
        "action_type": "presence",
        "state": "offline",
        "uid": "7",
        "username": "阿克苏",
        "photo": "/a.svg",
        "group_ids": [101],
    }


def test_alone_means_no_other_connection():
    assert presence.is_alone([], "c1")
    assert presence.is_alone(["c1"], "c1")
    assert not presence.is_alone(["c1", "c2"], "c1")
    assert not presence.is_alone(["c2"], "c1")


def test_people_are_distinct_registered_uids():
    assert presence.people(["7", "7", "guest:7", "8", None, 9]) == {"7", "8"}


def test_online_counts_are_members_connected_to_the_group():
    group_uids = {
        "room:100": ["7", "8", "guest:10086", "9"],
        "room:101": ["7"],
        "room:555": ["7"],
        "100": ["10"],
        "102": ["7"],
    }
    members = {100: [7, 8, 10], 101: [8], 102: [7]}
    # the document's raw groups "100", "102" are not the rooms: 10 and 7 are not counted there
    assert presence.online_counts(group_uids, members) == {100: 2, 101: 0, 102: 0}
    assert presence.online_members(group_uids["room:100"], [7, 9]) == {"7", "9"}
