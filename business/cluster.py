"""A worker's or push client's links: to every register and to every gateway.

Subscribes to every register, keeps one DEALER link per gateway the registers list
(and opens one on demand for a gateway named by a client_id), says Hello to each
(repeated as a heartbeat), sends frames in batches and matches query replies. Which
gateways to link, and when a link goes, is decided by :class:`.view.GatewayView`:
registers add gateways, a gateway's own link (libzmq's monitor) removes it.

Every gateway address is checked before it is used
(:func:`common.config.bad_internal_address`): a malformed one in a register's list
is skipped with a log line and never blocks the others. Starting fails, with the
likely cause, if every register that answered refused our security handshake.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import zmq

from common import frames, protocol
from common.config import Security, Timing, bad_internal_address
from common.exceptions import ConfigError, InvalidArgument, ProtocolError
from common.frames import Role
from common.logs import Throttled
from common.metrics import Histogram
from common.monitor import unwatch, watch
from common.transport import Channel, Transport

from .queries import Queries
from .subscription import Subscription
from .view import GatewayView

log = logging.getLogger(__name__)
# Links opened for a client_id whose gateway no register lists: a gone gateway's
# clients, or forged ids. Each closes after a peer timeout; past this many at once,
# a send to another such id is refused rather than opening more.
MAX_UNLISTED_LINKS = 64

EventCallback = Callable[["Link", frames.Event], None]


@dataclass(eq=False)
class Link:
    """One gateway, as seen from here."""

    address: str
    sock: Any
    outbox: Channel  # sends, and hands what arrives to Cluster._on_link_message
    epoch: int = 0
    public: str = ""
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def send(self, frame: frames.Frame) -> None:
        self.outbox.send(protocol.encode(frame))

    def command(self, op: frames.Op, args: list[Any]) -> None:
        """Send ``Command(op, args)``, encoded without making the frame (the sends'
        path: every API call to one gateway)."""
        self.outbox.send(protocol.encode_command(op, args))


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
        query_timeout: float | None = None,
        query_seconds: Histogram | None = None,
    ) -> None:
        self.registers = tuple(registers)
        self.role = role
        self.name = name
        self.timing = timing or Timing()
        # a query's default deadline (Timing's, unless given), and how long queries take
        self.query_timeout = self.timing.query_timeout if query_timeout is None else query_timeout
        self.query_seconds = Histogram() if query_seconds is None else query_seconds
        self._security = security or Security()
        self._transport: Transport | None = None  # made on first need (see _sockets)
        self.on_event = on_event
        self.links: dict[str, Link] = {}
        self.view = GatewayView(self.timing.timeout)
        self.saying_hello = role is Role.CLIENT
        self.subscription = Subscription(self.registers, name, self._on_list)
        self._queries = Queries()
        self._tasks: list[asyncio.Task[None]] = []
        self._log = Throttled(log)  # what a peer's bad input makes us say

    @property
    def listed(self) -> dict[str, int] | None:
        """The gateways the registers list now; None until a register answered."""
        return self.view.listed() if self.view.answered else None

    def gone(self, address: str) -> bool:
        """Whether ``address`` is no gateway of ours now (:meth:`.view.GatewayView.gone`)."""
        return self.view.gone(address)

    # -- lifecycle ------------------------------------------------------------------
    async def start(
        self, wait: float | None = None, start_timeout: float | None = None, settled: bool = False
    ) -> None:
        """Subscribe to the registers; wait up to ``wait`` seconds for a first list
        (``settled``: for a complete one, i.e. from a register that has settled).

        If none came because every register that answered at all refused our
        security handshake, keep waiting until ``start_timeout`` (default ``wait``)
        in all, then raise :class:`ConfigError` naming the likely cause. A register that is
        merely unreachable is not an error: we keep trying in the background.
        """
        for running in self.subscription.open(self._sockets()):
            self._spawn(running)
        self._spawn(self._heartbeat())
        if wait and self.registers:  # (no register: links are opened on demand only)
            begun, limit = self._now(), start_timeout or wait
            try:
                await self.subscription.first_list(min(wait, limit), limit)
            except ConfigError:  # every register that answered refused us
                await self.close()
                raise
            if settled and not self.view.complete:  # a register that just (re)started
                await self.subscription.complete_list(begun + wait - self._now())

    def _sockets(self) -> Transport:
        """The ZeroMQ context, made when the first socket is: a cluster made and never
        used (a worker that never started) leaves none to close."""
        if self._transport is None:
            self._transport = Transport(self._security, self.timing)
        return self._transport

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

    def _hello(self) -> frames.Hello:
        return frames.Hello(self.role, self.name, os.getpid())

    def say_bye(self) -> None:
        """Tell every gateway to send us no new events; flushed at once."""
        for link in self.links.values():
            link.send(frames.Bye())
            link.outbox.flush()

    async def close(self) -> None:
        """Drop every link and socket (pending queries end with all gateways missing)."""
        for link in self.links.values():
            link.outbox.flush()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queries.end_all()
        for link in self.links.values():
            link.outbox.close()
        self.links.clear()
        if self._transport is not None:
            self._transport.close(linger=1.0)  # acks and sends just queued still leave
            self._transport = None

    # -- registers ------------------------------------------------------------------
    def _on_list(self, index: int, frame: frames.GatewayList) -> None:
        usable: dict[str, int] = {}
        for address, epoch in frame.gateways.items():
            problem = bad_internal_address(address)
            if problem is None:
                usable[address] = epoch
            else:
                self._log.warning(
                    "bad-address",
                    "register %s listed a gateway we cannot link, %.80r (%s): skipped",
                    self.registers[index],
                    address,
                    problem,
                )
        changes = self.view.on_list(index, usable, frame.complete, self._now())
        for address in changes.drop:
            self._drop(address)
        for address in changes.add:
            try:
                self.link(address)
            except InvalidArgument as exc:  # one gateway we cannot link must not stop the rest
                self._log.warning("bad-address", "%s", exc)

    def unsettled(self) -> tuple[str, ...]:
        """The registers, if all we have is incomplete lists (a register that just
        started or was cut off): "all" answers may then lack gateways."""
        if self.view.complete or not self.view.answered:
            return ()
        return tuple(
            f"register {address} (its list is not complete yet)" for address in self.registers
        )

    # -- links ----------------------------------------------------------------------
    def listed_links(self) -> list[Link]:
        """Links to every member gateway (see :mod:`.view`): where "all" calls go.

        A link opened on demand for a client_id of a gateway no register lists (one
        that is gone) is left out, so it cannot hold up every query.
        """
        return [self.links[a] for a in self.view.members() if a in self.links]

    def link(self, address: str) -> Link:
        """The link to a gateway, opened on first use; InvalidArgument if ``address`` (from
        a forged client_id?) is not a gateway's, or past :data:`MAX_UNLISTED_LINKS`."""
        known = self.links.get(address)
        if known is not None:
            return known
        problem = bad_internal_address(address)
        if problem is None and address not in self.view.listed():
            unlisted = sum(1 for a in self.links if a not in self.view.listed())
            if unlisted >= MAX_UNLISTED_LINKS:  # each costs a socket, a task, log lines
                problem = (
                    f"{unlisted} links to gateways no register lists are open "
                    "already (client_ids of gone gateways, or forged)"
                )
        if problem is not None:
            raise InvalidArgument(f"cannot link to gateway {address[:80]!r}: {problem}")
        sock = self._sockets().socket(zmq.DEALER, server=False)
        # a stable identity: after a reconnect the gateway still knows us (and our acks)
        sock.setsockopt(zmq.ROUTING_ID, f"{self.name}/{os.urandom(4).hex()}".encode())
        watching = watch(
            sock,
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED,
            lambda event, endpoint: self._link_event(address, sock, event),
        )
        try:
            sock.connect(address)
        except zmq.ZMQError as exc:
            watching.close()
            unwatch(sock)
            sock.close(linger=0)
            raise InvalidArgument(f"cannot link to gateway {address!r}: {exc}") from None

        def on_message(parts: list[bytes]) -> None:
            self._on_link_message(link, parts)

        link = Link(address, sock, Channel(sock, on_message))
        self.links[address] = link
        self.view.opened(address, self._now())
        link.tasks.append(self._spawn(watching))
        if self.saying_hello:
            link.send(self._hello())
        log.info("linked to gateway %s", address)
        return link

    def _link_event(self, address: str, sock: Any, event: int) -> None:
        """libzmq's word on a gateway link: it decides when a member goes."""
        link = self.links.get(address)
        if link is None or link.sock is not sock:  # a link closed since
            return
        if event & zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.view.link_up(address)
        elif event & zmq.EVENT_DISCONNECTED:
            for gone in self.view.link_down(address, self._now()):
                self._drop(gone)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _drop(self, address: str) -> None:
        """Close a link the view has let go (it is no longer in ``view.links``)."""
        link = self.links.pop(address, None)
        if link is None:
            return
        log.info("gateway %s left the cluster", address)
        for task in link.tasks:
            task.cancel()
        unwatch(link.sock)  # now: the watch task ends later, after the socket closed
        link.outbox.flush()
        link.outbox.close()
        link.sock.close(linger=1000)  # acks already queued still leave
        self._queries.gone(address)

    def _on_link_message(self, link: Link, parts: list[bytes]) -> None:
        for frame in protocol.decode_parts(parts):
            if isinstance(frame, ProtocolError):
                self._log.warning("link-frame", "dropped a frame from %s: %s", link.address, frame)
                continue
            try:
                self._on_link_frame(link, frame)
            except Exception:  # one bad frame or event must not stop this link
                self._log.exception(
                    "link-error", "failed to process %s from %s", type(frame).__name__, link.address
                )

    def _on_link_frame(self, link: Link, frame: frames.Frame) -> None:
        if isinstance(frame, frames.Event):
            if self.on_event is not None:
                self.on_event(link, frame)
        elif isinstance(frame, frames.Reply):
            self._queries.answered(link.address, frame)
        elif isinstance(frame, frames.Welcome):
            if link.epoch and link.epoch != frame.epoch:
                log.info("gateway %s restarted", link.address)
            link.epoch, link.public = frame.epoch, frame.public
            link.welcomed.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.timing.heartbeat)
            for address in self.view.tick(self._now()):
                self._drop(address)
            self.subscription.renew()
            if self.saying_hello:
                hello = protocol.encode(self._hello())
                for link in self.links.values():
                    link.outbox.send(hello)

    # -- queries --------------------------------------------------------------------
    async def query(
        self, op: frames.Op, args: list[Any], addresses: Iterable[str], timeout: float
    ) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
        """Ask gateways; return (answers by address, the ones that did not answer, error).

        Timed in :attr:`query_seconds` (answered or not)."""
        started = time.perf_counter()
        targets = list(dict.fromkeys(addresses))
        if not targets:
            self.query_seconds.observe(time.perf_counter() - started)
            return {}, (), None
        links = [self.link(address) for address in targets]  # InvalidArgument before we wait
        request_id, pending = self._queries.open(targets)
        data = protocol.encode(frames.Query(request_id, op, args))  # once, for every link
        for link in links:
            link.outbox.send(data)
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            pass
        finally:
            self._queries.close(request_id)
        missing = tuple(a for a in targets if a not in pending.answers)
        self.query_seconds.observe(time.perf_counter() - started)
        return dict(pending.answers), missing, pending.error
