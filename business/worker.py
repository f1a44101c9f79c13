"""A business worker: runs the app's handlers for the events gateways send it.

Events of one client are handled one at a time, in order; different clients' events
run concurrently (up to ``max_concurrency``). After each handler the worker
acknowledges the event, with the session keys the handler set or deleted, so the
gateway merges them (no whole-session overwrite) and forgets the event; events a
dead worker never acknowledged are re-sent by the gateway to another worker.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from common import frames, protocol
from common.config import WorkerConfig
from common.exceptions import ProtocolError
from common.frames import EventKind, Role
from common.logs import Throttled
from common.metrics import Histogram, Readiness
from common.service import Service

from . import handlers
from .cluster import Cluster, Link
from .context import Context, worker_context

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger(__name__)
SLOW_START = 5.0  # s: on_worker_start still running is said (it holds the worker back)
throttled = Throttled(log)  # what handlers' failures and gateways' bad input make us say

_Queued = tuple[Link, frames.Event]


def session_patch(
    before: dict[Any, Any], after: dict[Any, Any]
) -> tuple[dict[Any, Any] | None, list[Any] | None]:
    """The keys set (new or changed) and deleted between two session states.

    Values are compared by their msgpack encoding, so ``1`` -> ``True`` or ``1.0``
    (equal in Python, different on the wire) counts as a change.
    """
    pack = protocol.pack_session
    changed = {
        k: v
        for k, v in after.items()
        if k not in before or before[k] != v or pack({0: before[k]}) != pack({0: v})
    }
    deleted = [k for k in before if k not in after]
    return changed or None, deleted or None


class Worker(Service):
    """One business worker process."""

    role = "worker"

    def __init__(self, config: WorkerConfig, app: handlers.App | None = None) -> None:
        super().__init__(config.metrics_listen)
        self.config = config
        self.app = app if app is not None else handlers.load(config.app)
        self.cluster = Cluster(
            config.registers,
            role=Role.WORKER,
            name=f"{config.name}-{os.getpid()}",
            timing=config.timing,
            security=config.security,
            on_event=self._on_event,
        )
        # where ``api`` finds this worker outside a client's event (see business.context)
        self._as_running = worker_context(self.cluster)
        self._queues: dict[str, deque[_Queued]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self.handled = 0
        self.failed = 0
        self._sync_kinds = self.app.sync_kinds
        self.events_by_kind = [0] * (max(EventKind) + 1)  # events handled, by kind
        # handler latency, timed only when metrics are served (two clock reads an event)
        self.latency: Histogram | None = Histogram() if config.metrics_listen else None

    async def _start(self) -> None:
        # ConfigError if every register refused our handshake: exit, no ready line
        await self.cluster.start(self.config.timing.timeout, self.config.start_timeout)
        said = "on_worker_start has run for %gs: this worker takes no events until it returns"
        # a thread's timer: a sync on_worker_start holds the event loop
        slow = threading.Timer(SLOW_START, log.warning, (said, SLOW_START))
        slow.daemon = True
        slow.start()
        try:
            await self._as_worker(self.app.on_worker_start)
        except Exception:
            log.exception("on_worker_start failed")
            raise
        finally:
            slow.cancel()
        self.cluster.say_hello()  # now gateways may send us events
        log.info("worker %s running %s", self.cluster.name, self.app.name)

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "app": self.app.name, "gateways": sorted(self.cluster.links)}

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        return []

    @property
    def running(self) -> int:
        return len(self._running)

    def collect(self) -> list[Metric]:
        from . import metrics  # prometheus-client: loaded only when metrics are served

        return metrics.families(self, self.cluster)

    def ready(self) -> Readiness:
        if any(link.welcomed.is_set() for link in self.cluster.links.values()):
            return True, ""
        return False, "linked to no gateway"

    async def _shutdown(self) -> None:
        self.cluster.say_bye()
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=self.config.stop_timeout)
            if pending:
                log.warning(
                    "%d handlers still running after %gs: cancelled (their events will be "
                    "redelivered)",
                    len(pending),
                    self.config.stop_timeout,
                )
                for task in pending:
                    task.cancel()
        try:
            await self._as_worker(self.app.on_worker_stop)
        except Exception:
            log.exception("on_worker_stop failed")
        await self.cluster.close()
        log.info("worker stopped: %d events handled, %d handler errors", self.handled, self.failed)

    async def _as_worker(self, handler: handlers.Handler | None) -> None:
        """Run on_worker_start or on_worker_stop where ``api`` finds this worker (and so
        does every task or callback it starts)."""
        await asyncio.get_running_loop().create_task(
            handlers.call(handler, self), context=self._as_running
        )

    # -- events ---------------------------------------------------------------------
    def _on_event(self, link: Link, event: frames.Event) -> None:
        queue = self._queues.get(event.client_id)
        if queue is None and self._is_sync(event.kind):
            # Nothing of this client is pending and its handler is a plain function:
            # run it right here, with no task (the common case of a chat message).
            self._handle_inline(link, event)
            return
        if queue is None:
            self._queues[event.client_id] = queue = deque()
            task = asyncio.get_running_loop().create_task(self._run_client(event.client_id, queue))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        queue.append((link, event))

    def _is_sync(self, kind: EventKind) -> bool:
        return kind in self._sync_kinds

    async def _run_client(self, client_id: str, queue: deque[_Queued]) -> None:
        # A gateway sends a client's next event only after this one's ack (with the
        # session it left), so the queue rarely holds more than one; it keeps a
        # client's events in order all the same.
        try:
            while queue:
                link, event = queue[0]
                async with self._slots:
                    context, baseline = self._context(link, event)
                    with context:
                        try:
                            await self._call(event)
                            self.handled += 1
                        except Exception:
                            self._failed(event)
                    self._finish(link, event, context, baseline)
                queue.popleft()
        finally:
            del self._queues[client_id]

    def _handle_inline(self, link: Link, event: frames.Event) -> None:
        context, baseline = self._context(link, event)
        with context:
            try:
                result = self._handler_args(event)
                if result is not None:
                    outcome = result[0](*result[1:])
                    if inspect.isawaitable(outcome):  # a plain function returned a coroutine
                        task = asyncio.ensure_future(outcome)
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
                self.handled += 1
            except Exception:
                self._failed(event)
        self._finish(link, event, context, baseline)

    def _context(self, link: Link, event: frames.Event) -> tuple[Context, bytes]:
        """The handler's context, with the session decoded once; and its encoded baseline."""
        baseline = event.session
        try:
            session = protocol.unpack_session(baseline)
        except ProtocolError as exc:
            throttled.warning(
                "session",
                "event for %s has a bad session (%s): using an empty one",
                event.client_id,
                exc,
            )
            session, baseline = {}, protocol.pack_session({})
        context = Context(
            event.client_id,
            session,
            event.remote,
            link.address,
            link.public,
            link,
            event.kind is EventKind.CLOSE,
            event.redelivered,
            event.auth,
            self.cluster,
        )
        if self.latency is not None:
            context.started = time.perf_counter()
        return context, baseline

    def _finish(
        self,
        link: Link,
        event: frames.Event,
        context: Context,
        baseline: bytes,
    ) -> None:
        """Acknowledge the event with the session keys the handler set or deleted."""
        self.events_by_kind[event.kind] += 1
        if self.latency is not None:
            self.latency.observe(time.perf_counter() - context.started)
        changed = deleted = None
        if not context.closing:
            try:
                after = protocol.pack_session(context.session)
            except (TypeError, ValueError, OverflowError) as exc:
                # e.g. a datetime: msgpack cannot carry it. Keep serving: drop the writes.
                throttled.error(
                    "session",
                    "client %s: session not saved, a value cannot be encoded "
                    "(%s); store str, int, float, bool, None, bytes, lists and dicts only",
                    event.client_id,
                    exc,
                )
                after = baseline
            if after != baseline:  # decode the old state only when something changed
                changed, deleted = session_patch(protocol.unpack_session(baseline), context.session)
        link.send(frames.Ack(event.seq, event.client_id, changed, deleted))

    def _failed(self, event: frames.Event) -> None:
        """A handler raised: log it with its traceback (the first of its kind, then a
        count a second: a client can make a handler fail at every message)."""
        self.failed += 1
        error = sys.exc_info()[1]
        kind = f"{event.kind.name}:{type(error).__name__}"
        throttled.exception(
            kind, "%s handler failed for client %s", event.kind.name.lower(), event.client_id
        )

    def _handler_args(self, event: frames.Event) -> tuple[Any, ...] | None:
        """The handler of an event and its arguments, or None if the app has none."""
        app, client_id, kind = self.app, event.client_id, event.kind
        if kind is EventKind.MESSAGE:
            return (app.on_message, client_id, event.payload)
        handler = {
            EventKind.CONNECT: app.on_connect,
            EventKind.WS_CONNECT: app.on_websocket_connect,
            EventKind.CLOSE: app.on_close,
        }[kind]
        if handler is None:
            return None
        if kind is EventKind.WS_CONNECT:
            return (handler, client_id, event.payload)
        return (handler, client_id)

    async def _call(self, event: frames.Event) -> None:
        call = self._handler_args(event)
        if call is not None:
            await handlers.call(*call)
