"""Per-client event ordering: which event goes to which worker, and when (pure, no I/O).

The gateway's hardest invariant lives here. For each client:

- **one event in flight**: a client's next event leaves only when its worker has
  acknowledged the previous one, with the session as that acknowledgement left it,
  so a handler never sees a session older than the previous event's writes;
- **a backlog** holds the events that wait meanwhile, in arrival order; past
  ``backlog_limit`` of them the client is paused (no longer read: TCP backpressure)
  and it is resumed once the backlog is down to half;
- **re-routing keeps order**: the unacknowledged events of a dead worker, and the
  events that waited for any worker, are older than anything in their clients'
  backlogs, so they go first, in their own order;
- **with no worker at all**, a client's first event waits in the pool's waiting room
  (``--max-pending-events`` clients at most) and counts as in flight: the rest wait
  in its backlog, which pauses it as usual, so a client cannot fill the gateway's
  memory while no worker is there.

Worker choice (sticky per client, least connections or random on the first pick) and
the record of unacknowledged events are :class:`~gateway.router.WorkerPool`'s. What
the dispatcher decides, it reports to two small sinks: :class:`EventSink` sends an
event to a worker, :class:`FlowSink` pauses, resumes or refuses a client. The
dispatcher is the only writer of a client's flow state (``backlog``, ``paused``) and
of its :class:`DispatchCounters`; its pool, of its routing state (``worker``, and
``inflight``: the events the pool tracks or holds); tests drive them with recording
sinks, no sockets, no event loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from common.frames import EventKind

from .clients import Client
from .router import LinkedWorker, PendingEvent, WorkerPool

# Events queued behind the one a client's worker is handling before the gateway
# stops reading from that client (it resumes at half).
CLIENT_BACKLOG = 64


class EventSink(Protocol):
    """Where events leave for workers."""

    def send_event(
        self,
        worker: LinkedWorker,
        seq: int,
        client: Client,
        kind: EventKind,
        payload: Any,
        redelivered: bool,
    ) -> None:
        """Send event ``seq`` of ``client`` to ``worker`` (with the client's session now)."""


class FlowSink(Protocol):
    """What the dispatcher asks of a client's connection."""

    def pause_reading(self, client: Client) -> None:
        """Stop reading the client: its backlog is full."""

    def resume_reading(self, client: Client) -> None:
        """Read the client again: its backlog is down to half."""

    def refuse(self, client: Client, kind: EventKind, refused: int) -> None:
        """No worker, and the waiting room is full: this event is dropped (``refused``:
        the events dropped so far, this one included)."""


@dataclass(slots=True)
class DispatchCounters:
    """What the dispatcher counts (``gw status`` and ``/metrics`` read them)."""

    events_redelivered: int = 0  # events sent again after their worker died
    paused_clients: int = 0  # times a client was paused: its backlog full
    refused_no_worker: int = 0  # events dropped: no worker, and the waiting room full


class Dispatcher:
    """Sends each client's events to its worker, one at a time, in order."""

    def __init__(
        self,
        pool: WorkerPool,
        events: EventSink,
        flow: FlowSink,
        backlog_limit: int = CLIENT_BACKLOG,
    ) -> None:
        self.pool = pool
        self._events = events
        self._flow = flow
        self._limit = backlog_limit
        self.counters = DispatchCounters()

    # -- client events ------------------------------------------------------------------
    def submit(self, client: Client, kind: EventKind, payload: Any) -> None:
        """A client's new event: sent now, or queued behind the one in flight."""
        if client.inflight or client.backlog:
            if client.backlog is None:
                client.backlog = deque()
            client.backlog.append((kind, payload))
            if len(client.backlog) >= self._limit and not client.paused:
                client.paused = True
                self.counters.paused_clients += 1
                self._flow.pause_reading(client)
            return
        self._send_now(client, kind, payload, False)

    def ack(
        self, identity: bytes, seq: int, patch: Callable[[Client], object] | None = None
    ) -> bool:
        """Worker ``identity`` handled event ``seq``: send that client's next event.

        ``patch`` (the session writes the acknowledgement carries) is applied to the
        client first, so the next event leaves with it. A stale acknowledgement (of an
        event already re-routed, or from a worker declared dead) changes nothing and
        returns False.
        """
        event = self.pool.ack(identity, seq)
        if event is None:
            return False
        client = event[0]
        if patch is not None:
            patch(client)
        self._next_for(client)
        return True

    def _send_now(self, client: Client, kind: EventKind, payload: Any, redelivered: bool) -> None:
        worker = self.pool.pick(client)
        if worker is None:
            # held, it counts as in flight: the client's next events queue in its
            # backlog (and pause it), not in the waiting room
            if not self.pool.hold((client, kind, payload)):
                self.counters.refused_no_worker += 1
                self._flow.refuse(client, kind, self.counters.refused_no_worker)
            return
        seq = self.pool.track(worker, (client, kind, payload))
        self._events.send_event(worker, seq, client, kind, payload, redelivered)
        if kind == EventKind.CLOSE:
            self.pool.release(client)

    def _next_for(self, client: Client) -> None:
        if client.inflight or not client.backlog:
            return
        kind, payload = client.backlog.popleft()
        if client.paused and len(client.backlog) <= self._limit // 2:
            client.paused = False
            self._flow.resume_reading(client)
        if not client.backlog:  # an empty deque is 600 bytes (and every client had one)
            client.backlog = None
        self._send_now(client, kind, payload, False)

    # -- workers --------------------------------------------------------------------------
    def worker_hello(self, identity: bytes, name: str, pid: int, now: float) -> bool:
        """A worker's hello or heartbeat; True if it is new (then :meth:`resume_pending`)."""
        return self.pool.hello(identity, name, pid, now)

    def resume_pending(self) -> None:
        """Send the events that waited for any worker (call once a worker is welcomed)."""
        if self.pool.pending:
            self._reroute(self.pool.take_pending(), redelivered=False)

    def worker_bye(self, identity: bytes) -> None:
        """A worker stopping: no new client goes to it."""
        self.pool.bye(identity)

    def worker_gone(self, identity: bytes) -> tuple[LinkedWorker | None, int]:
        """A worker is dead: re-route its unacknowledged events, in order.

        Returns the worker (None if unknown) and how many events were re-routed.
        """
        worker = self.pool.workers.get(identity)
        lost = self.pool.remove(identity)
        self._reroute(lost, redelivered=True)
        return worker, len(lost)

    def _reroute(self, events: list[PendingEvent], redelivered: bool) -> None:
        """Send again events a dead worker held or that waited for any worker.

        They are older than anything in their clients' backlogs, so they go first.
        """
        ahead: dict[str, int] = {}
        for client, kind, payload in events:
            if client.worker is not None and client.worker not in self.pool.workers:
                client.worker = None
            if redelivered:
                self.counters.events_redelivered += 1
            if client.inflight:  # an earlier one of these events just left
                if client.backlog is None:
                    client.backlog = deque()
                position = ahead.get(client.client_id, 0)
                client.backlog.insert(position, (kind, payload))
                ahead[client.client_id] = position + 1
            else:
                self._send_now(client, kind, payload, redelivered)

    def unacked(self) -> int:
        """Events sent to workers and not acknowledged yet."""
        return self.pool.unacked()
