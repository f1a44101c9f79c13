"""The in-process tests' app: messages drive the API, async handlers take their time.

A message is JSON: ``{"echo": n, "sleep": s}`` answers ``{"echo": n}`` after
sleeping ``s`` seconds (async: other clients' events run meanwhile);
``{"join": g}`` joins group g and answers ``{"joined": g}``; ``{"group": g,
"say": x}`` sends ``x`` to group g; ``{"bug": true}`` raises in the handler;
``{"whoami": true}`` answers the name of the worker the API sends through (and the
client_id).

``on_worker_start`` notes, for each worker, the cluster the API finds there and in a
task it starts (:data:`STARTED`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from business import api

HANDLED: list[tuple[str, Any]] = []
STARTED: dict[str, tuple[Any, Any]] = {}  # worker name -> (api.cluster there, in its task)


async def on_worker_start(worker: Any) -> None:
    async def later() -> Any:
        await asyncio.sleep(0)
        return api.cluster

    task = asyncio.get_running_loop().create_task(later())
    STARTED[worker.config.name] = (api.cluster, await task)


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
    if request.get("whoami"):
        api.send_to_current_client({"worker": api.cluster.name, "client_id": client_id})
    if request.get("bug"):
        raise RuntimeError("a handler bug")
