"""What workers and push clients say to the gateway, and what it does about it.

Workers and push clients say Hello (repeated as a heartbeat) and send Commands,
Queries and Acks in batches, through the :class:`~gateway.internal.InternalPort`;
:class:`WorkerLink` is what the port hands them to:

- every Command's and Query's arguments are checked against its op's schema
  (:func:`common.ops.check_args`) when the frame is taken: a peer's bad frame is a
  ProtocolError, counted in ``bad_frames``; the code that runs the op
  (:class:`~gateway.commands.CommandTable`) gets the types it declares, and an exception
  there is a bug of ours, logged with its traceback and counted in ``errors`` (the
  rest of the batch still runs);
- a worker's Hello links it (the :class:`~gateway.dispatch.Dispatcher` then sends the
  events that waited for any worker), its Acks let each client's next event go, its
  Bye sends it no new client; a push client's Hello only keeps it listed;
- a worker is dead when a send to it is refused (ROUTER_MANDATORY), when it stops
  heartbeating for long, or on a disconnect that a probe confirms; the dispatcher
  then re-routes its unacknowledged events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from common import ops, protocol
from common.config import GatewayConfig
from common.exceptions import ProtocolError
from common.frames import Ack, Bye, Command, Frame, Hello, Op, Query, Reply, Role
from common.logs import MEMBERS_BURST, Throttled
from common.transport import describe

from .clients import Client, ClientIndex
from .commands import CommandTable
from .dispatch import Dispatcher
from .internal import InternalPort

log = logging.getLogger(__name__)

PROBE_DELAYS = (0.0, 0.05, 0.2, 0.5, 1.0, 2.0)  # seconds after a disconnect


@dataclass(slots=True)
class LinkCounters:
    """What the worker link counts (``gw status`` and ``/metrics`` read it)."""

    commands: int = 0  # commands run (from workers and push clients)
    queries: int = 0  # queries answered
    bad_frames: int = 0  # frames refused: a peer's bad input
    errors: int = 0  # commands whose run raised: our bug
    commands_by_op: Counter[str] = field(default_factory=Counter)


class PushClients:
    """The push clients linked here (gw api, web backends): when each last said Hello."""

    def __init__(self) -> None:
        self._seen: dict[bytes, float] = {}

    def hello(self, identity: bytes, now: float) -> bool:
        """A push client's Hello or heartbeat; True if it is new (then it is welcomed)."""
        new = identity not in self._seen
        self._seen[identity] = now
        return new

    def forget(self, identity: bytes) -> None:
        self._seen.pop(identity, None)

    def sweep(self, now: float, timeout: float) -> None:
        """Forget the ones silent for longer than ``timeout``."""
        for identity in [i for i, seen in self._seen.items() if now - seen > timeout]:
            del self._seen[identity]

    def names(self) -> list[str]:
        """Their names, for gw status (see :func:`push_clients`)."""
        return push_clients(self._seen)


def push_clients(identities: Iterable[bytes]) -> list[str]:
    """The names of push clients (gw api, web backends), for gw status: their ZeroMQ
    identity is NAME/random (business.cluster)."""
    return sorted({identity.decode(errors="replace").rsplit("/", 1)[0] for identity in identities})


class WorkerLink:
    """The frames workers and push clients send, taken in order, batch by batch."""

    def __init__(
        self,
        config: GatewayConfig,
        index: ClientIndex,
        commands: CommandTable,
        dispatcher: Dispatcher,
        port: InternalPort,
        peers: PushClients,
        counters: LinkCounters,
        status: Callable[[], dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.index = index
        self.dispatcher = dispatcher
        self.port = port
        self.peers = peers
        self.counters = counters  # made before: the status this link answers reads them
        self._status = status
        self._clock = clock
        self._commands = commands.table  # looked up per command: the table itself
        self._acked: asyncio.Event | None = None  # set when the last ack arrives (stopping)
        self.log = Throttled(log)  # what a peer's frames can make us say
        # workers coming and going: a flood of fake ones (any peer can say Hello without
        # --secret) is not a flood of lines; a restart of several is said whole
        self.members_log = Throttled(log, burst=MEMBERS_BURST)

    # -- from workers (the port's Receiver) -----------------------------------------------
    def on_message(self, parts: list[bytes]) -> None:
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
                self.counters.errors += 1
                self.log.exception(
                    "bug", "failed to run %s from %s", describe(frame), identity.hex()
                )

    def _bad_frame(self, identity: bytes, error: ProtocolError, what: str) -> None:
        self.counters.bad_frames += 1
        self.log.warning(
            "bad-frame", "%s from %s: %s", what, identity[:16].hex(), error
        )  # (a peer names itself: up to 255 bytes)

    def _on_frame(self, identity: bytes, frame: Frame) -> None:
        if isinstance(frame, Ack):
            self._on_ack(identity, frame)
        elif isinstance(frame, Command):
            args = ops.check_args(frame.op, frame.args)
            counters = self.counters
            counters.commands += 1
            counters.commands_by_op[frame.op.name] += 1
            self._commands[frame.op](*args)
        elif isinstance(frame, Query):
            self._on_query(identity, frame)
        elif isinstance(frame, Hello):
            self._on_hello(identity, frame)
        elif isinstance(frame, Bye):
            self.dispatcher.worker_bye(identity)
        else:
            raise ProtocolError(f"unexpected {type(frame).__name__}")

    def _on_hello(self, identity: bytes, hello: Hello) -> None:
        now = self._clock()
        if hello.role is Role.WORKER:
            if not self.dispatcher.worker_hello(identity, hello.name, hello.pid, now):
                return
            self.members_log.info(
                "connected", "worker %s (pid %d) connected", hello.name, hello.pid
            )
        elif not self.peers.hello(identity, now):
            return
        self.port.send_encoded(self.port.welcome(), identity)
        if hello.role is Role.WORKER:
            self.dispatcher.resume_pending()

    def _on_ack(self, identity: bytes, ack: Ack) -> None:
        patch = None
        if ack.session_set or ack.session_del:
            # Writes of on_close are not stored: the client is gone from the index.
            def patch(client: Client) -> None:  # the acknowledged event's own client
                self.index.update_session(
                    client.client_id, ack.session_set or {}, ack.session_del or ()
                )

        self.dispatcher.ack(identity, ack.seq, patch)
        if self._acked is not None and not self.dispatcher.unacked():
            self._acked.set()

    def _on_query(self, identity: bytes, query: Query) -> None:
        self.counters.queries += 1
        try:
            args = ops.check_args(query.op, query.args)
        except ProtocolError as exc:
            self.counters.bad_frames += 1
            reply = Reply(query.request_id, False, f"ProtocolError: {exc}")
        else:
            if query.op is Op.GET_STATUS:
                value: Any = self._status()
            else:
                value = self.index.query(query.op, args)
            reply = Reply(query.request_id, True, value)
        self.port.send(reply, identity)

    # -- dead workers ---------------------------------------------------------------------
    def on_unreachable(self, identity: bytes) -> None:
        if identity in self.dispatcher.pool.workers:
            if self.port.read_soon():  # its Bye may wait there: a planned stop
                asyncio.get_running_loop().call_soon(self._gone_unless_read, identity)
            else:
                self.worker_gone(identity, "its connection is gone")
        self.peers.forget(identity)

    def _gone_unless_read(self, identity: bytes) -> None:
        if identity in self.dispatcher.pool.workers:  # (after a Bye: logged as planned)
            self.worker_gone(identity, "its connection is gone")

    def worker_gone(self, identity: bytes, why: str) -> None:
        worker, rerouted = self.dispatcher.worker_gone(identity)
        if worker is not None:  # after its Bye (gw reload, scale, stop): planned, at INFO
            level, why = (logging.INFO, "it stopped") if worker.leaving else (logging.WARNING, why)
            self.members_log.log(
                level,
                "left",
                "worker %s (pid %d) left: %s; re-routing %d unacknowledged events",
                worker.name,
                worker.pid,
                why,
                rerouted,
            )

    def sweep(self, now: float) -> None:
        """Heartbeat backstop: forget silent workers and push clients."""
        timing = self.config.timing
        # A worker's death shows as a disconnect (libzmq's own heartbeat, answered by
        # its I/O thread, catches a frozen process within seconds). Hello silence is
        # only a backstop: a handler that blocks the worker's event loop for a while
        # must not get a live worker declared dead.
        backstop = max(10 * timing.timeout, 30.0)
        for identity in self.dispatcher.pool.silent(now, backstop):
            self.worker_gone(identity, f"silent for {backstop:g}s")
        self.peers.sweep(now, timing.timeout)

    def on_disconnect(self) -> None:
        if self.dispatcher.pool.workers:
            # The ROUTER may drop the dead peer's pipe a moment after the event:
            # probe now and a few times more, until a send to it is refused.
            loop = asyncio.get_running_loop()
            for delay in PROBE_DELAYS:
                loop.call_later(delay, self._probe)

    def _probe(self) -> None:
        """Send every worker a Welcome: a refused send names the one that is gone."""
        if not self.port.open:
            return  # closed meanwhile
        welcome = self.port.welcome()
        for identity in list(self.dispatcher.pool.workers):
            self.port.send_encoded(welcome, identity)

    # -- stopping -------------------------------------------------------------------------
    async def acknowledged(self, timeout: float) -> None:
        """Until the workers have acknowledged every event sent (or ``timeout`` passed)."""
        if not self.dispatcher.unacked():
            return
        self._acked = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._acked.wait(), timeout)
