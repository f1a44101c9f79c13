"""The app the multi-host tests load: every message is one "all" or "one" send.

A client connects with ``?uid=U``: it is bound to uid U and joins group "load". A
message is JSON ``{"id": ..., "op": OP, ...}``; the handler sends
``{"id": ..., "by": HOST, "redelivered": bool}`` (HOST: the worker's host, from
GW_TEST_HOST) with:

- ``group``: send_to_group("load")  - ``uid``: send_to_uid(the listed uids)
- ``all``: send_to_all()             - ``client``: send_to_client(the listed client)

so every client receives every group, uid and all message exactly once. ``count``
answers ``{"count": get_all_client_id_count(), "missing": [...]}`` to the sender.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from business import api

HOST = os.environ.get("GW_TEST_HOST", "?")
_QUERIES: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak refs)


def on_websocket_connect(client_id: str, data: dict[str, Any]) -> None:
    api.bind_uid(client_id, data["query"]["uid"])
    api.join_group(client_id, "load")
    api.send_to_current_client(json.dumps({"hello": client_id, "by": HOST}))


def on_message(client_id: str, message: str | bytes) -> None:
    request = json.loads(message)
    if request["op"] == "count":  # a query: awaited in a task, the handler stays inline
        task = asyncio.get_running_loop().create_task(_count(client_id, request["timeout"]))
        _QUERIES.add(task)
        task.add_done_callback(_QUERIES.discard)
        return
    out = json.dumps({"id": request["id"], "by": HOST, "redelivered": api.current.redelivered})
    op = request["op"]
    if op == "group":
        api.send_to_group("load", out)
    elif op == "uid":
        api.send_to_uid(request["uids"], out)
    elif op == "all":
        api.send_to_all(out)
    else:
        api.send_to_client(request["to"], out)


async def _count(client_id: str, timeout: float) -> None:
    count = await api.get_all_client_id_count(timeout=timeout)
    answer = {"count": int(count), "missing": list(count.missing)}
    api.send_to_client(client_id, json.dumps(answer))
