"""One gateway process: its parts composed, bound, announced, stopped in order; its status.

Client side: :class:`~gateway.edge.Edge` (every connection gets a client_id when its
upgrade request is accepted, ``on_connect``; its request data right after,
``on_websocket_connect``; one event per message; a close event when the connection
is lost, whoever closed it). Worker side: :class:`~gateway.workers.WorkerLink`.
Between them, each client's events go through the
:class:`~gateway.dispatch.Dispatcher` (one in flight, in order), and what workers
send goes out through :class:`~gateway.fanout.Fanout`::

    Connection --(ConnectionHandler)--> Edge --> Dispatcher --> WorkerLink --> workers
    workers --> WorkerLink --> ClientIndex targets --> Fanout --> Connection.write_frames
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import zmq

from common import ids, protocol
from common.binding import refusal
from common.config import GatewayConfig, check_lan_ip, public_address, split_address
from common.exceptions import ConfigError
from common.metrics import Readiness
from common.service import Service
from common.transport import Outbox, Transport, drain, watch

from .clients import ClientIndex
from .connection import OPEN_TIMEOUT
from .dispatch import Dispatcher
from .edge import Edge, policy_of
from .fanout import Fanout
from .keepalive import Keepalive
from .router import WorkerPool, chooser
from .workers import WorkerLink

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_SERVICE_RESTART = 1012
REGISTER_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED


def tls_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """The server's TLS context for ``--tls-cert``/``--tls-key`` (None: plain ws://)."""
    if config.tls_cert is None:
        if config.tls_key is not None:
            raise ConfigError("--tls-key needs --tls-cert")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load --tls-cert/--tls-key: {exc}") from None
    return context


class GatewayServer(Service):
    """One gateway process."""

    role = "gateway"

    def __init__(
        self,
        config: GatewayConfig,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config.metrics_listen)
        self.config = config
        self._clock = clock
        self.epoch = ids.new_epoch()
        self.stats: dict[str, int] = {"messages_out": 0}
        self.index = ClientIndex()
        self.fanout = Fanout(self.stats)
        self.keepalive = Keepalive(config, self.index, self.fanout)
        self.edge = Edge(config, self.index, self.fanout, self.keepalive, self.stats, clock,
                         wall_clock, self.reachable)  # fmt: skip
        self.workers = WorkerLink(config, self.index, self.fanout, self.stats, self.status, clock)
        pool = WorkerPool(chooser(config.router), config.max_pending_events)
        self.dispatcher = Dispatcher(pool, self.workers, self.edge, self.stats)
        self.workers.attach(self.dispatcher)
        self.workers.on_drain = self.close  # gw drain: as SIGTERM
        self.edge.attach(self.dispatcher)
        self._transport: Transport | None = None
        self._registers: list[tuple[Any, Outbox]] = []
        self._registers_up: dict[int, bool] = {}
        self._monitors: list[Any] = []
        self._ws: asyncio.Server | None = None
        self._leaving = False
        self._started = 0.0
        self._unlinked_since: float | None = None  # no register link and no worker
        self._unlinked_said = False
        self.internal_address = ""
        self.public_address = ""
        self.listen_address = ""
        self.public_port = 0

    # -- lifecycle ----------------------------------------------------------------------
    async def _start(self) -> None:
        cfg = self.config
        check_lan_ip(cfg.lan_ip)  # client_ids carry it: a concrete IPv4 address
        cfg.security.check_bind(cfg.internal_listen or cfg.lan_ip, "the gateway's internal port")
        tls = tls_context(cfg)
        self.edge.policy = policy_of(cfg)
        self._transport = Transport(cfg.security, cfg.timing)
        self.internal_address = self.workers.bind(self._transport, self.epoch)
        host, ws_port = split_address(cfg.listen)
        try:
            self._ws = await asyncio.get_running_loop().create_server(
                self.edge.connection,
                host,
                ws_port,
                # shared only when asked (--reuse-port; --count N asks for its own
                # processes): a second gateway on a busy port is an error, not a
                # silent partner that takes a share of the clients
                reuse_port=cfg.reuse_port and ws_port != 0 and hasattr(socket, "SO_REUSEPORT"),
                backlog=4096,  # bursts of handshakes: asyncio's default of 100 drops SYNs
                ssl=tls,
                ssl_handshake_timeout=OPEN_TIMEOUT if tls else None,
            )
        except OSError as exc:
            raise refusal(exc, cfg.listen, "the WebSocket port", "--listen") from None
        self._started = self._clock()
        self._unlinked_since = self._started  # links take a moment: a grace from here
        self.public_port = self._ws.sockets[0].getsockname()[1]
        self.listen_address = f"{host}:{self.public_port}"
        self.public_address = public_address(cfg, host, self.public_port)
        self.workers.public = self.public_address
        edge = self.edge
        edge.internal = (cfg.lan_ip, split_address(self.internal_address)[1])
        edge.internal_address, edge.public_port, edge.epoch = (
            self.internal_address, self.public_port, self.epoch)  # fmt: skip
        for address in cfg.registers:
            sock = self._transport.socket(zmq.DEALER, server=False)
            index = len(self._registers)
            # watched from before it connects: its first handshake is not missed
            self._monitors.append(watch(sock, REGISTER_EVENTS, self._register_event(index)))
            sock.connect(f"tcp://{address.removeprefix('tcp://')}")
            self._registers.append((sock, Outbox(sock)))
        self._announce()
        log.info("gateway %s (epoch %08x) serving %s://%s", self.internal_address, self.epoch,
                 "wss" if tls else "ws", self.public_address)  # fmt: skip

    def info(self) -> dict[str, Any]:
        return {
            "websocket": self.public_address,
            "listen": self.listen_address,
            "internal": self.internal_address,
            "epoch": f"{self.epoch:08x}",
            "tls": self.config.tls_cert is not None,
            "pid": os.getpid(),
        }

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        loops = [self._heartbeat(), self.workers.watch()]
        loops += [self._drain_register(sock) for sock, _ in self._registers]
        loops += self._monitors
        return loops + self.keepalive.loops()

    async def _shutdown(self) -> None:
        # Not ready any more, stop accepting, then close the clients: in waves over
        # --drain-time (1012: reconnect elsewhere, gradually), or all at once (1001).
        # Their close events go to the workers, which must still reach us: only once
        # they have acknowledged them (or after a grace period) do we leave the register.
        count = len(self.index.clients)
        self.edge.stopping = True  # /readyz: 503 from now on
        if self._ws is not None:
            self._ws.close()  # stop listening
        if self.config.drain_time > 0:
            await self.edge.drain(self.config.drain_time, CLOSE_SERVICE_RESTART, 5.0)
        else:
            await self.edge.close_all(CLOSE_GOING_AWAY, 5.0)
        pool = self.dispatcher.pool
        if pool.unacked() and pool.live():
            self.workers.drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.workers.drained.wait(), 2.0)
        self._leaving = True  # no more announces: the register must not re-add us
        for _, outbox in self._registers:
            outbox.send(protocol.encode(protocol.Goodbye(self.internal_address)))
            outbox.flush()
        log.info(
            "gateway %s stopped: %d clients closed, %d events unacknowledged, %d never "
            "handled (no worker)", self.internal_address, count, pool.unacked(),
            len(pool.pending),
        )  # fmt: skip

    def _release(self) -> None:
        for watching in self._monitors:  # never started if the start failed: no warning
            watching.close()
        if self._ws is not None:
            self._ws.close()
        self.workers.close()
        if self._transport is not None:
            self._transport.close(linger=0.5)  # let the Goodbye leave
            self._transport = None

    # -- register -----------------------------------------------------------------------
    def _announce(self) -> None:
        if self._leaving:
            return
        frame = protocol.encode(
            protocol.Announce(self.internal_address, self.public_address, self.epoch)
        )
        for _, outbox in self._registers:
            outbox.send(frame)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.timing.heartbeat)
            self._announce()
            now = self._clock()
            self.workers.sweep(now)
            self._say_links(now)

    # -- reachable: a register link or a worker -----------------------------------------
    def _linked(self) -> bool:
        return bool(self.registers_linked() or self.dispatcher.pool.live())

    def reachable(self) -> bool:
        """Whether a worker can reach this gateway: a register link is up or a worker
        is linked. Without either for longer than a link timeout (from the start, or
        since the last one went), no worker may ever come: new clients get 503."""
        if self._linked():
            self._unlinked_since = None
            return True
        now = self._clock()
        if self._unlinked_since is None:
            self._unlinked_since = now
        return now - self._unlinked_since < self.config.timing.link_timeout

    def _say_links(self, now: float) -> None:
        """Loudly, once, when this gateway becomes unreachable; once when it is back."""
        if self.reachable():
            if self._unlinked_said:
                self._unlinked_said = False
                log.info("gateway %s: linked again (registers %d, workers %d): taking clients",
                         self.internal_address, self.registers_linked(),
                         len(self.dispatcher.pool.live()))  # fmt: skip
        elif not self._unlinked_said:
            self._unlinked_said = True
            log.warning(
                "gateway %s: no register answers at %s (--register) and no worker is linked: "
                "no worker can reach this gateway; new clients get 503 until one does",
                self.internal_address, ", ".join(self.config.registers),
            )  # fmt: skip

    async def _drain_register(self, sock: Any) -> None:
        # The register never talks to gateways; keep the socket's queue empty anyway.
        async for _ in drain(sock):
            pass

    def _register_event(self, index: int) -> Callable[[int, str], None]:
        """Whether each register link is up (its handshake done), for ``/readyz``."""

        def on_event(event: int, endpoint: str) -> None:
            self._registers_up[index] = bool(event & zmq.EVENT_HANDSHAKE_SUCCEEDED)

        return on_event

    def registers_linked(self) -> int:
        return sum(self._registers_up.values())

    # -- metrics and readiness --------------------------------------------------------------
    def collect(self) -> list[Metric]:
        from . import metrics  # prometheus-client: loaded only when metrics are served

        return metrics.families(self.stats, self.index, self.dispatcher.pool, self.workers,
                                self.registers_linked(), self.edge.stopping)  # fmt: skip

    def ready(self) -> Readiness:
        if self.edge.stopping:
            return False, "draining"
        if not self.registers_linked():
            return False, "no register link"
        if not self.dispatcher.pool.live():
            return False, "no worker linked"
        return True, ""

    # -- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What ``gw status`` shows for this gateway."""
        rss = 0
        try:
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        return {
            "pid": os.getpid(),
            "websocket": self.public_address,
            "clients": len(self.index.clients),
            "uids": len(self.index.uids),
            "groups": len(self.index.groups),
            **self.workers.status(),
            "rss_bytes": rss,
            **self.stats,
        }
