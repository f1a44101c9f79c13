"""Conversations: sending (the document's ``send2Server``), history pages, what a page
missed, and the contacts of private chats.

``POST /api/send`` adds the logged-in user's nickname and avatar to what the page
posts (design document 000: the server attests who speaks); a media message must
name a file uploaded here (:func:`examples.chat.web.payloads.parse_send`) that exists. It
stores the message and
pushes it through the cluster to the room's group (``room:<id>``), or to both users of a private
message. The insert and the push happen under one lock, so pushes leave in message
id order. The first private message between two people puts each one's open
connections in the other's presence group (``watch:<uid>``), as their next
connections' tokens will.

Reading uses message ids as cursors: ``?before=<id>`` pages history backwards
(``limit`` ≤ 200), and ``GET /api/updates?after=<id>`` returns what the user may
see after an id, for a page coming back from a disconnection::

    {"messages": [<new_msg>...], "cursor": 123, "more": false}

``cursor`` is the ``after`` of the next call: with ``more`` false, the page has
everything up to it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from business import AsyncGatewayClient
from common.logs import Throttled

from ..groups import room_group, watch_group
from . import media, payloads
from .history import MAX_PAGE
from .models import Reading, Room, User
from .payloads import BadRequest
from .state import (
    GUARDS,
    LATER,
    NO_ROOM,
    NO_USER,
    PUSH,
    SETTINGS,
    STORE,
    form_parts,
    holding,
    json_body,
    logged_in,
    number,
    query_int,
    reply,
    room_or_404,
    take_upload,
)

log = logging.getLogger(__name__)
quiet = Throttled(log)  # lines any request can cause while the cluster is away
routes = web.RouteTableDef()
PAGE = 50  # messages of a history page unless ?limit= says otherwise
GONE = "文件不存在，请重新上传"
# Private chats are with someone else: the page offers none with yourself (you are not
# among your contacts), and the API says why rather than "no such user".
SELF = "不能给自己发私聊消息"
NOTHING_READ = Reading(0, 0, 0)  # a contact without a conversation


def _limit(request: web.Request) -> int:
    return max(1, min(MAX_PAGE, query_int(request, "limit", PAGE) or PAGE))


@routes.get("/api/rooms/{room_id}/messages")
async def room_messages(request: web.Request) -> web.Response:
    """A page of a room's history, oldest first (anyone logged in may look before joining)."""
    await logged_in(request)
    room = await room_or_404(request, request.match_info["room_id"])
    limit, before = _limit(request), query_int(request, "before", None)
    history = await request.app[STORE].run(lambda s: s.room_history(room.id, limit, before))
    return reply([payloads.new_msg(m) for m in history])


async def peer(request: web.Request, me: User, user_id: int) -> User:
    """The other person of a private conversation: someone else (a private chat with
    yourself is refused, 400 :data:`SELF`), who exists (404 otherwise)."""
    if user_id == me.id:
        raise BadRequest(SELF)
    other = await request.app[STORE].run(lambda s: s.user(user_id))
    if other is None:
        raise BadRequest(NO_USER, status=404)
    return other


@routes.get("/api/private/{user_id}/messages")
async def private_messages(request: web.Request) -> web.Response:
    """A page of the private conversation between the logged-in user and another."""
    me = await logged_in(request)
    other = (await peer(request, me, number(request.match_info["user_id"], NO_USER))).id
    limit, before = _limit(request), query_int(request, "before", None)
    history = await request.app[STORE].run(lambda s: s.private_history(me.id, other, limit, before))
    return reply([payloads.new_msg(m) for m in history])


@routes.get("/api/updates")
async def updates(request: web.Request) -> web.Response:
    """What the user may see after message ``after`` (rooms they belong to, their
    private messages), oldest first; without ``after``, only the current cursor."""
    me = await logged_in(request)
    after, limit = query_int(request, "after", None), _limit(request)

    def read(store: Any) -> tuple[list[Any], int]:  # one call: one consistent view
        found = [] if after is None else store.updates(me.id, after, limit)
        return found, store.last_message_id()

    found, last_id = await request.app[STORE].run(read)
    more = len(found) == limit
    cursor = found[-1].id if more else max(last_id, after or 0)
    return reply({"messages": [payloads.new_msg(m) for m in found], "cursor": cursor, "more": more})


@routes.get("/api/users")
async def users(request: web.Request) -> web.Response:
    """The contacts: everyone else who can log in, ``online`` if a page of theirs is
    connected, ``last``, the latest private message with them, and the conversation's
    reading: ``read``, ``unread``, ``latest`` (:mod:`examples.chat.web.reads`)."""
    me = await logged_in(request)
    store = request.app[STORE]
    everyone, last, readings = await store.run(
        lambda s: (
            [u for u in s.users() if u.id != me.id],
            s.last_private(me.id),
            s.private_readings(me.id),
        )
    )
    online: dict[str, Any] = {}
    if everyone:
        try:
            online = await request.app[PUSH].is_uids_online([str(u.id) for u in everyone])
        except Exception as exc:
            quiet.warning("cluster", "online flags unavailable: %s", exc)
    return reply(
        [
            {
                **u.public(),
                "online": bool(online.get(str(u.id))),
                "last": payloads.new_msg(last[u.id]) if u.id in last else None,
                **payloads.reading_fields(readings.get(u.id, NOTHING_READ)),
            }
            for u in everyone
        ]
    )


@routes.post("/api/upload")
async def upload(request: web.Request) -> web.Response:
    """One multipart ``file``: saved, and its URL returned for a media message. A user
    uploads at most ``--upload-limit`` files an hour (429 with ``Retry-After`` past it)."""
    user = await logged_in(request)
    if request.content_type != "multipart/form-data":
        raise BadRequest("请用表单上传文件")
    take_upload(request, user.id)
    async for part in form_parts(request):
        if part.name == "file" and part.filename:
            decodes, folder = request.app[GUARDS].decodes, request.app[SETTINGS].uploads
            msgtype, url = await media.save(part, holding(request), decodes, folder)
            return reply({"url": url, "msgtype": msgtype})
    raise BadRequest("没有选择文件")


@routes.get("/api/send")
async def send_get(request: web.Request) -> web.Response:
    return reply(None, "请用post方法请求接口", code=100, status=405)


async def joined_room(request: web.Request, user: User, group_id: int) -> Room:
    """The room, if the user is a member: only members speak there, or say they are
    here (403 otherwise; 404 for no such room)."""
    room, member = await request.app[STORE].run(
        lambda s: (s.room(group_id), s.is_member(user.id, group_id))
    )  # one trip to the store's thread
    if room is None:
        raise BadRequest(NO_ROOM, status=404)
    if not member:
        raise BadRequest("请先加入这个房间", code=403, status=403)
    return room


@routes.post("/api/send")
async def send(request: web.Request) -> web.Response:
    user = await logged_in(request)
    order = payloads.parse_send(await json_body(request))
    store, push = request.app[STORE], request.app[PUSH]
    if order.action_type == "login":  # document 000's "login": tell the room I am here
        room = await joined_room(request, user, order.group_id)
        frame = payloads.new_user_login(user, room.id)
        push.send_to_group(room_group(room.id), frame)
        return reply(frame)
    if order.msgtype and not await asyncio.to_thread(
        media.exists, request.app[SETTINGS].uploads, order.content
    ):
        raise BadRequest(GONE)
    to_uid = order.to_user_id
    if to_uid is not None:
        await peer(request, user, to_uid)
    else:
        await joined_room(request, user, order.group_id)
    async with request.app[GUARDS].send:
        message, first = await store.run(  # one trip to the store: stored, and the first?
            lambda s: (
                m := s.add_message(user, order.msgtype, order.content, order.group_id, to_uid),
                to_uid is not None and s.is_first_private(m),
            )
        )
        frame = payloads.new_msg(message)
        if to_uid is None:
            push.send_to_group(room_group(order.group_id), frame)
        else:
            push.send_to_uid([str(to_uid), str(user.id)], frame)
    if to_uid is not None and first:
        later = request.app[LATER]  # beside the answer, which does not wait for it
        task = asyncio.get_running_loop().create_task(
            _watch_each_other(request.app[PUSH], user.id, to_uid)
        )
        later.add(task)
        task.add_done_callback(later.discard)
    return reply(frame)


WATCH_AGAIN = 5.0  # s: after the first joins, the second


async def _watch_each_other(push: AsyncGatewayClient, a: int, b: int) -> None:
    """Two people who have just begun a private conversation: each one's open
    connections are told of the other's presence from now on (their next connections
    are, by their tokens' contacts). Done twice, the second time
    :data:`WATCH_AGAIN` seconds later: a connection opening meanwhile, with a token
    issued before the first message, is not among the first joins (a join twice is
    one)."""
    for turn in range(2):
        if turn:
            await asyncio.sleep(WATCH_AGAIN)
        for me, other in ((a, b), (b, a)):
            try:
                client_ids = await push.get_client_id_by_uid(str(me))
            except Exception as exc:  # the conversation stands; it catches up on reconnect
                quiet.warning("cluster", "connections of user %s unknown: %s", me, exc)
                continue
            for client_id in client_ids:
                push.join_group(client_id, watch_group(other))
