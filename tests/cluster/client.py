"""A WebSocket test client for the probe app (tests/cluster/apps/probe.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any, ClassVar

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.harness import UNIT, GwProcess, ws_url

SECRET = "edge-test-secret-0123456789abcdef"  # the --jwt-secret of the edge tests


def token(secret: str = SECRET, ttl: float = 60, **claims: Any) -> str:
    """A signed HS256 token that expires in ``ttl`` seconds."""
    return jwt.encode({"exp": int(time.time() + ttl), **claims}, secret, algorithm="HS256")


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, open_timeout=10 * UNIT, **kwargs)


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))


async def refused(url: str, **kwargs: Any) -> int:
    """The HTTP status with which the gateway refuses this upgrade."""
    with pytest.raises(InvalidStatus) as raised:
        await open_ws(url, **kwargs)
    return raised.value.response.status_code


class Probe:
    """A connected client: knows its client_id and reads JSON frames.

    Every probe opened is closed at the end of its test (fixture in conftest), even
    when the test fails half-way.
    """

    opened: ClassVar[list[Probe]] = []

    def __init__(self, ws: ClientConnection, client_id: str, info: dict[str, Any]) -> None:
        self.ws = ws
        self.client_id = client_id
        self.info = info
        self._held: deque[Any] = deque()  # frames read past while waiting for a reply

    @classmethod
    async def open(cls, gateway: GwProcess | str, path: str = "/", **kwargs: Any) -> Probe:
        ws = await connect(ws_url(gateway, path), **kwargs)
        probe = cls(ws, "", {})
        cls.opened.append(probe)
        # the probe app greets with two JSON frames; anything else (e.g. the gateway's
        # ping data, which may overtake them) is held for later reads
        greetings: list[dict[str, Any]] = []
        while len(greetings) < 2:
            frame = await asyncio.wait_for(ws.recv(), 10 * UNIT)
            try:
                greetings.append(json.loads(frame))
            except ValueError:
                probe._held.append(frame)
        probe.client_id = greetings[0]["welcome"]
        probe.info = greetings[1].get("ws_connect", greetings[1])
        return probe

    async def recv(self, timeout: float = 10 * UNIT) -> Any:
        if self._held:
            return self._held.popleft()
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def json(self, timeout: float = 10 * UNIT) -> Any:
        return json.loads(await self.recv(timeout))

    async def send(self, request: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(request))

    async def call(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Have the worker call ``api.name(*args, **kwargs)``; return its reply."""
        await self.send({"call": name, "args": list(args), "kwargs": kwargs})
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), 10 * UNIT)
            try:
                reply = json.loads(frame)
            except (ValueError, TypeError):
                reply = None
            if isinstance(reply, dict) and ("result" in reply or "error" in reply):
                return reply
            self._held.append(frame)

    async def result(self, name: str, *args: Any, **kwargs: Any) -> Any:
        reply = await self.call(name, *args, **kwargs)
        assert "error" not in reply, reply
        assert reply["missing"] == [], reply
        return reply["result"]

    async def barrier(self, sender: Probe) -> list[Any]:
        """Everything this client receives before a marker sent by ``sender``'s worker.

        Commands from one worker to one gateway arrive in order, so a message that
        was going to arrive would come before the marker.
        """
        marker = f"marker-{id(self)}-{asyncio.get_running_loop().time()}"
        await sender.send(
            {"call": "send_to_client", "args": [self.client_id, marker], "reply": False}
        )
        seen = []
        while (message := await self.recv()) != marker:
            seen.append(message)
        return seen

    async def close(self) -> None:
        await self.ws.close()
