"""Register, gateway and worker in the test's own event loop, on ports chosen by the OS.

The middle tier between the pure unit tests and the process tests: the real services
(:class:`RegisterServer`, :class:`GatewayServer`, :class:`Worker`) and real sockets,
with no process start-up, so that sequencing and fan-out can be tested fast and their
state read directly. The workers run the app module given; its handlers use
``business.api``, as in a real worker, and each handler's calls go through its own
worker (several workers share the process).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from business import handlers
from business.worker import Worker
from common.config import GatewayConfig, RegisterConfig, Timing, WorkerConfig
from gateway.server import GatewayServer
from register.server import RegisterServer

TIMING = Timing(heartbeat=0.2, timeout=0.7, query_timeout=5.0)


@dataclass
class InProcess:
    register: RegisterServer
    gateway: GatewayServer
    workers: list[Worker]

    @property
    def worker(self) -> Worker:
        return self.workers[0]

    def url(self, path: str = "/") -> str:
        return f"ws://{self.gateway.addresses.public}{path}"

    def client(self, path: str = "/", **kwargs: Any) -> Any:
        """``async with cluster.client() as ws:`` a websockets client of the gateway."""
        return connect(self.url(path), open_timeout=10, **kwargs)


@contextlib.asynccontextmanager
async def cluster(app: ModuleType, workers: int = 1, **gateway: Any) -> AsyncIterator[InProcess]:
    """Start a register, a gateway (options as keyword arguments) and ``workers``
    workers (named worker-0...); stop them after."""
    register = RegisterServer(RegisterConfig("127.0.0.1:0", TIMING))
    await register.start()
    try:
        config = replace(
            GatewayConfig(
                listen="127.0.0.1:0",
                start_port=0,
                registers=(register.address,),
                ws_ping_interval=None,
                ws_ping_timeout=None,
                timing=TIMING,
            ),
            **gateway,
        )
        server = GatewayServer(config)
        async with server, contextlib.AsyncExitStack() as stack:
            running = [
                await stack.enter_async_context(
                    Worker(
                        WorkerConfig(
                            registers=(register.address,), timing=TIMING, name=f"worker-{n}"
                        ),
                        handlers.from_module(app),
                    )
                )
                for n in range(workers)
            ]
            await wait_linked(server, workers)
            yield InProcess(register, server, running)
    finally:
        register.close()
        await register.wait_closed()


async def wait_linked(gateway: GatewayServer, workers: int) -> None:
    """Until the gateway has every worker (their Hello arrived): events then go to them."""
    from tests.harness import eventually_async

    await eventually_async(lambda: len(gateway.dispatcher.pool.live()) == workers)


async def recv_json(ws: ClientConnection, timeout: float = 10.0) -> Any:
    import asyncio
    import json

    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


@dataclass
class Running:
    """A service started in this process, shaped as the process tests' handles: its
    ready line's ``info`` (addresses, pid), and the service itself."""

    service: Any
    info: dict[str, Any]


class Services:
    """Registers, gateways and workers started by one test in its own loop, as
    ``tests.harness.Cluster`` starts processes; all stopped at the end, in reverse
    order (workers, then gateways, then registers)."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack
        self._workers = 0

    async def _start(self, service: Any) -> Any:
        await self._stack.enter_async_context(service)
        return service

    async def register(self) -> Running:
        register = await self._start(RegisterServer(RegisterConfig("127.0.0.1:0", TIMING)))
        return Running(register, {"listen": register.address, **register.info()})

    async def gateway(self, register: Running, **config: Any) -> Running:
        base = GatewayConfig(
            listen="127.0.0.1:0",
            start_port=0,
            registers=(register.info["listen"],),
            ws_ping_interval=None,
            ws_ping_timeout=None,
            timing=TIMING,
        )
        gateway = await self._start(GatewayServer(replace(base, **config)))
        return Running(gateway, gateway.info())

    async def worker(self, register: Running, app: str | ModuleType, count: int = 1) -> Running:
        """``count`` workers running ``app`` (a module, or its import string)."""
        loaded = handlers.load(app) if isinstance(app, str) else handlers.from_module(app)
        started = []
        for _ in range(count):
            self._workers += 1
            config = WorkerConfig(
                registers=(register.info["listen"],), timing=TIMING, name=f"worker-{self._workers}"
            )
            started.append(await self._start(Worker(config, loaded)))
        return Running(started, {"pid": os.getpid(), "workers": len(started)})


@contextlib.asynccontextmanager
async def services() -> AsyncIterator[Services]:
    async with contextlib.AsyncExitStack() as stack:
        yield Services(stack)
