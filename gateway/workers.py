"""The gateway's link to workers and push clients: one ZeroMQ ROUTER socket.

Workers and push clients say Hello (repeated as a heartbeat) and send Commands,
Queries and Acks in batches; the gateway answers with Welcome, Events and Replies.

- Every Command's and Query's arguments are checked against its op's schema
  (:func:`common.ops.check_args`) when the frame is taken: a peer's bad frame is a
  ProtocolError, counted in ``bad_frames``; the code that runs the op gets the types
  it declares, and an exception there is a bug of ours, logged with its traceback
  and counted in ``errors`` (the rest of the batch still runs).
- A worker is dead when a send to it is refused (ROUTER_MANDATORY), when it stops
  heartbeating for long, or on a disconnect that a probe confirms; the
  :class:`~gateway.dispatch.Dispatcher` then re-routes its unacknowledged events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import zmq

from common import ops, protocol
from common.binding import refusal
from common.config import GatewayConfig
from common.exceptions import ProtocolError
from common.frames import EventKind, Op, Role
from common.logs import Throttled
from common.transport import Channel, Transport, describe, watch

from .clients import Client, ClientIndex
from .dispatch import Dispatcher
from .fanout import Fanout
from .router import Worker

log = logging.getLogger(__name__)

PROBE_DELAYS = (0.0, 0.05, 0.2, 0.5, 1.0, 2.0)  # seconds after a disconnect


NAT = ("Behind NAT or in a container, keep --lan-ip as the address workers reach and bind "
       "with --internal-listen 0.0.0.0.")  # fmt: skip


class WorkerLink:
    """The ROUTER socket, what arrives on it, and the events and replies it sends."""

    def __init__(
        self,
        config: GatewayConfig,
        index: ClientIndex,
        fanout: Fanout,
        stats: dict[str, int],
        status: Callable[[], dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        self.index = index
        self.fanout = fanout
        self.stats = stats
        self._status = status
        self.dispatcher: Dispatcher | None = None  # set by attach(), before bind()
        self.address = ""  # tcp://lan_ip:port once bound
        self.epoch = 0
        self.public = ""
        self.commands_by_op: Counter[str] = Counter()
        self.events_by_kind = [0] * (max(EventKind) + 1)  # events sent, by kind
        self.peers: dict[bytes, float] = {}  # push clients: identity -> last hello
        self.drained: asyncio.Event | None = None  # set when the last ack arrives
        self.log = Throttled(log)  # what a peer's frames can make us say
        self._router: Any = None
        self._channel: Channel | None = None
        self._watching: Coroutine[Any, Any, None] | None = None
        for name in ("commands", "queries", "bad_frames", "errors"):
            stats.setdefault(name, 0)
        self._commands: dict[Op, Callable[..., object]] = {
            Op.SEND_TO_ALL: self._send_to_all,
            Op.SEND_TO_CLIENT: self._send_to_client,
            Op.CLOSE_CLIENT: self._close_client,
            Op.DESTROY_CLIENT: self._destroy_client,
            Op.BIND_UID: index.bind_uid,
            Op.UNBIND_UID: index.unbind_uid,
            Op.SEND_TO_UID: self._send_to_uid,
            Op.JOIN_GROUP: index.join_group,
            Op.LEAVE_GROUP: index.leave_group,
            Op.UNGROUP: index.ungroup,
            Op.SEND_TO_GROUP: self._send_to_group,
            Op.SET_SESSION: index.set_session,
            Op.UPDATE_SESSION: index.update_session,
            Op.DRAIN: self._drain,
        }
        self.on_drain: Callable[[], object] = lambda: None  # set by the server

    def attach(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    # -- lifecycle ----------------------------------------------------------------------
    def bind(self, transport: Transport, epoch: int) -> str:
        """Bind the ROUTER on ``--internal-listen`` (default ``--lan-ip``), port
        ``--start-port`` + index (or any free port); return the advertised address.

        Set :attr:`public` (the WebSocket address Welcome reports) before serving.
        """
        cfg = self.config
        self.epoch = epoch
        host = cfg.internal_listen or cfg.lan_ip  # where it binds; lan_ip is what it says
        self._router = transport.socket(zmq.ROUTER, server=True)
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # a worker reconnecting with its identity takes over its old pipe
        self._router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        port = cfg.start_port + cfg.process_index if cfg.start_port else 0
        try:
            if port == 0:
                port = self._router.bind_to_random_port(f"tcp://{host}")
            else:
                self._router.bind(f"tcp://{host}:{port}")
        except zmq.ZMQError as exc:
            chose = ("--internal-listen", "") if cfg.internal_listen else ("--lan-ip", NAT)
            raise refusal(exc, f"{host}:{port}", "the gateway's internal port", "--start-port",
                          *chose) from None  # fmt: skip
        self.address = f"tcp://{cfg.lan_ip}:{port}"
        self._channel = Channel(self._router, self._on_message, self._on_unreachable,
                                (self.fanout.begin, self.fanout.flush))  # fmt: skip
        # watched from now on: a peer refused at once is logged too (with its address)
        self._watching = watch(self._router, zmq.EVENT_DISCONNECTED, self._on_link_event)
        return self.address

    def close(self) -> None:
        """Flush what is queued and stop watching the socket (before the context goes)."""
        if self._watching is not None:
            self._watching.close()  # (a no-op once it ran)
        if self._channel is not None:
            self._channel.flush()
            self._channel.close()

    # -- to workers (the dispatcher's EventSink) ------------------------------------------
    def send_event(
        self, worker: Worker, seq: int, client: Client, kind: EventKind, payload: Any,
        redelivered: bool,
    ) -> None:  # fmt: skip
        assert self._channel is not None
        self.events_by_kind[kind] += 1
        frame = protocol.Event(
            seq, kind, client.client_id, client.remote,
            client.packed_session(), payload, redelivered, client.auth,
        )  # fmt: skip
        self._channel.send(protocol.encode(frame), to=worker.identity)

    def _welcome(self) -> bytes:
        return protocol.encode(protocol.Welcome(self.address, self.epoch, self.public))

    # -- from workers ---------------------------------------------------------------------
    def _on_message(self, parts: list[bytes]) -> None:
        identity = parts[0]
        for frame in protocol.decode_parts(parts[1:]):
            if isinstance(frame, ProtocolError):
                self._bad_frame(identity, frame, "dropped a frame")
                continue
            try:
                self._on_frame(identity, frame)
            except ProtocolError as exc:  # arguments that do not match the op's schema
                self._bad_frame(identity, exc, f"refused {describe(frame)}")
            except Exception:  # ours, not the peer's: say so, and go on with the batch
                self.stats["errors"] += 1
                self.log.exception("bug", "failed to run %s from %s", describe(frame),
                                   identity.hex())  # fmt: skip

    def _bad_frame(self, identity: bytes, error: ProtocolError, what: str) -> None:
        self.stats["bad_frames"] += 1
        self.log.warning("bad-frame", "%s from %s: %s", what, identity.hex(), error)

    def _on_frame(self, identity: bytes, frame: protocol.Frame) -> None:
        assert self.dispatcher is not None
        if isinstance(frame, protocol.Ack):
            self._on_ack(identity, frame)
        elif isinstance(frame, protocol.Command):
            args = ops.check_args(frame.op, frame.args)
            self.stats["commands"] += 1
            self.commands_by_op[frame.op.name] += 1
            self._commands[frame.op](*args)
        elif isinstance(frame, protocol.Query):
            self._on_query(identity, frame)
        elif isinstance(frame, protocol.Hello):
            self._on_hello(identity, frame)
        elif isinstance(frame, protocol.Bye):
            self.dispatcher.worker_bye(identity)
        else:
            raise ProtocolError(f"unexpected {type(frame).__name__}")

    def _on_hello(self, identity: bytes, hello: protocol.Hello) -> None:
        assert self.dispatcher is not None and self._channel is not None
        now = self._clock()
        if hello.role is Role.WORKER:
            if not self.dispatcher.worker_hello(identity, hello.name, hello.pid, now):
                return
            log.info("worker %s (pid %d) connected", hello.name, hello.pid)
        else:
            new = identity not in self.peers
            self.peers[identity] = now
            if not new:
                return
        self._channel.send(self._welcome(), to=identity)
        if hello.role is Role.WORKER:
            self.dispatcher.resume_pending()

    def _on_ack(self, identity: bytes, ack: protocol.Ack) -> None:
        assert self.dispatcher is not None
        patch = None
        if ack.session_set or ack.session_del:
            # Writes of on_close are not stored: the client is gone from the index.
            def patch(client: Client) -> None:  # the acknowledged event's own client
                self.index.update_session(
                    client.client_id, ack.session_set or {}, ack.session_del or ()
                )

        self.dispatcher.ack(identity, ack.seq, patch)
        if self.drained is not None and not self.dispatcher.unacked():
            self.drained.set()

    def _on_query(self, identity: bytes, query: protocol.Query) -> None:
        assert self._channel is not None
        self.stats["queries"] += 1
        try:
            args = ops.check_args(query.op, query.args)
        except ProtocolError as exc:
            self.stats["bad_frames"] += 1
            reply = protocol.Reply(query.request_id, False, f"ProtocolError: {exc}")
        else:
            if query.op is Op.GET_STATUS:
                value: Any = self._status()
            else:
                value = self.index.query(query.op, args)
            reply = protocol.Reply(query.request_id, True, value)
        self._channel.send(protocol.encode(reply), to=identity)

    # -- commands -------------------------------------------------------------------------
    def _send_to_all(self, message: str | bytes, client_ids: list[str] | None,
                     exclude: list[str] | None) -> None:  # fmt: skip
        self.fanout.deliver(self.index.all_targets(client_ids, exclude), message)

    def _send_to_client(self, client_id: str, message: str | bytes) -> None:
        client = self.index.get(client_id)
        if client is not None:
            self.fanout.deliver((client,), message)

    def _send_to_uid(self, uids: list[str], message: str | bytes) -> None:
        self.fanout.deliver(self.index.uid_targets(uids), message)

    def _send_to_group(self, groups: list[str], message: str | bytes,
                       exclude: list[str] | None) -> None:  # fmt: skip
        self.fanout.deliver(self.index.group_targets(groups, exclude), message)

    def _close_client(self, client_id: str, message: str | bytes | None) -> None:
        client = self.index.get(client_id)
        if client is None:
            return
        if message is not None:
            self.fanout.deliver((client,), message)
        self.fanout.close_after(client.conn, 1000, "")

    def _drain(self) -> None:
        log.warning("asked to drain (gw drain): closing clients in waves, then stopping")
        self.on_drain()

    def _destroy_client(self, client_id: str) -> None:
        client = self.index.get(client_id)
        if client is not None:
            client.conn.abort()

    # -- dead workers ---------------------------------------------------------------------
    def _on_unreachable(self, identity: bytes) -> None:
        assert self.dispatcher is not None and self._channel is not None
        if identity in self.dispatcher.pool.workers:
            if self._channel.read_soon():  # its Bye may wait there: a planned stop
                asyncio.get_running_loop().call_soon(self._gone_unless_read, identity)
            else:
                self.worker_gone(identity, "its connection is gone")
        self.peers.pop(identity, None)

    def _gone_unless_read(self, identity: bytes) -> None:
        assert self.dispatcher is not None
        if identity in self.dispatcher.pool.workers:  # (after a Bye: logged as planned)
            self.worker_gone(identity, "its connection is gone")

    def worker_gone(self, identity: bytes, why: str) -> None:
        assert self.dispatcher is not None
        worker, rerouted = self.dispatcher.worker_gone(identity)
        if worker is not None:  # after its Bye (gw reload, scale, stop): planned, at INFO
            level, why = (logging.INFO, "it stopped") if worker.leaving else (logging.WARNING, why)
            log.log(level, "worker %s (pid %d) left: %s; re-routing %d unacknowledged events",
                    worker.name, worker.pid, why, rerouted)  # fmt: skip

    def sweep(self, now: float) -> None:
        """Heartbeat backstop: forget silent workers and push clients."""
        assert self.dispatcher is not None
        timing = self.config.timing
        # A worker's death shows as a disconnect (libzmq's own heartbeat, answered by
        # its I/O thread, catches a frozen process within seconds). Hello silence is
        # only a backstop: a handler that blocks the worker's event loop for a while
        # must not get a live worker declared dead.
        backstop = max(10 * timing.timeout, 30.0)
        for identity in self.dispatcher.pool.silent(now, backstop):
            self.worker_gone(identity, f"silent for {backstop:g}s")
        for identity in [i for i, seen in self.peers.items() if now - seen > timing.timeout]:
            del self.peers[identity]

    async def watch(self) -> None:
        """Probe the workers after every disconnect until a send to the dead one fails."""
        assert self._watching is not None
        await self._watching

    def _on_link_event(self, event: int, endpoint: str) -> None:
        assert self.dispatcher is not None
        if event & zmq.EVENT_DISCONNECTED and self.dispatcher.pool.workers:
            # The ROUTER may drop the dead peer's pipe a moment after the event:
            # probe now and a few times more, until a send to it is refused.
            loop = asyncio.get_running_loop()
            for delay in PROBE_DELAYS:
                loop.call_later(delay, self._probe)

    def _probe(self) -> None:
        """Send every worker a Welcome: a refused send names the one that is gone."""
        if self._channel is None or self._router is None or self._router.closed:
            return  # closed meanwhile
        assert self.dispatcher is not None
        welcome = self._welcome()
        for identity in list(self.dispatcher.pool.workers):
            self._channel.send(welcome, to=identity)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The workers part of ``gw status``."""
        assert self.dispatcher is not None
        pool = self.dispatcher.pool
        return {
            "workers": {w.name: {"clients": w.clients, "unacked": len(w.unacked),
                                 "handled": w.handled} for w in pool.workers.values()},
            "pending_events": len(pool.pending),
            "events": sum(self.events_by_kind),  # sent to workers (gw status --watch: events/s)
            "commands_by_op": dict(self.commands_by_op),
            "push_clients": push_clients(self.peers),
        }  # fmt: skip


def push_clients(identities: Iterable[bytes]) -> list[str]:
    """The names of push clients (gw api, web backends), for gw status: their ZeroMQ
    identity is NAME/random (business.cluster)."""
    return sorted({identity.decode(errors="replace").rsplit("/", 1)[0] for identity in identities})
