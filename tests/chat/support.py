"""Helpers of the chat tests: the web backend as a child process, and a protocol client."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.harness import ROOT, UNIT, ReadyProcess

# The document's users and group
AKESU = ("10086", "阿克苏")
LAMU = ("10000", "拉姆才让")
WUCHEN = ("2023", "無尘")
GROUP = 100


class WebProcess(ReadyProcess):
    """``python -m examples.chat.web`` as a child process, ready once it printed GW-READY."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        command = [sys.executable, "-m", "examples.chat.web", *args]
        super().__init__(command, "chat web", cwd=cwd or ROOT)

    @property
    def url(self) -> str:
        return f"http://{self.info['listen']}"


class ChatClient:
    """A WebSocket client of the chat protocol (document 001), reading JSON frames."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> ChatClient:
        return cls(await connect(url, **kwargs))

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, timeout: float = 10 * UNIT) -> Any:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def join(self, user: tuple[str, str], mode: int, group_id: int, to: str = "") -> Any:
        """Send the document's join frame; return the reply."""
        frame = join_frame(user, mode, group_id, to)
        await self.send(frame)
        reply = await self.recv()
        assert reply == {"code": 0, "msg": "success", "data": frame}, reply
        return reply

    async def closed(self, timeout: float = 10 * UNIT) -> tuple[int | None, list[Any]]:
        """Wait for the server to close; (close code, frames received before)."""
        frames = []
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(self.ws.recv(), timeout)))
        except ConnectionClosed:
            pass
        code = self.ws.close_code
        return code, frames

    async def ping_pong(self) -> list[Any]:
        """Frames received before the reply to an unknown event (which the worker sends
        after everything it queued earlier for this client)."""
        marker = {"event": "ping", "mode": 2, "group_id": 0, "from_user_id": "x",
                  "from_username": "x", "content": f"marker-{id(self)}"}  # fmt: skip
        await self.send(marker)
        seen = []
        while True:
            frame = await self.recv()
            if frame == {"code": 400, "msg": "default invalid", "data": marker}:
                return seen
            seen.append(frame)

    async def close(self) -> None:
        await self.ws.close()


def join_frame(user: tuple[str, str], mode: int, group_id: int, to: str = "") -> dict[str, Any]:
    return {"event": "join", "mode": mode, "group_id": group_id, "from_user_id": user[0],
            "from_username": user[1], "to_user_id": to, "content": "加入会话"}  # fmt: skip


def speak_frame(
    user: tuple[str, str], mode: int, group_id: int, to: str, content: str
) -> dict[str, Any]:
    return {"event": "speak", "mode": mode, "group_id": group_id, "from_user_id": user[0],
            "from_username": user[1], "to_user_id": to, "content": content}  # fmt: skip
