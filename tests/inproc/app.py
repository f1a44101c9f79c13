"""The in-process tests' app: messages drive the API, async handlers take their time.

A message is JSON: ``{"echo": n, "sleep": s}`` answers ``{"echo": n}`` after
sleeping ``s`` seconds (async: other clients' events run meanwhile);
``{"join": g}`` joins group g and answers ``{"joined": g}``; ``{"group": g,
"say": x}`` sends ``x`` to group g; ``{"bug": true}`` raises in the handler.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from business import api

HANDLED: list[tuple[str, Any]] = []


async def on_message(client_id: str, message: str | bytes) -> None:
    request = json.loads(message)
    HANDLED.append((client_id, request))
    if "sleep" in request:
        await asyncio.sleep(request["sleep"])
    if "echo" in request:
        api.send_to_current_client({"echo": request["echo"], "session": api.session.get("n")})
        api.session["n"] = request["echo"]
    if "join" in request:
        api.join_group(client_id, request["join"])
        api.send_to_current_client({"joined": request["join"]})
    if "say" in request:
        api.send_to_group(request["group"], request["say"])
    if request.get("bug"):
        raise RuntimeError("a handler bug")
