"""The gateway's I/O: a WebSocket server for clients, a ROUTER socket for workers.

Client side (websockets): every connection gets a client_id when its HTTP upgrade
request arrives (``on_connect``), its request data once the handshake is done
(``on_websocket_connect``), then one event per message and a close event when the
connection is lost, whoever closed it.

Worker side (ZeroMQ ROUTER, ROUTER_MANDATORY): workers and push clients say Hello
(repeated as a heartbeat) and send Commands, Queries and Acks in batches; the
gateway answers with Welcome, Events and Replies. A worker is dead when a send to
it is refused, when it stops heartbeating, or on a disconnect that a probe confirms;
its unacknowledged events are routed again at once. Clients never notice.
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
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import zmq
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

from common import ids, protocol
from common.config import GatewayConfig, split_address
from common.exceptions import ConfigError, GatewayError, ProtocolError
from common.protocol import EventKind, Op, Role
from common.service import Service
from common.transport import Channel, Outbox, Transport, describe, drain, watch

from .clients import Client, ClientIndex
from .connection import OPEN, Connection, new_protocol, request_data
from .router import PendingEvent, Worker, WorkerPool

log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013
# Events queued behind the one a client's worker is handling before the gateway
# stops reading from that client (resumes at half).
CLIENT_BACKLOG = 64
PROBE_DELAYS = (0.0, 0.05, 0.2, 0.5, 1.0, 2.0)  # seconds after a disconnect


class GatewayServer(Service):
    """One gateway process."""

    role = "gateway"

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.config = config
        self._clock = clock
        self.index = ClientIndex()
        self.pool = WorkerPool(config.router, config.max_pending_events)
        self.epoch = ids.new_epoch()
        self._counter = 0
        self._transport: Transport | None = None
        self._router: Any = None
        self._outbox: Channel | None = None
        self._registers: list[tuple[Any, Outbox]] = []
        self._ws: asyncio.Server | None = None
        self._conns: set[Connection] = set()  # every TCP connection, handshake or open
        self._all_gone: asyncio.Event | None = None  # set when _conns empties (on stop)
        self._stopping = False
        self._peers: dict[bytes, float] = {}  # push clients: identity -> last hello
        self._drained: asyncio.Event | None = None  # set when the last ack arrives
        self._refused_logged = -1e9
        self._leaving = False
        self.internal_address = ""
        self._internal = ("", 0)
        self._out: dict[Connection, list[Any]] = {}  # frames queued per connection
        self._out_scheduled = False
        self.public_address = ""
        self.public_port = 0
        self.stats = {"connections": 0, "messages_in": 0, "messages_out": 0, "closed_slow": 0,
                      "events_redelivered": 0, "bad_frames": 0, "refused_no_worker": 0,
                      "commands": 0, "queries": 0, "paused_clients": 0}  # fmt: skip
        self.commands_by_op: Counter[str] = Counter()
        self._commands: dict[Op, Callable[..., object]] = {
            Op.SEND_TO_ALL: self._send_to_all,
            Op.SEND_TO_CLIENT: self._send_to_client,
            Op.CLOSE_CLIENT: self._close_client,
            Op.DESTROY_CLIENT: self._destroy_client,
            Op.BIND_UID: self.index.bind_uid,
            Op.UNBIND_UID: self.index.unbind_uid,
            Op.SEND_TO_UID: self._send_to_uid,
            Op.JOIN_GROUP: self.index.join_group,
            Op.LEAVE_GROUP: self.index.leave_group,
            Op.UNGROUP: self.index.ungroup,
            Op.SEND_TO_GROUP: self._send_to_group,
            Op.SET_SESSION: self.index.set_session,
            Op.UPDATE_SESSION: self.index.update_session,
        }

    # -- lifecycle ------------------------------------------------------------------
    async def _start(self) -> None:
        cfg = self.config
        self.config.security.check_bind(cfg.lan_ip, "the gateway's internal port")
        try:  # client_ids carry it: it must be an IPv4 literal
            ipaddress.IPv4Address(cfg.lan_ip)
        except ValueError:
            raise ConfigError(f"--lan-ip must be an IPv4 address, got {cfg.lan_ip!r}") from None
        self._transport = Transport(cfg.security)
        self._router = self._transport.socket(zmq.ROUTER, server=True)
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # a worker reconnecting with its identity takes over its old pipe
        self._router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        if cfg.start_port == 0:
            port = self._router.bind_to_random_port(f"tcp://{cfg.lan_ip}")
        else:
            port = cfg.start_port + cfg.process_index
            self._router.bind(f"tcp://{cfg.lan_ip}:{port}")
        self.internal_address = f"tcp://{cfg.lan_ip}:{port}"
        self._internal = (cfg.lan_ip, port)
        self._outbox = Channel(self._router, self._on_router_message, self._on_worker_unreachable)

        host, ws_port = split_address(cfg.listen)
        max_size, compression = cfg.max_message_size, cfg.compression
        self._ws = await asyncio.get_running_loop().create_server(
            lambda: Connection(self, new_protocol(max_size, compression)),
            host,
            ws_port,
            reuse_port=ws_port != 0 and hasattr(socket, "SO_REUSEPORT"),
            backlog=4096,  # bursts of handshakes: asyncio's default of 100 drops SYNs
        )
        bound = self._ws.sockets[0].getsockname()
        self.public_port = bound[1]
        self.public_address = f"{host}:{self.public_port}"
        for address in cfg.registers:
            sock = self._transport.socket(zmq.DEALER, server=False)
            sock.connect(f"tcp://{address.removeprefix('tcp://')}")
            self._registers.append((sock, Outbox(sock)))
        self._announce()
        log.info(
            "gateway %s (epoch %08x) serving ws://%s",
            self.internal_address, self.epoch, self.public_address,
        )  # fmt: skip

    def info(self) -> dict[str, Any]:
        return {
            "websocket": self.public_address,
            "internal": self.internal_address,
            "epoch": f"{self.epoch:08x}",
            "pid": os.getpid(),
        }

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        loops = [self._heartbeat(), self._watch_workers()]
        loops += [self._drain_register(sock) for sock, _ in self._registers]
        if self.config.ping_interval > 0:
            loops.append(self._ping_clients())
        if self.config.ws_ping_interval:
            loops.append(self._ws_keepalive())
        return loops

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
                self._close_later(conn, 1001, "")
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
        if self.pool.unacked() and self.pool.live():
            self._drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), 2.0)
        self._leaving = True  # no more announces: the register must not re-add us
        for _, outbox in self._registers:
            outbox.send(protocol.encode(protocol.Goodbye(self.internal_address)))
            outbox.flush()
        log.info(
            "gateway %s stopped: %d clients closed, %d events unacknowledged, %d never "
            "handled (no worker)", self.internal_address, count, self.pool.unacked(),
            len(self.pool.pending),
        )  # fmt: skip

    def _release(self) -> None:
        if self._outbox is not None:
            self._outbox.flush()
            self._outbox.close()
        if self._transport is not None:
            self._transport.close(linger=0.5)  # let the Goodbye leave
            self._transport = None

    # -- clients --------------------------------------------------------------------
    def _on_connection_made(self, conn: Connection) -> None:
        self._conns.add(conn)

    def _on_request(self, conn: Connection, request: Request) -> None:
        """The upgrade request: accept it (a new client) or answer it over HTTP."""
        if request.path == "/healthz":
            conn.reject(http.HTTPStatus.OK, "ok\n")
            return
        if self._stopping:
            conn.reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
            return
        protocol = conn.protocol
        response = protocol.accept(request)
        if response.status_code != 101:
            log.info("refused a WebSocket upgrade from %s:%d: %d %s", *conn.peer,
                     response.status_code, protocol.handshake_exc)  # fmt: skip
            conn.respond(response)
            return
        self._counter += 1
        ip, port = self._internal
        client_id = ids.encode(ip, port, self.epoch, self._counter)
        client = Client(client_id, f"{conn.peer[0]}:{conn.peer[1]}", conn)
        client.plain = not protocol.extensions
        data = request_data(conn, request, self, client_id)
        protocol.send_response(response)
        conn.send_data()
        conn.opened()
        conn.client = client
        self.index.add(client)
        self.stats["connections"] += 1
        self._dispatch(client, EventKind.CONNECT, None)
        self._dispatch(client, EventKind.WS_CONNECT, data)

    def _on_message(self, client: Client, message: str | bytes) -> None:
        client.idle_ticks = 0
        self.stats["messages_in"] += 1
        self._dispatch(client, EventKind.MESSAGE, message)

    def _on_connection_lost(self, conn: Connection) -> None:
        self._conns.discard(conn)
        if not self._conns and self._all_gone is not None:
            self._all_gone.set()
        client = conn.client
        if client is None:
            return
        self._out.pop(conn, None)
        if conn.close_code not in (None, 1000, 1001):
            log.info(
                "client %s (%s) closed: %s %s",
                client.client_id, client.remote, conn.close_code, conn.close_reason,
            )  # fmt: skip
        if self.index.remove(client.client_id) is not None:
            self._dispatch(client, EventKind.CLOSE, None)

    def _deliver(self, clients: Iterable[Client], message: Any) -> None:
        """Queue one message for many clients; it is framed once.

        Server frames are not masked, so every client without a compression extension
        gets the very same bytes. Frames are queued per connection and written at the
        end of this loop pass, one write per connection for a whole batch of commands
        (the protocol writes its own control frames at once; a close first writes what
        is queued for its connection, so order is kept).
        """
        if isinstance(message, str):
            payload, opcode = message.encode(), Opcode.TEXT
        elif isinstance(message, bytes):
            payload, opcode = message, Opcode.BINARY
        else:
            log.warning("dropped a send of %s: not str or bytes", describe(message))
            return
        frame: bytes | None = None
        encoded = (payload, opcode is Opcode.TEXT)  # for compressed connections
        out = self._out
        sent = 0
        for client in clients:
            if client.plain:
                if frame is None:
                    frame = Frame(opcode, payload).serialize(mask=False)
                item: Any = frame
            else:  # per-connection compression state: the protocol frames it
                item = encoded
            queued = out.get(client.conn)
            if queued is None:
                out[client.conn] = [item]
            else:
                queued.append(item)
            sent += 1
        self.stats["messages_out"] += sent
        if sent and not self._out_scheduled:
            self._out_scheduled = True
            asyncio.get_running_loop().call_soon(self._write_out)

    def _write_out(self) -> None:
        self._out_scheduled = False
        out, self._out = self._out, {}
        limit = self.config.max_send_buffer
        for conn, items in out.items():
            self._write(conn, items, limit)

    def _write(self, conn: Connection, items: list[Any], limit: int) -> None:
        transport = conn.transport
        if conn.protocol.state is not OPEN or transport is None:
            return
        if conn.protocol.extensions:
            for payload, text in items:
                conn.send_message(payload, text)
        else:
            transport.write(items[0] if len(items) == 1 else b"".join(items))
        if transport.get_write_buffer_size() > limit:
            self._close_slow(conn)

    def _close_slow(self, conn: Connection) -> None:
        client = conn.client
        log.warning(
            "client %s reads too slowly (> %d bytes queued): closing it",
            client.client_id if client else "?", self.config.max_send_buffer,
        )  # fmt: skip
        self.stats["closed_slow"] += 1
        conn.abort()

    # -- events to workers ----------------------------------------------------------
    def _dispatch(self, client: Client, kind: EventKind, payload: Any) -> None:
        """Send a client's event, or queue it behind the one its worker is handling.

        One event per client at a worker at a time: the next one leaves when the
        previous is acknowledged, with the session as that acknowledgement left it
        (so a handler never sees a session older than the previous event's writes).
        A client whose queue grows long is no longer read from until it shrinks.
        """
        if client.inflight or client.backlog:
            if client.backlog is None:
                client.backlog = deque()
            client.backlog.append((kind, payload))
            if len(client.backlog) >= CLIENT_BACKLOG and not client.paused:
                client.paused = True
                self.stats["paused_clients"] += 1
                client.conn.transport.pause_reading()
            return
        self._send_now(client, kind, payload, False)

    def _send_now(self, client: Client, kind: EventKind, payload: Any, redelivered: bool) -> None:
        worker = self.pool.pick(client)
        if worker is None:
            if not self.pool.hold((client, kind, payload)):
                self._refuse(client, kind)
            return
        self._send_event(worker, (client, kind, payload), redelivered)
        if kind == EventKind.CLOSE:
            self.pool.release(client)

    def _next_for(self, client: Client) -> None:
        """The client's previous event was acknowledged: send its next one."""
        if client.inflight or not client.backlog:
            return
        kind, payload = client.backlog.popleft()
        if client.paused and len(client.backlog) <= CLIENT_BACKLOG // 2:
            client.paused = False
            if not client.conn.transport.is_closing():  # closing too: its end must be read
                client.conn.transport.resume_reading()
        self._send_now(client, kind, payload, False)

    def _refuse(self, client: Client, kind: EventKind) -> None:
        self.stats["refused_no_worker"] += 1
        now = self._clock()
        if now - self._refused_logged > 1.0:  # one line a second, not one per event
            self._refused_logged = now
            log.warning(
                "no business worker and %d events waiting: closing clients (%d refused "
                "events so far)", self.pool.max_pending, self.stats["refused_no_worker"],
            )  # fmt: skip
        if kind != EventKind.CLOSE:
            self._close_later(client.conn, CLOSE_TRY_AGAIN_LATER, "no business worker")

    def _send_event(self, worker: Worker, event: PendingEvent, redelivered: bool) -> None:
        assert self._outbox is not None
        client, kind, payload = event
        seq = self.pool.track(worker, event)
        frame = protocol.Event(
            seq, kind, client.client_id, client.remote,
            client.packed_session(), payload, redelivered,
        )  # fmt: skip
        self._outbox.send(protocol.encode(frame), to=worker.identity)

    def _reroute(self, events: list[PendingEvent], redelivered: bool) -> None:
        """Send again events that a dead worker held or that waited for any worker.

        They are older than anything in their clients' queues, so they go first.
        """
        ahead: dict[str, int] = {}
        for client, kind, payload in events:
            if client.worker is not None and client.worker not in self.pool.workers:
                client.worker = None
            if redelivered:
                self.stats["events_redelivered"] += 1
            if client.inflight:  # an earlier one of these events just left
                if client.backlog is None:
                    client.backlog = deque()
                position = ahead.get(client.client_id, 0)
                client.backlog.insert(position, (kind, payload))
                ahead[client.client_id] = position + 1
            else:
                self._send_now(client, kind, payload, redelivered)

    def _on_worker_unreachable(self, identity: bytes) -> None:
        if identity in self.pool.workers:
            self._worker_gone(identity, "its connection is gone")
        self._peers.pop(identity, None)

    def _worker_gone(self, identity: bytes, why: str) -> None:
        worker = self.pool.workers.get(identity)
        lost = self.pool.remove(identity)
        if worker is not None:
            log.warning(
                "worker %s (pid %d) left: %s; re-routing %d unacknowledged events",
                worker.name, worker.pid, why, len(lost),
            )  # fmt: skip
        self._reroute(lost, redelivered=True)

    # -- frames from workers --------------------------------------------------------
    def _on_router_message(self, parts: list[bytes]) -> None:
        identity = parts[0]
        for frame in protocol.decode_parts(parts[1:]):
            if isinstance(frame, ProtocolError):
                self.stats["bad_frames"] += 1
                log.warning("dropped a frame from %s: %s", identity.hex(), frame)
                continue
            try:
                self._on_frame(identity, frame)
            except (GatewayError, TypeError, ValueError, KeyError) as exc:
                self.stats["bad_frames"] += 1
                log.warning("refused %s from %s: %s", describe(frame), identity.hex(), exc)

    def _on_frame(self, identity: bytes, frame: protocol.Frame) -> None:
        if isinstance(frame, protocol.Ack):
            self._on_ack(identity, frame)
        elif isinstance(frame, protocol.Command):
            self.stats["commands"] += 1
            self.commands_by_op[frame.op.name] += 1
            self._commands[frame.op](*frame.args)
        elif isinstance(frame, protocol.Query):
            self._on_query(identity, frame)
        elif isinstance(frame, protocol.Hello):
            self._on_hello(identity, frame)
        elif isinstance(frame, protocol.Bye):
            self.pool.bye(identity)
        else:
            raise ProtocolError(f"unexpected {type(frame).__name__}")

    def _on_hello(self, identity: bytes, hello: protocol.Hello) -> None:
        now = self._clock()
        if hello.role is Role.WORKER:
            if not self.pool.hello(identity, hello.name, hello.pid, now):
                return
            log.info("worker %s (pid %d) connected", hello.name, hello.pid)
        else:
            new = identity not in self._peers
            self._peers[identity] = now
            if not new:
                return
        assert self._outbox is not None
        welcome = protocol.Welcome(self.internal_address, self.epoch, self.public_address)
        self._outbox.send(protocol.encode(welcome), to=identity)
        if hello.role is Role.WORKER and self.pool.pending:
            self._reroute(self.pool.take_pending(), redelivered=False)

    def _on_ack(self, identity: bytes, ack: protocol.Ack) -> None:
        event = self.pool.ack(identity, ack.seq)
        if event is not None:
            if ack.session_set or ack.session_del:
                # Writes of on_close are not stored: the client is gone from the index.
                self.index.update_session(
                    ack.client_id, ack.session_set or {}, ack.session_del or ()
                )
            self._next_for(event[0])  # after the patch: its snapshot includes it
        if self._drained is not None and not self.pool.unacked():
            self._drained.set()

    def _on_query(self, identity: bytes, query: protocol.Query) -> None:
        assert self._outbox is not None
        self.stats["queries"] += 1
        try:
            if query.op is Op.GET_STATUS:
                value: Any = self.status()
            else:
                value = self.index.query(query.op, query.args)
            reply = protocol.Reply(query.request_id, True, value)
        except (GatewayError, TypeError, ValueError) as exc:
            reply = protocol.Reply(query.request_id, False, f"{type(exc).__name__}: {exc}")
        self._outbox.send(protocol.encode(reply), to=identity)

    # -- commands -------------------------------------------------------------------
    def _send_to_all(self, message: Any, client_ids: list[str] | None = None,
                     exclude: list[str] | None = None) -> None:  # fmt: skip
        self._deliver(self.index.all_targets(client_ids, exclude), message)

    def _send_to_client(self, client_id: str, message: Any) -> None:
        client = self.index.get(client_id)
        if client is not None:
            self._deliver((client,), message)

    def _send_to_uid(self, uids: list[Any], message: Any) -> None:
        self._deliver(self.index.uid_targets(uids), message)

    def _send_to_group(self, groups: list[Any], message: Any,
                       exclude: list[str] | None = None) -> None:  # fmt: skip
        self._deliver(self.index.group_targets(groups, exclude), message)

    def _close_client(self, client_id: str, message: Any = None) -> None:
        client = self.index.get(client_id)
        if client is None:
            return
        if message is not None:
            self._deliver((client,), message)
        self._close_later(client.conn, 1000, "")

    def _destroy_client(self, client_id: str) -> None:
        client = self.index.get(client_id)
        if client is not None:
            client.conn.abort()

    def _close_later(self, conn: Connection, code: int, reason: str) -> None:
        """Close after what is already queued for this connection."""
        items = self._out.pop(conn, None)
        if items:
            self._write(conn, items, self.config.max_send_buffer)
        conn.close(code, reason)

    # -- periodic -------------------------------------------------------------------
    def _announce(self) -> None:
        if self._leaving:
            return
        frame = protocol.encode(
            protocol.Announce(self.internal_address, self.public_address, self.epoch)
        )
        for _, outbox in self._registers:
            outbox.send(frame)

    async def _heartbeat(self) -> None:
        timing = self.config.timing
        while True:
            await asyncio.sleep(timing.heartbeat)
            self._announce()
            now = self._clock()
            # A worker's death shows as a disconnect (libzmq's own heartbeat, answered
            # by its I/O thread, catches a frozen process within seconds). Hello
            # silence is only a backstop: a handler that blocks the worker's event
            # loop for a while must not get a live worker declared dead.
            backstop = max(10 * timing.timeout, 30.0)
            for identity in self.pool.silent(now, backstop):
                self._worker_gone(identity, f"silent for {backstop:g}s")
            for identity in [i for i, seen in self._peers.items() if now - seen > timing.timeout]:
                del self._peers[identity]

    async def _drain_register(self, sock: Any) -> None:
        # The register never talks to gateways; keep the socket's queue empty anyway.
        async for _ in drain(sock):
            pass

    async def _watch_workers(self) -> None:
        loop = asyncio.get_running_loop()

        def on_event(event: int, endpoint: str) -> None:
            if event & zmq.EVENT_DISCONNECTED and self.pool.workers:
                # The ROUTER may drop the dead peer's pipe a moment after the event:
                # probe now and a few times more, until a send to it is refused.
                for delay in PROBE_DELAYS:
                    loop.call_later(delay, self._probe_workers)

        await watch(self._router, zmq.EVENT_DISCONNECTED, on_event)

    def _probe_workers(self) -> None:
        """Send every worker a Welcome: a refused send names the one that is gone."""
        if self._outbox is None or self._transport is None:
            return  # closed meanwhile
        welcome = protocol.encode(
            protocol.Welcome(self.internal_address, self.epoch, self.public_address)
        )
        for identity in list(self.pool.workers):
            self._outbox.send(welcome, to=identity)

    async def _ping_clients(self) -> None:
        cfg = self.config
        ping = cfg.ping_data or None
        while True:
            await asyncio.sleep(cfg.ping_interval)
            idle: list[Client] = []
            for client in list(self.index.clients.values()):
                if client.paused:  # not read by our choice: busy, not silent
                    client.idle_ticks = 0
                    continue
                if 0 < cfg.ping_not_response_limit <= client.idle_ticks:
                    log.info("client %s silent for %d ticks: closing", client.client_id,
                             client.idle_ticks)  # fmt: skip
                    client.conn.abort()
                    continue
                client.idle_ticks += 1
                idle.append(client)
            if ping is not None and idle:
                self._deliver(idle, ping)

    async def _ws_keepalive(self) -> None:
        """WebSocket ping/pong for every client from one task (not one per client)."""
        interval = self.config.ws_ping_interval or 20.0
        timeout = self.config.ws_ping_timeout or interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for client in list(self.index.clients.values()):
                conn = client.conn
                if client.paused:  # we stopped reading it (backpressure): its pong waits
                    conn.ping_sent = 0.0
                    continue
                if conn.ping_sent and now - conn.ping_sent > timeout:
                    log.info("client %s: no pong for %gs, closing", client.client_id, timeout)
                    conn.abort()
                elif not conn.ping_sent:
                    conn.ping_now(now)

    # -- status ---------------------------------------------------------------------
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
            "workers": {w.name: {"clients": w.clients, "unacked": len(w.unacked),
                                 "handled": w.handled} for w in self.pool.workers.values()},
            "pending_events": len(self.pool.pending),
            "rss_bytes": rss,
            "commands_by_op": dict(self.commands_by_op),
            **self.stats,
        }  # fmt: skip
