"""A test app that reports the identity the gateway verified, event by event.

``on_connect`` (the first event) asks the gateway which uid the connection has, so a
test can tell the uid was bound before any event reached a worker. Every event is
also reported to the clients bound to uid "observer".
"""

from __future__ import annotations

import json
from typing import Any

from business import api


def _observe(event: str, client_id: str) -> None:
    api.send_to_uid("observer", json.dumps({"event": event, "client_id": client_id}))


async def on_connect(client_id: str) -> None:
    _observe("connect", client_id)
    uid = await api.get_uid_by_client_id(client_id)
    api.send_to_current_client(json.dumps({"uid_at_connect": uid, "auth": api.current.auth}))


def on_websocket_connect(client_id: str, data: dict[str, Any]) -> None:
    _observe("ws_connect", client_id)
    if data["query"].get("observer"):
        api.bind_uid(client_id, "observer")
    api.send_to_current_client(
        json.dumps({"data_auth": data["auth"], "current_auth": api.current.auth})
    )


def on_message(client_id: str, message: str | bytes) -> None:
    _observe("message", client_id)
    api.send_to_current_client(json.dumps({"echo": message, "auth": api.current.auth}))
