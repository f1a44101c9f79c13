"""A real HTTP client (aiohttp) for ``gw api`` processes, and how the tests start one."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import aiohttp

from tests.harness import FAST, UNIT, Cluster, GwProcess

KEY = "test-api-key-0123456789abcdef"
OTHER_KEY = "rotated-api-key-abcdef0123456789"


def start_api(
    gw: Cluster,
    register: GwProcess | str,
    *extra: str,
    key: str | None = KEY,
    env: dict[str, str] | None = None,
    ready: bool = True,
) -> GwProcess:
    """``gw api`` on a free loopback port; its key in GW_API_KEY (as deployments give it)."""
    address = register if isinstance(register, str) else register.info["listen"]
    return gw.start(
        "api",
        "--listen",
        "127.0.0.1:0",
        "--register",
        address,
        *FAST,
        *extra,
        env={**({"GW_API_KEY": key} if key else {}), **(env or {})},
        ready=ready,
    )


class Answer:
    """One HTTP answer: status, headers, JSON body (or text)."""

    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status, self.headers, self.text = status, headers, text
        try:
            self.json: Any = json.loads(text)
        except ValueError:
            self.json = None

    @property
    def result(self) -> Any:
        assert self.status == 200 and "result" in self.json, (self.status, self.text)
        return self.json["result"]

    @property
    def code(self) -> str:
        assert isinstance(self.json, dict) and "error" in self.json, (self.status, self.text)
        return str(self.json["error"]["code"])

    @property
    def message(self) -> str:
        return str(self.json["error"]["message"])

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:300]}>"


class HttpApi:
    """A keep-alive session to one ``gw api``: ``await api.call("send_to_all", message=...)``."""

    def __init__(self, process: GwProcess | str, key: str | None = KEY) -> None:
        address = process if isinstance(process, str) else process.info["listen"]
        self.base = f"http://{address}"
        self.key = key
        self.session: aiohttp.ClientSession | None = None
        self.made: list[str] = []  # every call made, by name

    async def __aenter__(self) -> HttpApi:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30 * UNIT))
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.session is not None
        await self.session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "",
    ) -> Answer:
        assert self.session is not None
        key = self.key if key == "" else key
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        async with self.session.request(
            method, self.base + path, data=body, headers=sent
        ) as answer:
            return Answer(answer.status, dict(answer.headers), await answer.text())

    async def call(self, name: str, _key: str | None = "", **args: Any) -> Answer:
        self.made.append(name)
        return await self.request("POST", f"/api/v1/{name}", json.dumps(args).encode(), key=_key)

    async def result(self, name: str, **args: Any) -> Any:
        """A call's result (asserting it succeeded, and that no gateway was missing)."""
        answer = await self.call(name, **args)
        assert answer.status == 200, answer
        assert answer.json.get("missing", []) == [], answer
        return answer.json["result"]

    async def batch(self, items: list[Any]) -> Answer:
        return await self.request("POST", "/api/v1/batch", json.dumps(items).encode())

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path, key=None)


def cmdline(pid: int) -> str:
    """A process's command line, as ``ps`` shows it to every user."""
    with open(f"/proc/{pid}/cmdline", "rb") as raw:
        return raw.read().decode(errors="replace").replace("\0", " ")
