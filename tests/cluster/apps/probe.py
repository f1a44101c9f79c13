"""A test app that lets the client drive the API and see every event.

A client message is JSON ``{"call": NAME, "args": [...], "kwargs": {...}}``: the
worker calls ``api.NAME(*args, **kwargs)`` (awaiting queries) and answers
``{"result": ..., "missing": [...]}`` to the current client, or ``{"error": ...}``.
``{"session": {...}}`` sets keys in the current session; ``{"get_session": true}``
answers the session as the handler sees it. Events are reported to uid "observer".
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import os
import threading
from typing import Any

from business import api

STATE: dict[str, Any] = {}


def _observe(event: str, client_id: str, **extra: Any) -> None:
    api.send_to_uid(
        "observer",
        json.dumps({"event": event, "client_id": client_id, "pid": os.getpid(), **extra}),
    )


def on_worker_start(worker: Any) -> None:
    STATE["started"] = os.getpid()


def on_worker_stop(worker: Any) -> None:
    path = os.environ.get("PROBE_STOP_FILE")
    if path:
        with open(path, "a") as log:
            log.write(f"stopped {os.getpid()} after {worker.handled} events\n")
    if os.environ.get("PROBE_STOP_HANGS"):  # a stop that never ends (gw stop --force)
        threading.Event().wait()


def on_connect(client_id: str) -> None:
    api.session["connected_by"] = os.getpid()
    api.send_to_current_client(json.dumps({"welcome": client_id}))


def on_websocket_connect(client_id: str, data: dict[str, Any]) -> None:
    api.session["path"] = data["path"]
    if data["query"].get("uid"):
        api.bind_uid(client_id, data["query"]["uid"])
    if data["query"].get("reject"):
        api.close_current_client(json.dumps({"rejected": True}))
        return
    info = {
        "path": data["path"],
        "query": data["query"],
        "cookies": data["cookies"],
        "remote": data["server"]["REMOTE_ADDR"],
        "user_agent": data["headers"].get("User-Agent") or data["headers"].get("user-agent"),
        "gateway_port": data["server"]["GATEWAY_PORT"],
        "current_remote": api.current.remote,
        "current_gateway": api.current.gateway,
        "current_public": api.current.gateway_public,
    }
    api.send_to_current_client(json.dumps({"ws_connect": info}))


async def on_message(client_id: str, message: str | bytes) -> None:
    if isinstance(message, bytes):
        api.send_to_current_client(message)  # binary echo
        return
    request = json.loads(message)
    if "session" in request:
        api.session.update(request["session"])
        for name in request.get("delete", []):
            api.session.pop(name, None)
        api.send_to_current_client(json.dumps({"ok": True}))
        return
    if "get_session" in request:
        api.send_to_current_client(json.dumps({"session": api.session}))
        return
    if "crash" in request:
        raise RuntimeError("handler crash requested by the test")
    if "hang_if_pid" in request:
        if request["hang_if_pid"] == os.getpid():
            api.send_to_current_client(json.dumps({"hanging": os.getpid()}))
            await _hang_forever()
        api.send_to_current_client(
            json.dumps({"pid": os.getpid(), "redelivered": api.current.redelivered})
        )
        return
    if "count" in request:  # read-modify-write of the session, with an await between
        count = api.session.get("count", 0) + 1
        await asyncio.sleep(request.get("delay", 0))
        api.session["count"] = count
        api.send_to_current_client(json.dumps({"count": count}))
        return
    if "bad_session" in request:
        api.session["when"] = datetime.datetime.now()  # msgpack cannot carry it
        api.send_to_current_client(json.dumps({"ok": True}))
        return
    if "started" in request:
        api.send_to_current_client(json.dumps({"started": STATE.get("started")}))
        return
    if "pid" in request:
        api.send_to_current_client(json.dumps({"pid": os.getpid()}))
        return
    try:
        result = getattr(api, request["call"])(
            *request.get("args", []), **request.get("kwargs", {})
        )
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        api.send_to_current_client(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    reply = {"result": result, "missing": list(getattr(result, "missing", ()))}
    if request.get("reply", True):
        api.send_to_current_client(json.dumps(reply))


def on_close(client_id: str) -> None:
    _observe("close", client_id, session=api.session)


async def _hang_forever() -> None:
    await asyncio.Event().wait()
