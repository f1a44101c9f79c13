"""The register's I/O: one ROUTER socket that gateways and subscribers talk to.

Everything a peer sends is checked here before it reaches :mod:`.membership`: an
announced address must be one a worker can connect to
(:func:`common.config.bad_internal_address`), or it is refused. Whatever a peer can
make us log (bad frames, refused announces, failed handshakes) is rate-limited and
names the peer's address.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import zmq

from common import frames, protocol
from common.binding import refusal
from common.config import RegisterConfig, bad_internal_address, split_address
from common.exceptions import ProtocolError
from common.logs import MEMBERS_BURST, Throttled
from common.monitor import watch
from common.service import Service
from common.transport import Outbox, Transport

from .membership import Membership

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger(__name__)

MAX_PUBLIC_LENGTH = 255  # a gateway's public address is shown, never connected to


def announce_problem(frame: frames.Announce) -> str | None:
    """Why a gateway's announce cannot be listed; None if it can."""
    problem = bad_internal_address(frame.address)
    if problem is not None:
        return f"internal address {frame.address[:80]!r}: {problem}"
    if len(frame.public) > MAX_PUBLIC_LENGTH or not frame.public.isprintable():
        return "public address too long or not printable"
    if not 0 < frame.epoch < 1 << 32:
        return f"epoch {frame.epoch} out of range"
    return None


class RegisterServer(Service):
    """Tracks gateway addresses and pushes the list to every subscriber."""

    role = "register"

    def __init__(self, config: RegisterConfig, clock: Any = time.monotonic) -> None:
        super().__init__(config.metrics_listen)
        self.config = config
        self._clock = clock
        self.membership = self._membership()
        self._transport: Transport | None = None
        self._sock: Any = None
        self._outbox: Outbox | None = None
        self._watching: Coroutine[Any, Any, None] | None = None
        self._published_complete = False
        self._peer_log = Throttled(log)
        self._members_log = Throttled(log, burst=MEMBERS_BURST)  # (several restart at once)
        self.address = ""

    def _membership(self) -> Membership:
        timing = self.config.timing
        return Membership(timing.timeout, self._clock(), timing.settle, timing.quiet)

    async def _start(self) -> None:
        host, port = split_address(self.config.listen)
        self.config.security.check_bind(host, "the register")
        self._transport = Transport(self.config.security, self.config.timing)
        self._sock = self._transport.socket(zmq.ROUTER, server=True)
        try:
            if port == 0:
                port = self._sock.bind_to_random_port(f"tcp://{host}")
            else:
                self._sock.bind(f"tcp://{host}:{port}")
        except zmq.ZMQError as exc:
            raise refusal(exc, f"{host}:{port}", "the register's port", "--listen") from None
        self.address = f"{host}:{port}"
        # the monitor, attached before the ready line: it logs the peers we refuse
        self._watching = watch(self._sock, 0, lambda e, ep: None, bound=True)
        self._outbox = Outbox(self._sock)
        self.membership = self._membership()
        log.info("register listening on %s", self.address)

    def info(self) -> dict[str, Any]:
        return {"listen": self.address, "pid": os.getpid()}

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        assert self._watching is not None
        return [self._receive(), self._expire(), self._watching]

    async def _receive(self) -> None:
        shadow: zmq.Socket[bytes] = zmq.Socket.shadow(self._sock.underlying)
        while True:
            # frames, not bytes: a frame knows the peer's address, for the log
            changed = self._on_message(await self._sock.recv_multipart(copy=False))
            while shadow.get(zmq.EVENTS) & zmq.POLLIN:  # type: ignore[operator,arg-type]
                changed |= self._on_message(shadow.recv_multipart(zmq.NOBLOCK, copy=False))
            if changed:  # once for all that came at once: a flood of announces is one list
                self._publish()

    def _on_message(self, parts: list[zmq.Frame]) -> bool:
        """Take one message; whether the gateway list changed."""
        now = self._clock()
        if self.membership.heard(now):
            log.warning(
                "heard from nobody for over %.1fs (cut off?): the gateway list is incomplete "
                "for %.1fs, while gateways reconnect",
                self.config.timing.quiet,
                self.membership.settle,
            )
        identity, last = parts[0].bytes, parts[-1]
        changed = False
        for frame in protocol.decode_parts(part.bytes for part in parts[1:]):
            if isinstance(frame, ProtocolError):
                self._refused("frame", last, "dropped a frame", str(frame))
                continue
            try:
                changed |= self._on_frame(identity, frame, last, now)
            except (TypeError, ValueError, KeyError) as exc:  # never die of a peer
                self._refused("frame", last, f"refused a {type(frame).__name__}", str(exc))
        return changed

    def _refused(self, kind: str, part: zmq.Frame, what: str, why: str) -> None:
        """A rate-limited line about a peer's bad input, naming the peer's address."""
        self._peer_log.warning(kind, "%s from %s: %s", what, _peer_address(part), why)

    def _on_frame(self, identity: bytes, frame: frames.Frame, part: zmq.Frame, now: float) -> bool:
        if isinstance(frame, frames.Announce):
            problem = announce_problem(frame)
            if problem is not None:
                self._refused("announce", part, "refused an announce", problem)
                return False
            changed = self.membership.announce(frame.address, frame.public, frame.epoch, now)
            if changed:  # (a line a second: a flood of announces is not a flood of lines)
                self._members_log.info(
                    "joined", "gateway %s joined (epoch %08x)", frame.address, frame.epoch
                )
            return changed
        if isinstance(frame, frames.Goodbye):
            if self.membership.goodbye(frame.address):
                self._members_log.info("left", "gateway %s left", frame.address)
                return True
            return False
        if isinstance(frame, frames.Subscribe):
            if self.membership.subscribe(identity, now):
                log.debug("subscriber %s (%s)", frame.name, identity.hex())
                self._send_list(identity)
            return False
        self._refused("unexpected", part, "unexpected frame", type(frame).__name__)
        return False

    def _list_frame(self) -> bytes:
        complete = self.membership.complete(self._clock())
        return protocol.encode(frames.GatewayList(self.membership.gateways(), complete))

    def _send_list(self, identity: bytes) -> None:
        assert self._outbox is not None
        self._outbox.send(self._list_frame(), to=identity)

    def _publish(self) -> None:
        assert self._outbox is not None
        frame = self._list_frame()
        for identity in self.membership.subscribers():
            self._outbox.send(frame, to=identity)

    async def _expire(self) -> None:
        period = self.config.timing.heartbeat / 2
        while True:
            await asyncio.sleep(period)
            now = self._clock()
            changed = self.membership.expire(now)
            if changed:
                log.info("expired silent gateways; %d left", len(self.membership.gateways()))
            complete = self.membership.complete(now)
            if complete != self._published_complete:  # subscribers must learn it either way
                self._published_complete = changed = complete
                if complete:
                    log.info("gateway list complete: %d gateways", len(self.membership.gateways()))
            if changed:
                self._publish()

    def collect(self) -> list[Metric]:
        """The register's metrics (``--metrics-listen``); it is always ready once serving."""
        from prometheus_client.core import GaugeMetricFamily  # only when metrics are served

        membership = self.membership
        return [
            GaugeMetricFamily(
                "gw_register_gateways", "Gateways announced", len(membership.gateways())
            ),
            GaugeMetricFamily(
                "gw_register_subscribers",
                "Workers and push clients subscribed",
                len(membership.subscribers()),
            ),
            GaugeMetricFamily(
                "gw_register_list_complete",
                "1 once its gateway list is complete",
                int(membership.complete(self._clock())),
            ),
        ]

    def _release(self) -> None:
        if self._watching is not None:  # never started if the start failed: no warning
            self._watching.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def _peer_address(part: zmq.Frame) -> str:
    try:
        address = part.get("Peer-Address")
    except zmq.ZMQError:
        address = None
    return address if isinstance(address, str) and address else "an unknown address"
