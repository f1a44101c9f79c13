"""Rooms and their people: the list, creating, renaming, joining, leaving, members.

Membership is the server's: a user's connections are in the groups of the rooms
they joined (``room:<id>``, a namespace no client frame can name: the worker joins
them from the token at connect; joining or leaving here moves every open connection
of the user at once), so a page hears every room it belongs to, and leaving stops
it. A room created or renamed is told at once to every logged-in page (the group
``users``, which every authenticated connection is in), a membership change to the
room (``room_member``): pushed, not polled. Online counts and member lists count
people (distinct registered users connected to the room's group,
:mod:`examples.chat.presence`), not connections, and never anonymous protocol clients.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from common.logs import Throttled

from .. import presence
from ..groups import USERS, room_group
from . import payloads
from .db import Store
from .models import Room, User
from .payloads import BadRequest
from .state import (
    PUSH,
    SETTINGS,
    STORE,
    current_user,
    json_body,
    logged_in,
    reply,
    room_or_404,
)

log = logging.getLogger(__name__)
quiet = Throttled(log)  # lines any request can cause while the cluster is away
routes = web.RouteTableDef()
MAX_ROOM_NAME = 20
NOT_OWNER = "只有房主可以修改房间名"
NAME_TAKEN = "这个房间名已被使用"


async def _group_uids(request: web.Request) -> dict[str, list[Any]] | None:
    """Every group's uids, or None if the cluster cannot say (the page still works)."""
    try:
        found: dict[str, list[Any]] = await request.app[PUSH].get_all_group_uid_list()
    except Exception as exc:
        quiet.warning("cluster", "online counts unavailable: %s", exc)
        return None
    return found


@routes.get("/api/rooms")
async def rooms(request: web.Request) -> web.Response:
    """Every room: ``{id, name, online}``, and for a logged-in user ``joined``,
    ``members`` (how many), and for a joined room ``last`` (its latest message) and its
    reading: ``read``, ``unread``, ``latest`` (:mod:`examples.chat.web.reads`)."""
    store = request.app[STORE]
    user = await current_user(request)
    found = await store.run(lambda s: s.rooms())
    members = await store.run(lambda s: s.members(r.id for r in found))
    group_uids = await _group_uids(request)
    counts = None if group_uids is None else presence.online_counts(group_uids, members)
    listed: list[dict[str, Any]] = [
        {
            "id": r.id,
            "name": r.name,
            "online": None if counts is None else counts[r.id],
            "created_by": _owner(r),
        }
        for r in found
    ]
    if user is not None:
        mine = {r.id for r in found if user.id in members[r.id]}
        last, readings = await store.run(
            lambda s: (s.last_in_rooms(mine), s.room_readings(user.id, mine))
        )  # one call: the counts and the latest messages of one moment
        for item in listed:
            message = last.get(item["id"])
            item.update(
                joined=item["id"] in mine,
                members=len(members[item["id"]]),
                last=None if message is None else payloads.new_msg(message),
            )
            if item["id"] in readings:
                item.update(payloads.reading_fields(readings[item["id"]]))
    return reply(listed)


async def _move_connections(request: web.Request, user: User, room: Room, join: bool) -> None:
    """Put the user's open connections in (or out of) the room's group, and tell the
    room; the connections' sessions learn the new room list (for the offline notice)."""
    push, store = request.app[PUSH], request.app[STORE]
    try:
        client_ids = list(await push.get_client_id_by_uid(str(user.id)))
    except Exception as exc:  # the membership stands; connections catch up on reconnect
        quiet.warning("cluster", "connections of user %s unknown: %s", user.id, exc)
        client_ids = []
    mine = await store.run(lambda s: s.rooms_of(user.id))
    frame = payloads.room_member(user, "join" if join else "leave", room.id)
    group = room_group(room.id)
    if not join:  # told while still in the group: the user's other tabs hear it too
        push.send_to_group(group, frame)
    for client_id in client_ids:
        if join:
            push.join_group(client_id, group)
        else:
            push.leave_group(client_id, group)
        push.update_session(client_id, {"rooms": mine})
    if join:
        push.send_to_group(group, frame)


async def _room_name(request: web.Request) -> str:
    body = await json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    name = name.strip() if isinstance(name, str) else ""  # a number, an object: no name
    if not name or len(name) > MAX_ROOM_NAME or not name.isprintable():
        raise BadRequest(f"房间名需要1到{MAX_ROOM_NAME}个可见字符")
    return name


@routes.post("/api/rooms")
async def create_room(request: web.Request) -> web.Response:
    """A new room (or the one of that name); its creator owns it and joins it. A new one
    is told to every user at once (``room`` ``created``, to the group ``users``). A user
    owns at most ``--room-limit`` rooms (403 past it; the one of a name that exists is
    joined, as always)."""
    user = await logged_in(request)
    name = await _room_name(request)
    store, limit = request.app[STORE], request.app[SETTINGS].limits.rooms

    def create(s: Store) -> tuple[Room | None, Room | None]:  # one step on the store's thread
        existed = s.room_named(name)
        if existed is None and s.rooms_owned(user.id) >= limit:
            return None, None
        return existed, s.create_room(name, user.id)

    existed, room = await store.run(create)
    if room is None:
        quiet.warning("rooms", "refused a room of user %d: over --room-limit", user.id)
        raise BadRequest(f"你创建的房间已达上限（{limit}个）", code=403, status=403)
    if existed is None:
        request.app[PUSH].send_to_group(USERS, payloads.room_event("created", room, user))
    if await store.run(lambda s: s.join_room(user.id, room.id)):
        await _move_connections(request, user, room, join=True)
    return reply(
        {
            "id": room.id,
            "name": room.name,
            "online": None,
            "joined": True,
            "created_by": _owner(room),
        }
    )


@routes.post("/api/rooms/{room_id}/rename")
async def rename_room(request: web.Request) -> web.Response:
    """A new name, by the room's owner only (403; the default rooms have none); 409 if
    another room has it. Told to every user at once (``room`` ``renamed``)."""
    user = await logged_in(request)
    room = await room_or_404(request, request.match_info["room_id"])
    if room.created_by != user.id:
        raise BadRequest(NOT_OWNER, code=403, status=403)
    name = await _room_name(request)
    renamed = await request.app[STORE].run(lambda s: s.rename_room(room.id, name))
    if renamed is None:
        raise BadRequest(NAME_TAKEN, code=409, status=409)
    if renamed.name != room.name:
        request.app[PUSH].send_to_group(USERS, payloads.room_event("renamed", renamed, user))
    return reply({"id": renamed.id, "name": renamed.name, "created_by": _owner(renamed)})


def _owner(room: Room) -> str | None:
    return None if room.created_by is None else str(room.created_by)


@routes.post("/api/rooms/{room_id}/join")
async def join_room(request: web.Request) -> web.Response:
    user = await logged_in(request)
    room = await room_or_404(request, request.match_info["room_id"])
    if await request.app[STORE].run(lambda s: s.join_room(user.id, room.id)):
        await _move_connections(request, user, room, join=True)
    return reply({"id": room.id, "name": room.name, "joined": True})


@routes.post("/api/rooms/{room_id}/leave")
async def leave_room(request: web.Request) -> web.Response:
    user = await logged_in(request)
    room = await room_or_404(request, request.match_info["room_id"])
    if await request.app[STORE].run(lambda s: s.leave_room(user.id, room.id)):
        await _move_connections(request, user, room, join=False)
    return reply({"id": room.id, "name": room.name, "joined": False})


@routes.get("/api/rooms/{room_id}/members")
async def room_members(request: web.Request) -> web.Response:
    """The room's members, online ones first: ``{online: n, members: [{uid, username,
    photo, online}]}`` (n distinct people)."""
    await logged_in(request)
    room = await room_or_404(request, request.match_info["room_id"])
    store = request.app[STORE]
    ids = (await store.run(lambda s: s.members([room.id])))[room.id]
    users = await store.run(lambda s: s.users_by_id(ids))
    try:
        uids = await request.app[PUSH].get_uid_list_by_group(room_group(room.id))
    except Exception as exc:
        quiet.warning("cluster", "members of room %s: online flags unavailable: %s", room.id, exc)
        uids = []
    online = presence.online_members(uids, ids)
    listed = [
        {
            "uid": str(u),
            "username": users[u].nickname,
            "photo": users[u].avatar,
            "online": str(u) in online,
        }
        for u in ids
        if u in users
    ]
    listed.sort(key=lambda m: not m["online"])  # stable: by join time within each part
    return reply({"online": len(online), "members": listed})
