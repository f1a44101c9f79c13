"""One gateway process: its parts built in order, bound, announced, stopped; its status.

Client side: :class:`~gateway.edge.Edge` (every connection gets a client_id when its
upgrade request is accepted, ``on_connect``; its request data right after,
``on_websocket_connect``; one event per message; a close event when the connection
is lost, whoever closed it). Worker side: the :class:`~gateway.internal.InternalPort`
and what arrives on it, :class:`~gateway.workers.WorkerLink`. Between them, each
client's events go through the :class:`~gateway.dispatch.Dispatcher` (one in flight,
in order), and what workers send goes out through :class:`~gateway.fanout.Fanout`::

    Connection --(ConnectionHandler)--> Edge --> Dispatcher --> InternalPort --> workers
    workers --> InternalPort --> WorkerLink --> CommandTable --> ClientIndex --> Fanout

The parts are built once, in dependency order, each given what it needs (as
uvicorn's ``Server`` hands its ``ServerState`` down): what is known only once the
ports are bound, the parts read from :class:`~gateway.addresses.Addresses`, made
first and set once by :meth:`GatewayServer._start`. Nothing is attached later.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from common import ids
from common.binding import refusal
from common.config import GatewayConfig, check_lan_ip, public_address, split_address
from common.exceptions import ConfigError
from common.metrics import Readiness
from common.service import Service
from common.transport import Transport

from .addresses import Addresses
from .clients import ClientIndex
from .commands import CommandTable
from .dispatch import Dispatcher
from .edge import Edge, policy_of
from .fanout import Fanout
from .flow import ClientFlow
from .internal import InternalPort
from .keepalive import Keepalive
from .registers import Reach, RegisterLinks
from .router import WorkerPool, chooser
from .status import Records, status
from .stream import OPEN_TIMEOUT, Traffic
from .workers import LinkCounters, PushClients, WorkerLink

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_SERVICE_RESTART = 1012


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
        # what the parts share, made first: where we are (known once bound), the
        # clients, every connection's bytes
        self.addresses = Addresses(ids.new_epoch(), config.lan_ip)
        self.index = ClientIndex()
        self.traffic = Traffic()
        # then each part, after what it needs
        self.fanout = Fanout()
        self.keepalive = Keepalive(config, self.index, self.fanout)
        self.port = InternalPort(config, self.addresses, self.fanout)
        pool = WorkerPool(chooser(config.router), config.max_pending_events)
        flow = ClientFlow(self.fanout, config.max_pending_events)
        self.dispatcher = Dispatcher(pool, self.port, flow)
        self.registers = RegisterLinks(config, self.addresses)
        self.reach = Reach(config, self.registers, pool, self.addresses, clock)
        self.edge = Edge(
            config,
            policy_of(config),
            self.index,
            self.fanout,
            self.keepalive,
            self.dispatcher,
            self.addresses,
            self.traffic,
            self.reach.reachable,
            clock,
            wall_clock,
        )
        self.commands = CommandTable(self.index, self.fanout, self.close)  # gw drain: as SIGTERM
        # the link answers the status, which reads the link's records: made before it
        peers, link_counters = PushClients(), LinkCounters()
        self.records = Records(
            self.addresses,
            self.index,
            pool,
            self.edge.counters,
            self.dispatcher.counters,
            self.fanout.counters,
            self.port.counters,
            link_counters,
            peers,
            self.traffic,
        )
        self.workers = WorkerLink(
            config,
            self.index,
            self.commands,
            self.dispatcher,
            self.port,
            peers,
            link_counters,
            functools.partial(status, self.records),
            clock,
        )
        self._transport: Transport | None = None
        self._ws: asyncio.Server | None = None

    # -- lifecycle ----------------------------------------------------------------------
    async def _start(self) -> None:
        cfg = self.config
        check_lan_ip(cfg.lan_ip)  # client_ids carry it: a concrete IPv4 address
        cfg.security.check_bind(cfg.internal_listen or cfg.lan_ip, "the gateway's internal port")
        tls = tls_context(cfg)
        self._transport = Transport(cfg.security, cfg.timing)
        internal = self.port.bind(self._transport, self.workers)
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
        port = self._ws.sockets[0].getsockname()[1]
        self.addresses.bound(internal, host, port, public_address(cfg, host, port))
        self.reach.start()  # links take a moment: a grace from here
        self.registers.connect(self._transport)
        self.registers.announce()
        log.info(
            "gateway %s (epoch %08x) serving %s://%s",
            internal,
            self.addresses.epoch,
            "wss" if tls else "ws",
            self.addresses.public,
        )

    def info(self) -> dict[str, Any]:
        where = self.addresses
        return {
            "websocket": where.public,
            "listen": where.listen,
            "internal": where.internal,
            "epoch": f"{where.epoch:08x}",
            "tls": self.config.tls_cert is not None,
            "pid": os.getpid(),
        }

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        loops = [self._heartbeat(), self.port.watch(), *self.registers.loops()]
        return loops + self.keepalive.loops()

    async def _shutdown(self) -> None:
        # Not ready any more, stop accepting, then close the clients: in waves over
        # --drain-time (1012: reconnect elsewhere, gradually), or all at once (1001).
        # Their close events go to the workers, which must still reach us: only once
        # they have acknowledged them (or after a grace period) do we leave the register.
        count = len(self.index.clients)
        self.edge.stop_accepting()  # /readyz: 503 from now on
        if self._ws is not None:
            self._ws.close()  # stop listening
        if self.config.drain_time > 0:
            await self.edge.drain(self.config.drain_time, CLOSE_SERVICE_RESTART, 5.0)
        else:
            await self.edge.close_all(CLOSE_GOING_AWAY, 5.0)
        pool = self.dispatcher.pool
        if pool.live():
            await self.workers.acknowledged(2.0)
        self.registers.goodbye()  # no more announces: the register must not re-add us
        log.info(
            "gateway %s stopped: %d clients closed, %d events unacknowledged, %d never "
            "handled (no worker)",
            self.addresses.internal,
            count,
            pool.unacked(),
            len(pool.pending),
        )

    def _release(self) -> None:
        self.registers.close()
        if self._ws is not None:
            self._ws.close()
        self.port.close()
        if self._transport is not None:
            self._transport.close(linger=0.5)  # let the Goodbye leave
            self._transport = None

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.timing.heartbeat)
            self.registers.announce()
            self.workers.sweep(self._clock())
            self.reach.say()

    # -- metrics, readiness, status -----------------------------------------------------
    def collect(self) -> list[Metric]:
        from . import metrics  # prometheus-client: loaded only when metrics are served

        return metrics.families(
            self.records, self.registers.linked(), len(self.config.registers), self.edge.stopping
        )

    def ready(self) -> Readiness:
        if self.edge.stopping:
            return False, "draining"
        if not self.registers.linked():
            return False, "no register link"
        if not self.dispatcher.pool.live():
            return False, "no worker linked"
        return True, ""

    def status(self) -> dict[str, Any]:
        """What ``gw status`` shows for this gateway."""
        return status(self.records)
