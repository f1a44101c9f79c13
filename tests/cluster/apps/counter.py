"""Plain (sync) handlers in the README's pattern: a session written, then read."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from business import api


def on_websocket_connect(client_id: str, data: dict[str, Any]) -> None:
    api.session["name"] = data["query"].get("name", "guest")


def on_message(client_id: str, message: str | bytes) -> None:
    request = json.loads(message)
    if "sleep" in request:  # blocks the worker's event loop, as a slow DB call would
        time.sleep(request["sleep"])
    count = api.session.get("count", 0) + 1
    api.session["count"] = count
    api.send_to_current_client(
        json.dumps({"name": api.session["name"], "count": count, "pid": os.getpid()})
    )
