"""The frames the worker pushes about people: the welcome, and presence (pure).

The page shows only frames with an ``action_type``: no client can make the worker send
one, every reply to a client frame is ``{code, msg, data}`` (see
:mod:`examples.chat.presence` for when a person is announced)::

    {"action_type": "welcome", "uid": "7", "username": "...", "photo": "...",
     "group_ids": [100, 101], "client_id": "..."}      # to the new connection only
    {"action_type": "presence", "state": "online" | "offline", "uid": "7",
     "username": "...", "photo": "...", "group_ids": [100, 101]}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .identity import Identity


def welcome(who: Identity, client_id: str) -> dict[str, Any]:
    """The first frame of an authenticated connection: every room's group is joined."""
    return {
        "action_type": "welcome",
        "uid": who.uid,
        "username": who.nickname,
        "photo": who.avatar,
        "group_ids": list(who.rooms),
        "client_id": client_id,
    }


def announcement(who: Identity, state: str, rooms: Iterable[int]) -> dict[str, Any]:
    """A person came online (first connection) or went offline (last one gone)."""
    return {
        "action_type": "presence",
        "state": state,
        "uid": who.uid,
        "username": who.nickname,
        "photo": who.avatar,
        "group_ids": list(rooms),
    }
