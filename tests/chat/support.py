"""Helpers of the chat tests: a cluster as ``make run`` starts it, the web backend as a
child process, tokens, and a protocol client."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from examples.chat.web import tokens
from tests.harness import ROOT, UNIT, Cluster, GwProcess, ReadyProcess, ws_url

APP = "examples.chat.worker.app"
AUTH_SECRET = secrets.token_urlsafe(32)  # one per test run, as make run generates one
GRACE = 1.5 * UNIT  # seconds before the worker says someone's last connection left

# The document's users and group
AKESU = ("10086", "阿克苏")
LAMU = ("10000", "拉姆才让")
WUCHEN = ("2023", "無尘")
GROUP = 100


@dataclass
class ChatCluster:
    register: GwProcess
    gateway: GwProcess
    worker: GwProcess

    @property
    def ws(self) -> str:
        return ws_url(self.gateway)

    @property
    def register_address(self) -> str:
        return str(self.register.info["listen"])

    def ws_with(self, token: str) -> str:
        return f"{self.ws}?token={quote(token)}"


def start_chat(cluster: Cluster, grace: float = GRACE) -> ChatCluster:
    """Register, a gateway verifying tokens (anonymous clients allowed), one worker."""
    register = cluster.register()
    gateway = cluster.start(
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--start-port",
        "0",
        "--register",
        register.info["listen"],
        "--heartbeat",
        "0.2",
        "--log-level",
        "debug",
        "--ws-ping-interval",
        "0",
        env={"GW_AUTH_SECRET": AUTH_SECRET, "GW_AUTH_OPTIONAL": "1"},
    )
    worker = cluster.start(
        "worker",
        "--app",
        APP,
        "--register",
        register.info["listen"],
        "--count",
        "1",
        "--heartbeat",
        "0.2",
        "--log-level",
        "debug",
        env={"CHAT_PRESENCE_GRACE": str(grace)},
    )
    return ChatCluster(register, gateway, worker)


def token(
    uid: int | str,
    nickname: str = "",
    avatar: str = "",
    rooms: Iterable[int] = (),
    ttl: int = 300,
    secret: str = AUTH_SECRET,
) -> str:
    """A token as the web backend issues it."""
    claims = tokens.claims(int(uid), nickname or f"user{uid}", avatar, rooms, time.time(), ttl)
    return tokens.issue(secret, claims)


MANY = "100000"  # the limits of the suites' backends (test_web checks small ones)


class WebProcess(ReadyProcess):
    """``python -m examples.chat.web`` as a child process, ready once it printed GW-READY."""

    def __init__(self, *args: str, cwd: Path | None = None, auth: bool = True) -> None:
        command = [sys.executable, "-m", "examples.chat.web", *args]
        env = {"GW_AUTH_SECRET": AUTH_SECRET} if auth else {"GW_AUTH_SECRET": ""}
        # the suites sign up many users from here, and make many rooms and uploads
        env.update(CHAT_REGISTER_LIMIT=MANY, CHAT_ROOM_LIMIT=MANY, CHAT_UPLOAD_LIMIT=MANY)
        super().__init__(command, "chat web", env=env, cwd=cwd or ROOT)

    @property
    def url(self) -> str:
        return f"http://{self.info['listen']}"


def start_web(chat: ChatCluster, db: Path) -> WebProcess:
    process = WebProcess(
        "--listen",
        "127.0.0.1:0",
        "--register",
        chat.register_address,
        "--db",
        str(db),
        "--ws-url",
        chat.ws,
    )
    process.wait_ready()
    return process


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

    async def next(self, action_type: str | None = None, timeout: float = 10 * UNIT) -> Any:
        """The next frame, skipping presence announcements (people of other tests come
        and go in shared rooms); with ``action_type``, the next frame of that type,
        skipping the app's other announcements (pushes leave the backend after its
        HTTP reply, so one may land after a client joined a group)."""
        skipped = ("presence",) if action_type is None else ("presence", "room_member")
        while True:
            frame = await self.recv(timeout)
            kind = frame.get("action_type")
            if kind == action_type or (action_type is None and kind not in skipped):
                return frame
            assert kind in skipped, f"expected {action_type}, got {frame}"

    async def quiet(self, uid: str = "x") -> list[Any]:
        """:meth:`ping_pong` without presence announcements."""
        return [f for f in await self.ping_pong(uid) if f.get("action_type") != "presence"]

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

    async def ping_pong(self, uid: str = "x") -> list[Any]:
        """Frames received before the reply to an unknown event (which the worker sends
        after everything it queued earlier for this client). An authenticated client
        passes its own uid (a frame claiming another is refused)."""
        content = f"marker-{id(self)}-{time.monotonic()}"
        marker = {
            "event": "ping",
            "mode": 1,  # (a private chat's group_id is 0)
            "group_id": 0,
            "from_user_id": uid,
            "from_username": "x",
            "content": content,
        }
        await self.send(marker)
        seen = []
        while True:
            frame = await self.recv()
            data = frame.get("data")
            if (
                frame.get("msg") == "default invalid"
                and isinstance(data, dict)
                and data.get("content") == content
            ):
                assert frame["code"] == 400, frame
                return seen
            seen.append(frame)

    async def close(self) -> None:
        await self.ws.close()


def join_frame(user: tuple[str, str], mode: int, group_id: int, to: str = "") -> dict[str, Any]:
    return {
        "event": "join",
        "mode": mode,
        "group_id": group_id,
        "from_user_id": user[0],
        "from_username": user[1],
        "to_user_id": to,
        "content": "加入会话",
    }


def speak_frame(
    user: tuple[str, str], mode: int, group_id: int, to: str, content: str
) -> dict[str, Any]:
    return {
        "event": "speak",
        "mode": mode,
        "group_id": group_id,
        "from_user_id": user[0],
        "from_username": user[1],
        "to_user_id": to,
        "content": content,
    }
