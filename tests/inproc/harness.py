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
            GatewayConfig(listen="127.0.0.1:0", start_port=0, registers=(register.address,),
                          ws_ping_interval=None, ws_ping_timeout=None, timing=TIMING),
            **gateway,
        )  # fmt: skip
        server = GatewayServer(config)
        async with server, contextlib.AsyncExitStack() as stack:
            running = [
                await stack.enter_async_context(
                    Worker(
                        WorkerConfig(registers=(register.address,), timing=TIMING,
                                     name=f"worker-{n}"),
                        handlers.from_module(app),
                    )
                )
                for n in range(workers)
            ]  # fmt: skip
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
