"""Presence by person, not by connection (pure, no I/O).

A person may have several connections (tabs, a phone) and the raw protocol's
anonymous clients have none of their own; what the page shows counts people:

- the worker announces a person ``online`` to their rooms when their first
  connection arrives, and ``offline`` when their last one has been gone for a grace
  period (a reload or a short network drop says nothing);
- online counts and member lists are distinct registered uids (``"7"``), never
  connections, never ``guest:`` uids.

After a reload the new connection may be announced ``online`` again (workers are
stateless: none knows the person was there a moment ago), so a page keeps the set
of people online and shows a notice only when it changes.

The worker announces (:mod:`examples.chat.worker.notices`); the web backend counts
who is online in a room (:func:`online_counts`, :func:`online_members`): both read
this module, neither the other's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .groups import is_registered, room_group


def is_alone(client_ids: Iterable[str], me: str) -> bool:
    """True if a uid's connections are only ``me`` (or none): a person's first/last."""
    return all(cid == me for cid in client_ids)


def people(uids: Iterable[Any]) -> set[str]:
    """The distinct registered users among a group's uids (guests left out)."""
    return {uid for uid in uids if is_registered(uid)}


def online_members(group_uids: Iterable[Any], members: Iterable[int]) -> set[str]:
    """Who of a room's members is connected to its group."""
    wanted = {str(m) for m in members}
    return people(group_uids) & wanted


def online_counts(
    group_uids: Mapping[str, Iterable[Any]], members: Mapping[int, Iterable[int]]
) -> dict[int, int]:
    """Per room: how many of its members are connected to its group (distinct people);
    ``group_uids`` is every group's uids, as ``get_all_group_uid_list`` answers."""
    return {
        room: len(online_members(group_uids.get(room_group(room), ()), ids))
        for room, ids in members.items()
    }
