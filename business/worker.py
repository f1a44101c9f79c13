"""A business worker: runs the app's handlers for the events gateways send it.

Events of one client are handled one at a time, in order; different clients' events
run concurrently (up to ``max_concurrency``). After each handler the worker
acknowledges the event, with the session keys the handler set or deleted, so the
gateway merges them (no whole-session overwrite) and forgets the event; events a
dead worker never acknowledged are re-sent by the gateway to another worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Coroutine
from typing import Any

from common import protocol
from common.config import WorkerConfig
from common.exceptions import ProtocolError
from common.protocol import EventKind, Role
from common.service import Service

from . import handlers
from .api import Context, WorkerAPI, _current, api
from .cluster import Cluster, Link

log = logging.getLogger(__name__)

_Queued = tuple[Link, protocol.Event]


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

    def __init__(
        self, config: WorkerConfig, app: handlers.App | None = None, gateway_api: WorkerAPI = api
    ) -> None:
        super().__init__()
        self.config = config
        self.app = app if app is not None else handlers.load(config.app)
        self.api = gateway_api
        self.cluster: Cluster | None = None
        self._queues: dict[str, deque[_Queued]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self.handled = 0
        self.failed = 0

    async def _start(self) -> None:
        name = f"{self.config.name}-{os.getpid()}"
        self.cluster = Cluster(
            self.config.registers,
            role=Role.WORKER,
            name=name,
            timing=self.config.timing,
            security=self.config.security,
            on_event=self._on_event,
        )
        self.api._bind(self.cluster, self.config.timing.query_timeout)
        await self.cluster.start(wait=self.config.timing.timeout)
        try:
            await handlers.call(self.app.on_worker_start, self)
        except Exception:
            log.exception("on_worker_start failed")
            raise
        self.cluster.say_hello()  # now gateways may send us events
        log.info("worker %s running %s", name, self.app.name)

    def info(self) -> dict[str, Any]:
        assert self.cluster is not None
        return {"pid": os.getpid(), "app": self.app.name, "gateways": sorted(self.cluster.links)}

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        return []

    async def _shutdown(self) -> None:
        assert self.cluster is not None
        self.cluster.say_bye()
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=self.config.stop_timeout)
            if pending:
                log.warning(
                    "%d handlers still running after %gs: cancelled (their events will be "
                    "redelivered)", len(pending), self.config.stop_timeout,
                )  # fmt: skip
                for task in pending:
                    task.cancel()
        try:
            await handlers.call(self.app.on_worker_stop, self)
        except Exception:
            log.exception("on_worker_stop failed")
        await self.cluster.close()
        self.api._bind(None)
        log.info("worker stopped: %d events handled, %d handler errors", self.handled, self.failed)

    # -- events ---------------------------------------------------------------------
    def _on_event(self, link: Link, event: protocol.Event) -> None:
        queue = self._queues.get(event.client_id)
        if queue is None:
            self._queues[event.client_id] = queue = deque()
            task = asyncio.get_running_loop().create_task(self._run_client(event.client_id, queue))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        queue.append((link, event))

    async def _run_client(self, client_id: str, queue: deque[_Queued]) -> None:
        # Session changes of an event are applied to the next ones already queued:
        # the gateway took their snapshot before it saw this event's acknowledgement.
        carried_set: dict[Any, Any] = {}
        carried_del: set[Any] = set()
        try:
            while queue:
                link, event = queue[0]
                async with self._slots:
                    patch = await self._handle(link, event, carried_set, carried_del)
                queue.popleft()
                if patch[0]:
                    carried_set.update(patch[0])
                    carried_del.difference_update(patch[0])
                if patch[1]:
                    carried_del.update(patch[1])
                    for name in patch[1]:
                        carried_set.pop(name, None)
        finally:
            del self._queues[client_id]

    async def _handle(
        self, link: Link, event: protocol.Event, carried_set: dict[Any, Any], carried_del: set[Any]
    ) -> tuple[dict[Any, Any] | None, list[Any] | None]:
        try:
            session = protocol.unpack_session(event.session)
            before = protocol.unpack_session(event.session)
        except ProtocolError as exc:
            log.warning("event for %s has a bad session (%s): using an empty one",
                        event.client_id, exc)  # fmt: skip
            session, before = {}, {}
        for snapshot in (session, before):
            snapshot.update(carried_set)
            for name in carried_del:
                snapshot.pop(name, None)
        closing = event.kind is EventKind.CLOSE
        context = Context(
            event.client_id, session, event.remote, link.address, link.public, link, closing,
            event.redelivered,
        )  # fmt: skip
        token = _current.set(context)
        try:
            await self._call(event)
            self.handled += 1
        except Exception:
            self.failed += 1
            log.exception("%s handler failed for client %s", event.kind.name.lower(),
                          event.client_id)  # fmt: skip
        finally:
            _current.reset(token)
        if closing or protocol.pack_session(session) == protocol.pack_session(before):
            changed, deleted = None, None  # the common case: one encode each, no diff
        else:
            changed, deleted = session_patch(before, session)
        link.send(protocol.Ack(event.seq, event.client_id, changed, deleted))
        return changed, deleted

    async def _call(self, event: protocol.Event) -> None:
        app, client_id = self.app, event.client_id
        kind = event.kind
        if kind is EventKind.MESSAGE:
            await handlers.call(app.on_message, client_id, event.payload)
        elif kind is EventKind.CONNECT:
            await handlers.call(app.on_connect, client_id)
        elif kind is EventKind.WS_CONNECT:
            await handlers.call(app.on_websocket_connect, client_id, event.payload)
        elif kind is EventKind.CLOSE:
            await handlers.call(app.on_close, client_id)
