"""One gateway process: its parts composed, its lifecycle, and what a client's connection asks.

Client side: every connection gets a client_id when its upgrade request is accepted
(``on_connect``), its request data right after (``on_websocket_connect``), then one
event per message and a close event when the connection is lost, whoever closed it.
Worker side: :class:`~gateway.workers.WorkerLink`. Between them, each client's events
go through the :class:`~gateway.dispatch.Dispatcher` (one in flight, in order), and
what workers send goes out through :class:`~gateway.fanout.Fanout`.

::

    Connection --(ConnectionHandler)--> GatewayServer --> Dispatcher --> WorkerLink --> workers
    workers --> WorkerLink --> ClientIndex targets --> Fanout --> Connection.write_frames
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import zmq
from websockets.http11 import Request

from common import ids, protocol
from common.config import GatewayConfig, split_address
from common.exceptions import ConfigError
from common.frames import EventKind
from common.service import Service
from common.transport import Outbox, Transport, drain

from .clients import Client, ClientIndex
from .connection import Connection, new_protocol
from .dispatch import Dispatcher
from .fanout import Fanout
from .handshake import request_data
from .keepalive import Keepalive
from .router import WorkerPool
from .workers import WorkerLink

log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013


class GatewayServer(Service):
    """One gateway process."""

    role = "gateway"

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.config = config
        self._clock = clock
        self.epoch = ids.new_epoch()
        self.stats: dict[str, int] = {"connections": 0, "messages_in": 0, "messages_out": 0,
                                      "closed_slow": 0}  # fmt: skip
        self.index = ClientIndex()
        self.fanout = Fanout(config.max_send_buffer, self.stats)
        self.workers = WorkerLink(config, self.index, self.fanout, self.stats, self.status, clock)
        pool = WorkerPool(config.router, config.max_pending_events)
        self.dispatcher = Dispatcher(pool, self.workers, self, self.stats)
        self.workers.attach(self.dispatcher)
        self.keepalive = Keepalive(config, self.index, self.fanout)
        self._counter = 0
        self._transport: Transport | None = None
        self._registers: list[tuple[Any, Outbox]] = []
        self._ws: asyncio.Server | None = None
        self._conns: set[Connection] = set()  # every TCP connection, handshake or open
        self._all_gone: asyncio.Event | None = None  # set when _conns empties (on stop)
        self._stopping = False
        self._leaving = False
        self._refused_logged = -1e9
        self.internal_address = ""
        self._internal = ("", 0)
        self.public_address = ""
        self.public_port = 0

    # -- lifecycle ----------------------------------------------------------------------
    async def _start(self) -> None:
        cfg = self.config
        cfg.security.check_bind(cfg.lan_ip, "the gateway's internal port")
        try:  # client_ids carry it: it must be an IPv4 literal
            ipaddress.IPv4Address(cfg.lan_ip)
        except ValueError:
            raise ConfigError(f"--lan-ip must be an IPv4 address, got {cfg.lan_ip!r}") from None
        self._transport = Transport(cfg.security)
        self.internal_address = self.workers.bind(self._transport, self.epoch)
        self._internal = (cfg.lan_ip, split_address(self.internal_address)[1])
        host, ws_port = split_address(cfg.listen)
        max_size, compression = cfg.max_message_size, cfg.compression
        self._ws = await asyncio.get_running_loop().create_server(
            lambda: Connection(self, new_protocol(max_size, compression)),
            host,
            ws_port,
            reuse_port=ws_port != 0 and hasattr(socket, "SO_REUSEPORT"),
            backlog=4096,  # bursts of handshakes: asyncio's default of 100 drops SYNs
        )
        self.public_port = self._ws.sockets[0].getsockname()[1]
        self.public_address = f"{host}:{self.public_port}"
        self.workers.public = self.public_address
        for address in cfg.registers:
            sock = self._transport.socket(zmq.DEALER, server=False)
            sock.connect(f"tcp://{address.removeprefix('tcp://')}")
            self._registers.append((sock, Outbox(sock)))
        self._announce()
        log.info("gateway %s (epoch %08x) serving ws://%s", self.internal_address, self.epoch,
                 self.public_address)  # fmt: skip

    def info(self) -> dict[str, Any]:
        return {
            "websocket": self.public_address,
            "internal": self.internal_address,
            "epoch": f"{self.epoch:08x}",
            "pid": os.getpid(),
        }

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        loops = [self._heartbeat(), self.workers.watch()]
        loops += [self._drain_register(sock) for sock, _ in self._registers]
        return loops + self.keepalive.loops()

    async def _shutdown(self) -> None:
        # Stop accepting and close the clients with 1001; their close events go to the
        # workers, which must still reach us: only once they have acknowledged them
        # (or after a grace period) do we leave the register.
        count = len(self.index.clients)
        self._stopping = True
        if self._ws is not None:
            self._ws.close()  # stop listening
        self._all_gone = asyncio.Event()
        for conn in list(self._conns):
            if conn.client is not None:
                self.fanout.close_after(conn, 1001, "")
            else:  # still in its handshake
                conn.abort()
        if self._conns:
            try:
                await asyncio.wait_for(self._all_gone.wait(), 5)
            except TimeoutError:
                log.warning("%d clients did not finish their closing handshake: aborted",
                            len(self._conns))  # fmt: skip
                for conn in list(self._conns):
                    conn.abort()
                # their connection_lost (and close events) run in the next loop passes:
                # let them, before counting what the workers still have to acknowledge
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_gone.wait(), 1.0)
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
        if self._ws is not None:
            self._ws.close()
        self.workers.close()
        if self._transport is not None:
            self._transport.close(linger=0.5)  # let the Goodbye leave
            self._transport = None

    # -- clients (ConnectionHandler) ------------------------------------------------------
    def connection_made(self, conn: Connection) -> None:
        self._conns.add(conn)

    def request_received(self, conn: Connection, request: Request) -> None:
        """The upgrade request: accept it (a new client) or answer it over HTTP."""
        if request.path == "/healthz":
            conn.reject(http.HTTPStatus.OK, "ok\n")
            return
        if self._stopping:
            conn.reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
            return
        if not conn.accept(request):
            return
        self._counter += 1
        ip, port = self._internal
        client_id = ids.encode(ip, port, self.epoch, self._counter)
        client = Client(client_id, f"{conn.peer[0]}:{conn.peer[1]}", conn)
        client.plain = not conn.compressed
        conn.client = client
        self.index.add(client)
        self.stats["connections"] += 1
        data = request_data(request.path, request.headers.raw_items(), conn.peer, client_id,
                            self.internal_address, self.public_port)  # fmt: skip
        self.dispatcher.submit(client, EventKind.CONNECT, None)
        self.dispatcher.submit(client, EventKind.WS_CONNECT, data)

    def message_received(self, conn: Connection, message: str | bytes) -> None:
        client: Client = conn.client
        self.keepalive.heard(client)
        self.stats["messages_in"] += 1
        self.dispatcher.submit(client, EventKind.MESSAGE, message)

    def connection_lost(self, conn: Connection) -> None:
        self._conns.discard(conn)
        if not self._conns and self._all_gone is not None:
            self._all_gone.set()
        client: Client | None = conn.client
        if client is None:
            return
        self.fanout.forget(conn)
        if conn.close_code not in (None, 1000, 1001):
            log.info("client %s (%s) closed: %s %s", client.client_id, client.remote,
                     conn.close_code, conn.close_reason)  # fmt: skip
        if self.index.remove(client.client_id) is not None:
            self.dispatcher.submit(client, EventKind.CLOSE, None)

    # -- the dispatcher's FlowSink ----------------------------------------------------------
    def pause_reading(self, client: Client) -> None:
        client.conn.pause_reading()

    def resume_reading(self, client: Client) -> None:
        client.conn.resume_reading()

    def refuse(self, client: Client, kind: EventKind) -> None:
        now = self._clock()
        if now - self._refused_logged > 1.0:  # one line a second, not one per event
            self._refused_logged = now
            log.warning(
                "no business worker and %d events waiting: closing clients (%d refused "
                "events so far)", self.dispatcher.pool.max_pending,
                self.stats["refused_no_worker"],
            )  # fmt: skip
        if kind != EventKind.CLOSE:
            self.fanout.close_after(client.conn, CLOSE_TRY_AGAIN_LATER, "no business worker")

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
            self.workers.sweep(self._clock())

    async def _drain_register(self, sock: Any) -> None:
        # The register never talks to gateways; keep the socket's queue empty anyway.
        async for _ in drain(sock):
            pass

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
