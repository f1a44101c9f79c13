"""Which worker handles which client, and which events are still unacknowledged.

Pure state, driven by the gateway's I/O. Routing is sticky per client: the first
event of a client picks a worker (fewest clients, or random), later events follow
it while that worker lives, so one client's events are handled in order. Every
event sent is kept until acknowledged; when a worker is gone its unacknowledged
events come back, in order, to be routed again. With no worker at all, events wait
in a bounded queue.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.exceptions import ConfigError
from common.frames import EventKind
from common.imports import load_callable
from common.logs import Throttled

from .clients import Client

throttled = Throttled(logging.getLogger(__name__))

# (client, kind, payload): what is needed to build the event again
PendingEvent = tuple[Client, EventKind, Any]


@dataclass(slots=True)
class LinkedWorker:
    """A worker linked to this gateway, as its pool sees it (the worker process itself
    is :class:`business.worker.Worker`)."""

    identity: bytes
    name: str
    pid: int
    seen: float
    clients: int = 0
    leaving: bool = False
    unacked: dict[int, PendingEvent] = field(default_factory=dict)
    handled: int = 0


def least_clients(candidates: list[LinkedWorker], client: Client | None = None) -> LinkedWorker:
    return min(candidates, key=lambda w: (w.clients, len(w.unacked)))


def random_worker(candidates: list[LinkedWorker], client: Client | None = None) -> LinkedWorker:
    return random.choice(candidates)


Chooser = Callable[[list[LinkedWorker], Client | None], LinkedWorker]
ROUTERS: dict[str, Chooser] = {
    "least": least_clients,
    "random": random_worker,
}


def chooser(policy: str) -> Chooser:
    """``least``, ``random``, or ``PACKAGE.MODULE:FUNCTION`` (``--router``).

    A custom function gets the live workers (never empty), and the client too if it
    takes a second argument (as the original's router gets the client's connection:
    its ``client_id``, ``remote`` address, ``uid`` if the token bound one), and returns
    one of the workers; it runs on the gateway's event loop for a client's first event.
    If it raises or returns anything else, that client gets the least-loaded worker
    (and a log line).
    """
    if policy in ROUTERS:
        return ROUTERS[policy]
    if ":" not in policy:
        raise ConfigError(f"--router is least, random or PACKAGE.MODULE:FUNCTION, got {policy!r}")
    return _guarded(policy, load_callable(policy, "--router"))


def _takes_the_client(custom: Callable[..., Any]) -> bool:
    """Whether a router's second positional parameter is there for the client: one
    without a default, or one named ``client`` (``def pick(workers, rng=random)`` is
    called with the workers only, as it was written to be)."""
    try:
        parameters = list(inspect.signature(custom).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the workers only
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    second = [p for p in parameters if p.kind in positional][1:2]
    return bool(second) and (
        second[0].default is inspect.Parameter.empty or second[0].name == "client"
    )


def _guarded(policy: str, custom: Callable[..., Any]) -> Chooser:
    with_client = _takes_the_client(custom)

    def choose(candidates: list[LinkedWorker], client: Client | None = None) -> LinkedWorker:
        try:
            chosen: LinkedWorker = custom(candidates, client) if with_client else custom(candidates)
        except Exception:
            throttled.exception(
                "router", "--router %s failed: the least-loaded worker instead", policy
            )
            return least_clients(candidates)
        if not any(chosen is worker for worker in candidates):
            throttled.error(
                "router",
                "--router %s returned %r, not one of the workers: the least-loaded worker instead",
                policy,
                chosen,
            )
            return least_clients(candidates)
        return chosen

    return choose


class WorkerPool:
    """The workers connected to one gateway."""

    def __init__(self, policy: str | Chooser = "least", max_pending: int = 10_000) -> None:
        self._choose = ROUTERS[policy] if isinstance(policy, str) else policy
        self.workers: dict[bytes, LinkedWorker] = {}
        self.pending: deque[PendingEvent] = deque()
        self.max_pending = max_pending
        self._seq = 0

    # -- workers --------------------------------------------------------------------
    def hello(self, identity: bytes, name: str, pid: int, now: float) -> bool:
        """A worker's hello or heartbeat; True if it is new."""
        worker = self.workers.get(identity)
        if worker is None:
            self.workers[identity] = LinkedWorker(identity, name, pid, now)
            return True
        worker.seen = now
        return False

    def bye(self, identity: bytes) -> None:
        """A worker stopping: no new clients go to it."""
        worker = self.workers.get(identity)
        if worker is not None:
            worker.leaving = True

    def remove(self, identity: bytes) -> list[PendingEvent]:
        """Forget a dead worker; return its unacknowledged events in order."""
        worker = self.workers.pop(identity, None)
        if worker is None:
            return []
        events = [worker.unacked[seq] for seq in sorted(worker.unacked)]
        for client, _, _ in events:
            client.inflight -= 1
        return events

    def silent(self, now: float, timeout: float) -> list[bytes]:
        """Workers not heard from for ``timeout``."""
        return [i for i, w in self.workers.items() if now - w.seen > timeout]

    def live(self) -> list[LinkedWorker]:
        return [w for w in self.workers.values() if not w.leaving]

    # -- routing --------------------------------------------------------------------
    def pick(self, client: Client) -> LinkedWorker | None:
        """The worker for this client's next event (sticky), or None if there is none."""
        current = self.workers.get(client.worker) if client.worker is not None else None
        # A leaving worker keeps a client only while it still holds that client's
        # events, so that the client's order is kept; then the client moves on.
        if current is not None and (not current.leaving or client.inflight):
            return current
        candidates = self.live()
        if not candidates:
            return None
        chosen = self._choose(candidates, client)
        if current is not None:
            current.clients -= 1
        chosen.clients += 1
        client.worker = chosen.identity
        return chosen

    def release(self, client: Client) -> None:
        """The client is gone for good (after its close event was sent)."""
        worker = self.workers.get(client.worker) if client.worker is not None else None
        if worker is not None:
            worker.clients -= 1
        client.worker = None

    def track(self, worker: LinkedWorker, event: PendingEvent) -> int:
        """Number an event sent to ``worker`` and keep it until acknowledged."""
        self._seq += 1
        worker.unacked[self._seq] = event
        event[0].inflight += 1
        return self._seq

    def ack(self, identity: bytes, seq: int) -> PendingEvent | None:
        worker = self.workers.get(identity)
        if worker is None:
            return None
        worker.handled += 1
        event = worker.unacked.pop(seq, None)
        if event is not None:
            event[0].inflight -= 1
        return event

    def unacked(self) -> int:
        return sum(len(w.unacked) for w in self.workers.values())

    # -- waiting room ---------------------------------------------------------------
    def hold(self, event: PendingEvent) -> bool:
        """Queue an event while no worker is connected; False if the queue is full."""
        if len(self.pending) >= self.max_pending:
            return False
        self.pending.append(event)
        event[0].inflight += 1  # it waits for any worker as if in flight
        return True

    def take_pending(self) -> list[PendingEvent]:
        events = list(self.pending)
        self.pending.clear()
        for client, _, _ in events:
            client.inflight -= 1
        return events
