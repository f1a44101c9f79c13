"""``gw api``'s process: the push client, the aiohttp server around it, and their lifecycle.

Start: the push client subscribes to the registers (and waits, as every push client
does, up to its query timeout for a complete gateway list; a register that is not
up yet is not an error: ``/readyz`` says 503 until one answers), then the HTTP
server binds and the ready line is printed. Stop (SIGTERM): ``/readyz`` turns 503,
the listening socket closes, idle keep-alive connections close, requests in
progress are finished (up to :data:`STOP_TIMEOUT`), then the push client flushes
what was sent and disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from aiohttp import web

from common.binding import check_free, refusal
from common.config import Security, Timing, split_address
from common.exceptions import NotRunning
from common.httpconns import IDLE_TIMEOUT, PER_ADDRESS, cap_per_address
from common.httplog import quiet_aiohttp
from common.metrics import Readiness
from common.service import Service

from ..client import AsyncGatewayClient
from .auth import KeyRing
from .calls import MAX_TIMEOUT, to_json
from .endpoints import HttpApi
from .openapi import document

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger("business.httpapi")
STOP_TIMEOUT = MAX_TIMEOUT + 5.0  # seconds for requests in progress at a stop


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Settings of one ``gw api`` process."""

    listen: str = "127.0.0.1:8790"
    registers: tuple[str, ...] = ("127.0.0.1:1236",)
    keys: tuple[str, ...] = field(default=(), repr=False)  # never in a repr, a log, a line
    rate_limit: float = 0.0  # requests a second per key (per address without keys); 0: off
    max_body: int = 4 << 20  # bytes of a request body
    idle_timeout: float = IDLE_TIMEOUT  # s without a complete request: closed
    per_address: int = PER_ADDRESS  # connections one address may hold at once
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None


class ApiServer(Service):
    """The HTTP API: every Gateway API call over HTTP, through one push client."""

    role = "api"

    def __init__(self, config: ApiConfig) -> None:
        super().__init__(config.metrics_listen)
        self.config = config
        self.client = AsyncGatewayClient(
            config.registers,
            secret=config.security.secret,
            timeout=config.timing.query_timeout,
            timing=config.timing,
            name="api",
        )
        self.api = HttpApi(
            self.client,
            KeyRing(config.keys),
            rate_limit=config.rate_limit,
            max_body=config.max_body,
            document=to_json(document(version("gatewayworker-py"))),
            metrics=self._scrape,
        )
        self.address = ""
        self._runner: web.AppRunner | None = None
        self._registry: Any = None

    async def _start(self) -> None:
        # a busy port is said at once, before the wait for a register
        check_free(self.config.listen, "the HTTP API's port", "--listen")
        # ConfigError if every register that answered refused our handshake
        await self.client.start()
        app = web.Application(client_max_size=self.config.max_body)
        app.add_routes(self.api.routes())
        quiet_aiohttp(log)  # a malformed request: a line a second, never its headers
        runner = self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=STOP_TIMEOUT,
            keepalive_timeout=self.config.idle_timeout,
        )
        try:
            await runner.setup()
            assert runner.server is not None  # (made by setup)
            cap_per_address(runner.server, self.config.per_address, log)
            host, port = split_address(self.config.listen)
            await web.TCPSite(runner, host, port, backlog=1024).start()
        except BaseException as exc:  # the port is taken, say: nothing is left open
            await runner.cleanup()
            await self.client.close()
            if isinstance(exc, OSError):
                raise refusal(exc, self.config.listen, "the HTTP API's port", "--listen") from None
            raise
        host, port = runner.addresses[0][:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        keys = f"API keys: {len(self.api.keys)}" if len(self.api.keys) else "no API key: --insecure"
        log.info(
            "HTTP API on http://%s/api/v1/ (%s), registers %s",
            self.address,
            keys,
            ", ".join(self.config.registers),
        )

    def info(self) -> dict[str, Any]:
        return {
            "listen": self.address,
            "pid": os.getpid(),
            "url": f"http://{self.address}/api/v1/",
            "registers": list(self.config.registers),
        }

    def ready(self) -> Readiness:
        return self.api.readiness()

    def collect(self) -> list[Metric]:
        try:
            cluster = self.client.cluster
        except NotRunning:  # stopped
            cluster = None
        return self.api.stats.families(self.client, cluster)

    async def _scrape(self) -> bytes:
        """``/metrics`` on the API's own port (on the event loop: no thread involved)."""
        from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_Collector(self))
            ProcessCollector(registry=self._registry)
        return generate_latest(self._registry)

    async def _shutdown(self) -> None:
        self.api.stop()
        if self._runner is not None:
            log.info("stopping: no new requests, finishing those in progress")
            await self._runner.cleanup()
        await asyncio.sleep(0)
        await self.client.close()  # what was sent leaves first


class _Collector:
    """prometheus-client's collector protocol, over the API's counts."""

    def __init__(self, server: ApiServer) -> None:
        self._server = server

    def collect(self) -> list[Metric]:
        return self._server.collect()
