"""The chat's business worker: design document 001's ``Events`` class on our cluster.

Run it with ``gw worker --app examples.chat.worker.app --register 127.0.0.1:1236`` (or
``gw up --app examples.chat.worker.app``). The rules live in :mod:`examples.chat.worker.requests`
(the document's frames and replies) and :mod:`examples.chat.worker.identity` (who may
claim what); this module only maps them onto the Gateway API:

- a refused frame (bad JSON, not an object, a validation error): reply 400, close;
- ``join``: mode 2 joins the document's group of that number (never a room's: see
  :mod:`examples.chat.worker.identity`), mode 1 binds the uid; the session remembers
  who the client is; the client gets ``{code: 0, msg: "success", data: <frame>}``;
- ``speak``: mode 1 goes to ``to_user_id``'s connections, mode 2 to the group;
- any other event: ``{code: 400, msg: "default invalid"}``, connection kept;
- a frame of an authenticated connection claiming another user: ``{code: 403}``, kept;
- a handler error: ``{code: 500, msg: <error>}`` (as the document's catch-all), the
  connection kept.

Log lines a client can cause (a refused id, a handler error, a presence check that
failed) are rate-limited: at most one a second of each kind, with a count of those
held back (:class:`common.logs.Throttled`).

An authenticated connection (the gateway verified its token and bound its uid)
joins its rooms' groups (``room:<id>``), the group of every user (``users``) and its
contacts' presence groups (``watch:<uid>``: the people of its private conversations)
at connect and gets a ``welcome`` frame; its person is announced ``online`` to those
rooms and to their own presence group (whoever has a private conversation with them,
sharing a room or not) if this is their first connection, and ``offline`` once their
last one has been gone for ``CHAT_PRESENCE_GRACE`` seconds (environment, default 5),
so that a reload or a short drop says nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Coroutine
from typing import Any

from business import api
from common.exceptions import GatewayError
from common.logs import Throttled

from .. import groups, presence
from . import identity, notices, requests
from .identity import Forbidden, Identity
from .requests import Rejected, Request

log = logging.getLogger(__name__)
quiet = Throttled(log)  # the lines a client's frames or connections can cause
_later: set[asyncio.Task[None]] = set()  # presence checks under way


GRACE = 5.0  # s: the default of CHAT_PRESENCE_GRACE


def grace() -> float:
    """Seconds a person's last connection has been gone before they are announced
    offline (``CHAT_PRESENCE_GRACE``, default 5; read when it is needed). A value
    that is not a number of seconds is said (once a minute) and the default used:
    the offline notices go on."""
    raw = os.environ.get("CHAT_PRESENCE_GRACE", str(GRACE))
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 3600:
        quiet.warning(
            "grace", "CHAT_PRESENCE_GRACE=%r is not 0-3600 seconds: %g used", raw[:40], GRACE
        )
        return GRACE
    return value


def _caller() -> Identity | None:
    """The current connection's verified identity (the gateway's token claims)."""
    return identity.from_claims(api.current.auth)


def on_websocket_connect(client_id: str, data: dict[str, Any]) -> None:
    server = data.get("server", {})
    api.session["client_ip"] = requests.client_ip(server)
    api.session["browser"] = requests.browser(server.get("HTTP_USER_AGENT"))
    who = identity.from_claims(data.get("auth"))
    if who is None:
        return
    api.session.update(
        from_user_id=who.uid,
        from_username=who.nickname,
        from_avatar=who.avatar,
        rooms=list(who.rooms),
    )
    for room in who.rooms:  # the server's groups (a client's raw join names other ones)
        api.join_group(client_id, groups.room_group(room))
    api.join_group(client_id, groups.USERS)  # rooms created and renamed are told there
    for contact in who.contacts:  # their coming and going is told there
        api.join_group(client_id, groups.watch_group(contact))
    api.send_to_current_client(notices.welcome(who, client_id))  # after the joins: ready
    _spawn(_online_if_first(client_id, who))  # asked apart: the next frames do not wait


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a presence check beside the client's events (kept referenced until done)."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _later.add(task)
    task.add_done_callback(_later.discard)


async def _online_if_first(client_id: str, who: Identity) -> None:
    """Announce ``online`` to the person's rooms if this is their only connection."""
    try:
        connections = await api.get_client_id_by_uid(who.uid)
    except GatewayError as exc:  # say nothing rather than something false
        quiet.info("presence", "client %s: presence unknown: %s", client_id, exc)
        return
    if connections.complete and presence.is_alone(connections, client_id):
        rooms = list(who.rooms)
        frame = notices.announcement(who, "online", rooms)  # to the others: never to yourself
        api.send_to_group(_told(who, rooms), frame, exclude=[client_id])


def _told(who: Identity, rooms: list[int]) -> list[str]:
    """The groups a person's presence is told to: their rooms', and their watchers'."""
    return [*groups.room_groups(rooms), groups.watch_group(who.uid)]


def on_message(client_id: str, message: str | bytes) -> None:
    try:
        who = _caller()
        _dispatch(client_id, identity.attest(requests.parse(message), who), who)
    except Rejected as refused:
        api.close_current_client(refused.reply)
    except Forbidden as refused:
        api.send_to_current_client(refused.reply)
    except GatewayError as exc:  # e.g. a uid or group id the cluster refuses
        quiet.info("refused", "client %s: %s", client_id, exc)
        api.send_to_current_client(requests.reply(500, str(exc)))
    except Exception as exc:  # a bug: the client hears of it, as the document's catch-all
        quiet.exception("failed", "client %s: on_message failed", client_id)
        api.send_to_current_client(requests.reply(500, str(exc) or type(exc).__name__))


def _dispatch(client_id: str, request: Request, who: Identity | None) -> None:
    original = request.original
    if request.event == "join":
        if request.mode == 2:
            api.join_group(client_id, request.group_id)
        elif who is None:  # an authenticated connection's uid is bound by the gateway
            api.bind_uid(client_id, identity.bind_target(request, who))
        api.session.update(
            mode=request.mode,
            event=request.event,
            group_id=original["group_id"],  # at most 19 digits: storable
            from_user_id=requests.storable(original["from_user_id"]),
            from_username=requests.storable(original["from_username"]),
            from_avatar=request.from_avatar,
        )
        api.send_to_current_client(requests.reply(0, "success", original))
    elif request.event == "speak":
        if request.mode == 1:
            to_user_id = requests.recipient(request)
            if to_user_id is None:
                api.send_to_current_client(requests.reply(400, requests.TO_USER_REQUIRED, original))
                return
            api.send_to_uid(
                identity.private_target(to_user_id, who),
                requests.reply(0, requests.private_text(request), original),
            )
        else:
            api.send_to_group(
                request.group_id, requests.reply(0, requests.group_text(request), original)
            )
    else:
        api.send_to_current_client(requests.reply(400, requests.DEFAULT_INVALID, original))


def on_close(client_id: str) -> None:
    notice = requests.leave_notice(client_id, api.session)
    if notice is not None:
        api.send_to_group(requests.group_key(notice["data"]["group_id"]), notice)
    who = _caller()
    if who is not None:
        rooms = [r for r in api.session.get("rooms", who.rooms) if type(r) is int]
        _spawn(_offline_after_grace(client_id, who, rooms))


async def _offline_after_grace(client_id: str, who: Identity, rooms: list[int]) -> None:
    """Announce ``offline`` if, after the grace period, the person has no connection."""
    await asyncio.sleep(grace())
    try:
        connections = await api.get_client_id_by_uid(who.uid)
    except GatewayError as exc:
        quiet.info("presence", "user %s: presence unknown: %s", who.uid, exc)
        return
    if connections.complete and not connections:
        frame = notices.announcement(who, "offline", rooms)
        api.send_to_group(_told(who, rooms), frame)
        log.debug("client %s closed: user %s offline", client_id, who.uid)
    else:
        log.debug("client %s closed: user %s still here", client_id, who.uid)
