"""Register, gateway and worker in the test's own event loop, on ports chosen by the OS.

The middle tier between the pure unit tests and the process tests: the real services
(:class:`RegisterServer`, :class:`GatewayServer`, :class:`Worker`) and real sockets,
with no process start-up, so that sequencing and fan-out can be tested fast and their
state read directly. The worker runs the app module given (its handlers use the
process's one ``business.api``, as in a real worker: one worker per test).
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
    worker: Worker

    def url(self, path: str = "/") -> str:
        return f"ws://{self.gateway.addresses.public}{path}"

    def client(self, path: str = "/", **kwargs: Any) -> Any:
        """``async with cluster.client() as ws:`` a websockets client of the gateway."""
        return connect(self.url(path), open_timeout=10, **kwargs)


@contextlib.asynccontextmanager
async def cluster(app: ModuleType, **gateway: Any) -> AsyncIterator[InProcess]:
    """Start the three services (gateway options as keyword arguments); stop them after."""
    register = RegisterServer(RegisterConfig("127.0.0.1:0", TIMING))
    await register.start()
    try:
        config = replace(
            GatewayConfig(listen="127.0.0.1:0", start_port=0, registers=(register.address,),
                          ws_ping_interval=None, ws_ping_timeout=None, timing=TIMING),
            **gateway,
        )  # fmt: skip
        server = GatewayServer(config)
        async with server:
            worker = Worker(
                WorkerConfig(registers=(register.address,), timing=TIMING),
                handlers.from_module(app),
            )
            async with worker:
                await wait_linked(worker, server)
                yield InProcess(register, server, worker)
    finally:
        register.close()
        await register.wait_closed()


async def wait_linked(worker: Worker, gateway: GatewayServer) -> None:
    """Until the gateway has the worker (its Hello arrived): events then go to it."""
    from tests.harness import eventually_async

    await eventually_async(lambda: gateway.dispatcher.pool.live())


async def recv_json(ws: ClientConnection, timeout: float = 10.0) -> Any:
    import asyncio
    import json

    return json.loads(await asyncio.wait_for(ws.recv(), timeout))
