"""The uids and groups the chat's two sides name in the cluster (pure, no I/O).

Registered users' uids are their database ids as strings (the gateway binds them from
the token); an anonymous client's are in a namespace of their own (``guest:<id>``),
so that no anonymous client can ever bind a registered user's uid. A registered
room's group is ``room:<id>``: the worker joins a connection to its token's rooms, the
web backend moves connections on join and leave and pushes the rooms' messages
there. Every authenticated connection is also in ``users``, where the web backend
tells of rooms created and renamed, and in ``watch:<uid>`` for each person it has a
private conversation with, where that person's presence is told (so that a contact
who shares no room with it is seen coming and going). Both sides import this, and
nothing of each other's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

GUEST = "guest:"  # the uid namespace of anonymous clients
ROOM = "room:"  # the group namespace of registered rooms (the server's)
USERS = "users"  # the group of every authenticated connection: news of the rooms
WATCH = "watch:"  # the group namespace of those told of one person's presence
MAX_CONTACTS = 100  # the private contacts a connection is told of (the latest talked to)


def guest_uid(user_id: str) -> str:
    """The uid an anonymous client's ``from_user_id`` / ``to_user_id`` stands for."""
    return GUEST + user_id


def room_group(room: int) -> str:
    """The cluster group of a registered room: only the worker and the backend use it."""
    return f"{ROOM}{room}"


def room_groups(rooms: Iterable[int]) -> list[str]:
    return [room_group(room) for room in rooms]


def watch_group(uid: int | str) -> str:
    """The group told of a registered user's presence: the connections of the people
    who have a private conversation with them."""
    return f"{WATCH}{uid}"


def is_registered(uid: Any) -> bool:
    """True for a registered user's uid (a database id), False for guests and others."""
    return isinstance(uid, str) and uid.isascii() and uid.isdigit()
