"""The chat's business worker: design document 001's ``Events`` class on our cluster.

Run it with ``gw worker --app examples.chat.app --register 127.0.0.1:1236`` (or
``gw up --app examples.chat.app``). The rules live in :mod:`examples.chat.protocol`;
this module only maps them onto the Gateway API:

- a refused frame (bad JSON, not an object, a validation error): reply 400, close;
- ``join``: mode 2 joins the group, mode 1 binds the uid; the session remembers
  who the client is; the client gets ``{code: 0, msg: "success", data: <frame>}``;
- ``speak``: mode 1 goes to ``to_user_id``'s connections, mode 2 to the group;
- any other event: ``{code: 400, msg: "default invalid"}``, connection kept;
- a handler error: ``{code: 500, msg: <error>}`` (as the document's catch-all).
"""

from __future__ import annotations

import logging
from typing import Any

from business import api
from common.exceptions import GatewayError

from . import protocol
from .protocol import Rejected, Request

log = logging.getLogger(__name__)


def on_websocket_connect(client_id: str, data: dict[str, Any]) -> None:
    server = data.get("server", {})
    api.session["client_ip"] = protocol.client_ip(server)
    api.session["browser"] = protocol.browser(server.get("HTTP_USER_AGENT"))


def on_message(client_id: str, message: str | bytes) -> None:
    try:
        request = protocol.parse(message)
    except Rejected as refused:
        api.close_current_client(refused.reply)
        return
    try:
        _dispatch(client_id, request)
    except GatewayError as exc:  # e.g. a uid or group id the cluster refuses
        log.info("client %s: %s", client_id, exc)
        api.send_to_current_client(protocol.reply(500, str(exc)))


def _dispatch(client_id: str, request: Request) -> None:
    original = request.original
    if request.event == "join":
        if request.mode == 2:
            api.join_group(client_id, request.group_id)
        else:
            api.bind_uid(client_id, request.from_user_id)
        api.session.update(
            mode=request.mode,
            event=request.event,
            group_id=original["group_id"],
            from_user_id=original["from_user_id"],
            from_username=original["from_username"],
            from_avatar=request.from_avatar,
        )
        api.send_to_current_client(protocol.reply(0, "success", original))
    elif request.event == "speak":
        if request.mode == 1:
            to_user_id = protocol.recipient(request)
            if to_user_id is None:
                api.send_to_current_client(protocol.reply(400, protocol.TO_USER_REQUIRED, original))
                return
            api.send_to_uid(to_user_id, protocol.reply(0, protocol.private_text(request), original))
        else:
            api.send_to_group(
                request.group_id, protocol.reply(0, protocol.group_text(request), original)
            )
    else:
        api.send_to_current_client(protocol.reply(400, protocol.DEFAULT_INVALID, original))


def on_close(client_id: str) -> None:
    notice = protocol.leave_notice(client_id, api.session)
    if notice is not None:
        api.send_to_group(protocol.group_key(notice["data"]["group_id"]), notice)
