"""Marking conversations read: ``POST /api/read``, and the user's other pages told.

A page that shows a conversation's latest messages posts ``{group_id, msg_id}`` (a
room it belongs to) or ``{to_user_id, msg_id}`` (a private conversation); the position
is kept on the server (:mod:`examples.chat.web.reads`) and the new
:class:`~examples.chat.web.models.Reading` is pushed, as a ``read`` frame, to every
connection of the user (their uid, through the cluster): a badge cleared on the phone
is cleared on the desktop at once.

The lists carry the same fields (``GET /api/rooms``, ``GET /api/users``). The order in
which a page gets a ``read`` frame and a message does not matter: a reading counts
the messages up to its ``latest``, the page adds those of others after it, and it
keeps the reading that is furthest on (a later one never has a smaller ``read`` or
``latest``).
"""

from __future__ import annotations

from aiohttp import web

from . import payloads
from .conversations import joined_room, peer
from .state import PUSH, STORE, json_body, logged_in, reply

routes = web.RouteTableDef()


@routes.post("/api/read")
async def mark_read(request: web.Request) -> web.Response:
    """The user has read a conversation up to ``msg_id``: the reading, also pushed to
    their pages."""
    user = await logged_in(request)
    order = payloads.parse_read(await json_body(request))
    store = request.app[STORE]
    if order.to_user_id is None:
        room = await joined_room(request, user, order.group_id)
        reading = await store.run(lambda s: s.read_room(user.id, room.id, order.msg_id))
    else:
        other = await peer(request, user, order.to_user_id)
        reading = await store.run(lambda s: s.read_private(user.id, other.id, order.msg_id))
    frame = payloads.read(order.group_id, order.to_user_id, reading)
    request.app[PUSH].send_to_uid(str(user.id), frame)
    return reply(frame)
