"""A worker's or push client's view of the cluster: registers and gateway links.

Subscribes to every register, keeps one DEALER link per gateway in the merged list
(and opens one on demand for a gateway named by a client_id), says Hello to each
(repeated as a heartbeat), sends frames in batches and matches query replies.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import zmq

from common import protocol
from common.config import Security, Timing
from common.exceptions import ProtocolError
from common.protocol import Role
from common.transport import Channel, Outbox, Transport, drain, watch

log = logging.getLogger(__name__)

EventCallback = Callable[["Link", protocol.Event], None]


@dataclass(eq=False)
class Link:
    """One gateway, as seen from here."""

    address: str
    sock: Any
    outbox: Channel  # sends, and hands what arrives to Cluster._on_link_message
    epoch: int = 0
    public: str = ""
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    created: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def send(self, frame: protocol.Frame) -> None:
        self.outbox.send(protocol.encode(frame))


@dataclass
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    waiting: set[str]
    answers: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Cluster:
    """Links to every gateway the registers know of."""

    def __init__(
        self,
        registers: Iterable[str],
        *,
        role: Role,
        name: str,
        timing: Timing | None = None,
        security: Security | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.registers = tuple(registers)
        self.role = role
        self.name = name
        self.timing = timing or Timing()
        self.transport = Transport(security or Security())
        self.on_event = on_event
        self.links: dict[str, Link] = {}
        self.listed: dict[str, int] | None = None  # the registers' gateways; None: no list yet
        self.saying_hello = role is Role.CLIENT
        self._lists: dict[int, dict[str, int]] = {}
        self._register_socks: list[tuple[Any, Outbox]] = []
        self._pending: dict[int, _Pending] = {}
        self._request_ids = itertools.count(1)
        self._listed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, wait: float | None = None) -> None:
        """Subscribe to the registers; wait up to ``wait`` seconds for a first list."""
        for index, address in enumerate(self.registers):
            sock = self.transport.socket(zmq.DEALER, server=False)
            sock.connect(f"tcp://{address.removeprefix('tcp://')}")
            outbox = Outbox(sock)
            self._register_socks.append((sock, outbox))
            outbox.send(protocol.encode(protocol.Subscribe(self.name)))
            self._spawn(self._read_register(index, sock))
            self._spawn(watch(sock, 0, lambda e, ep: None))
        self._spawn(self._heartbeat())
        if wait:
            try:
                await asyncio.wait_for(self._listed.wait(), wait)
            except TimeoutError:
                log.warning(
                    "no register answered within %gs at %s; still trying",
                    wait, ", ".join(self.registers),
                )  # fmt: skip

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster task crashed", exc_info=task.exception())

    def say_hello(self) -> None:
        """Start (or repeat) introducing ourselves to every gateway."""
        self.saying_hello = True
        for link in self.links.values():
            link.send(self._hello())

    def _hello(self) -> protocol.Hello:
        return protocol.Hello(self.role, self.name, os.getpid())

    def say_bye(self) -> None:
        """Tell every gateway to send us no new events; flushed at once."""
        for link in self.links.values():
            link.send(protocol.Bye())
            link.outbox.flush()

    async def close(self) -> None:
        """Drop every link and socket (pending queries end with all gateways missing)."""
        for link in self.links.values():
            link.outbox.flush()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_result(pending.answers)
        for link in self.links.values():
            link.outbox.close()
        self.links.clear()
        self.transport.close(linger=1.0)  # acks and sends just queued still leave

    # -- registers ------------------------------------------------------------------
    async def _read_register(self, index: int, sock: Any) -> None:
        async for parts in drain(sock):
            for frame in protocol.decode_parts(parts):
                if isinstance(frame, ProtocolError):
                    log.warning("dropped a frame from register %s: %s",
                                self.registers[index], frame)  # fmt: skip
                elif isinstance(frame, protocol.GatewayList):
                    try:
                        self._on_list(index, frame)
                    except Exception:
                        log.exception("bad gateway list from %s", self.registers[index])

    def _on_list(self, index: int, frame: protocol.GatewayList) -> None:
        if frame.complete:
            self._lists[index] = dict(frame.gateways)
        else:  # a register that just started: trust its additions only
            self._lists[index] = {**self._lists.get(index, {}), **frame.gateways}
        wanted: dict[str, int] = {}
        for listing in self._lists.values():
            wanted.update(listing)
        self.listed = wanted
        for address in wanted:
            if address not in self.links:
                self.link(address)
        removable = frame.complete or len(self._lists) > 1
        for address in [a for a in self.links if a not in wanted]:
            if removable:
                self._drop(address)
        self._listed.set()

    # -- links ----------------------------------------------------------------------
    def listed_links(self) -> list[Link]:
        """Links to the gateways the registers list: where "all" calls go.

        A link opened on demand for a client_id of a gateway no register lists (one
        that is gone) is left out, so it cannot hold up every query.
        """
        listed = self.listed or {}
        return [link for address, link in self.links.items() if address in listed]

    def link(self, address: str) -> Link:
        """The link to a gateway, opened on first use."""
        known = self.links.get(address)
        if known is not None:
            return known
        sock = self.transport.socket(zmq.DEALER, server=False)
        # a stable identity: after a reconnect the gateway still knows us (and our acks)
        sock.setsockopt(zmq.ROUTING_ID, f"{self.name}/{os.urandom(4).hex()}".encode())
        sock.connect(address)

        def on_message(parts: list[bytes]) -> None:
            self._on_link_message(link, parts)

        link = Link(address, sock, Channel(sock, on_message))
        self.links[address] = link
        link.tasks.append(self._spawn(watch(sock, 0, lambda e, ep: None)))
        if self.saying_hello:
            link.send(self._hello())
        log.info("linked to gateway %s", address)
        return link

    def _drop_stale_links(self) -> None:
        """Close on-demand links that no register lists and no gateway ever answered."""
        now = asyncio.get_running_loop().time()
        listed = self.listed or {}
        for address, link in list(self.links.items()):
            stale = now - link.created > self.timing.timeout and not link.welcomed.is_set()
            if address not in listed and stale:
                self._drop(address)

    def _drop(self, address: str) -> None:
        link = self.links.pop(address, None)
        if link is None:
            return
        log.info("gateway %s left the cluster", address)
        for task in link.tasks:
            task.cancel()
        link.outbox.flush()
        link.outbox.close()
        link.sock.close(linger=1000)  # acks already queued still leave
        for request_id, pending in list(self._pending.items()):
            if address in pending.waiting:
                self._answered(request_id, address, None, gone=True)

    def _on_link_message(self, link: Link, parts: list[bytes]) -> None:
        for frame in protocol.decode_parts(parts):
            if isinstance(frame, ProtocolError):
                log.warning("dropped a frame from %s: %s", link.address, frame)
                continue
            try:
                self._on_link_frame(link, frame)
            except Exception:  # one bad frame or event must not stop this link
                log.exception("failed to process %s from %s", type(frame).__name__,
                              link.address)  # fmt: skip

    def _on_link_frame(self, link: Link, frame: protocol.Frame) -> None:
        if isinstance(frame, protocol.Event):
            if self.on_event is not None:
                self.on_event(link, frame)
        elif isinstance(frame, protocol.Reply):
            self._answered(frame.request_id, link.address, frame)
        elif isinstance(frame, protocol.Welcome):
            if link.epoch and link.epoch != frame.epoch:
                log.info("gateway %s restarted", link.address)
            link.epoch, link.public = frame.epoch, frame.public
            link.welcomed.set()

    async def _heartbeat(self) -> None:
        subscribe = protocol.encode(protocol.Subscribe(self.name))
        while True:
            await asyncio.sleep(self.timing.heartbeat)
            self._drop_stale_links()
            for _, outbox in self._register_socks:
                outbox.send(subscribe)
            if self.saying_hello:
                for link in self.links.values():
                    link.send(self._hello())

    # -- queries --------------------------------------------------------------------
    async def query(
        self, op: protocol.Op, args: list[Any], addresses: Iterable[str], timeout: float
    ) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
        """Ask gateways; return (answers by address, the ones that did not answer, error)."""
        targets = list(dict.fromkeys(addresses))
        if not targets:
            return {}, (), None
        request_id = next(self._request_ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        pending = _Pending(future, set(targets))
        self._pending[request_id] = pending
        frame = protocol.Query(request_id, op, args)
        for address in targets:
            self.link(address).send(frame)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass
        finally:
            self._pending.pop(request_id, None)
        missing = tuple(a for a in targets if a not in pending.answers)
        return dict(pending.answers), missing, pending.error

    def _answered(
        self, request_id: int, address: str, reply: protocol.Reply | None, gone: bool = False
    ) -> None:
        pending = self._pending.get(request_id)
        if pending is None or address not in pending.waiting:
            return
        pending.waiting.discard(address)
        if reply is not None:
            if reply.ok:
                pending.answers[address] = reply.value
            else:
                pending.error = str(reply.value)
                pending.answers[address] = None
        if not pending.waiting and not pending.future.done():
            pending.future.set_result(pending.answers)
