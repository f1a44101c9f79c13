"""Lifecycle shared by every role: start / serve_forever / close / wait_closed.

A service's background loops run in one :class:`asyncio.TaskGroup`, so a loop that
crashes brings the service down with its traceback instead of vanishing. ``close()``
is synchronous and idempotent; the shutdown itself (tell peers, close clients, wait
for in-flight work) runs in ``_shutdown`` before the loops are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .metrics import GcProbe, LagProbe, MetricsServer, Readiness

if TYPE_CHECKING:
    from prometheus_client.core import Metric
from .ready import print_ready
from .supervisor import SUPERVISED

log = logging.getLogger(__name__)


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to the hard one; return it.

    Every client connection is a descriptor: a gateway (or a load generator) with
    tens of thousands of them needs more than the usual soft limit of 1,024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Service:
    """Base class: subclasses implement ``_start``, ``_loops``, ``_shutdown``, ``info``,
    and for ``--metrics-listen``, ``collect`` and ``ready``."""

    role = "service"

    def __init__(self, metrics_listen: str | None = None) -> None:
        self._close_requested: asyncio.Event | None = None
        self._main: asyncio.Task[None] | None = None
        self._loop_tasks: list[asyncio.Task[Any]] = []
        self.metrics_listen = metrics_listen
        self.metrics: MetricsServer | None = None
        self.loop_lag = LagProbe()
        self.gc_pauses = GcProbe()

    # -- to implement ---------------------------------------------------------------
    async def _start(self) -> None:
        """Bind and connect; return once ready to serve."""

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        """Background coroutines run until close."""
        return []

    async def _shutdown(self) -> None:
        """Graceful part of closing, before the loops are cancelled."""

    def _release(self) -> None:
        """Free sockets and contexts (sync, after the loops are gone)."""

    def info(self) -> dict[str, Any]:
        """What the ready line reports (the addresses actually bound)."""
        return {}

    def collect(self) -> Iterable[Metric]:
        """This role's Prometheus metrics (called on the event loop, per scrape)."""
        return []

    def ready(self) -> Readiness:
        """Whether this role is ready to serve, and if not why (``/readyz``)."""
        return True, ""

    def ready_info(self) -> dict[str, Any]:
        """The ready line: :meth:`info`, and where the metrics are served."""
        info = self.info()
        if self.metrics is not None:
            info["metrics"] = self.metrics.address
        return info

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Bind, connect and start serving; returns when ready."""
        self._close_requested = asyncio.Event()
        try:
            if self.metrics_listen:  # bound first: a busy port is refused before any work
                self.metrics = MetricsServer(self.metrics_listen, self._collect_all, self.ready)
                self.metrics.bind()
            await self._start()
            if self.metrics is not None:
                self.metrics.serve()
        except BaseException:
            self._release_all()
            raise
        self._main = asyncio.create_task(self._run(), name=f"{self.role}-main")

    async def _run(self) -> None:
        assert self._close_requested is not None
        try:
            async with asyncio.TaskGroup() as group:
                self._loop_tasks = [group.create_task(c) for c in self._loops()]
                if self.metrics is not None:
                    self.loop_lag.start()
                    self.gc_pauses.start()
                await self._close_requested.wait()
                try:
                    await self._shutdown()
                finally:
                    for task in self._loop_tasks:
                        task.cancel()
        finally:
            self._release_all()

    def _collect_all(self) -> list[Metric]:
        return [*self.collect(), self.loop_lag.family(), self.gc_pauses.family()]

    def _release_all(self) -> None:
        self.loop_lag.stop()
        self.gc_pauses.stop()
        if self.metrics is not None:
            self.metrics.close()
        self._release()

    async def serve_forever(self) -> None:
        """Run until :meth:`close` (or a crash of a background loop)."""
        if self._main is None:
            await self.start()
        await self.wait_closed()

    def close(self) -> None:
        """Ask the service to stop; safe to call many times and from signal handlers."""
        if self._close_requested is not None:
            self._close_requested.set()

    async def wait_closed(self) -> None:
        """Wait until the service has stopped; re-raise what crashed it."""
        if self._main is not None:
            await asyncio.shield(self._main)

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


async def run_until_signal(service: Service) -> None:
    """Start ``service``, print the ready line, stop gracefully on SIGTERM/SIGINT.

    A second SIGINT exits at once.
    """
    loop = asyncio.get_running_loop()
    interrupted = 0
    # Under a supervisor, a stop is its planned action (gw stop, reload, scale), which it
    # logs itself, with every child's exit code: each child's own lines would be noise.
    said = logging.DEBUG if os.environ.get(SUPERVISED) else logging.INFO

    def on_signal(signum: int) -> None:
        nonlocal interrupted
        if signum == signal.SIGINT:
            interrupted += 1
            if interrupted > 1:
                log.warning("second interrupt: exiting now")
                raise SystemExit(130)
        log.log(said, "%s: %s received, stopping", service.role, signal.Signals(signum).name)
        service.close()

    if os.environ.get(SUPERVISED):
        # A Ctrl-C reaches every process of the terminal's group: a supervised role
        # leaves it to its supervisor, which stops the roles in order (gateways drain
        # while workers still run, then workers, then the register) with SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        loop.add_signal_handler(signal.SIGINT, on_signal, signal.SIGINT)
    loop.add_signal_handler(signal.SIGTERM, on_signal, signal.SIGTERM)
    await service.start()
    print_ready(service.role, service.ready_info())
    await service.wait_closed()
    # Stopped: what is left is the interpreter's exit. A Ctrl-C reaches every process
    # of the group, and a supervisor then also sends SIGTERM; arriving now, after the
    # loop's handlers are gone, it would kill the process (exit -15, an unclean stop).
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)  # (False if it had none: SIGINT, supervised)
        signal.signal(signum, signal.SIG_IGN)
    log.log(said, "%s: stopped", service.role)


def run(service: Service) -> None:
    """Run a service in a fresh event loop (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(run_until_signal(service))
    else:
        uvloop.run(run_until_signal(service))
