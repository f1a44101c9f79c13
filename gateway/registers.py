"""A gateway's links to its registers, and whether any worker can reach it at all.

:class:`RegisterLinks` connects a DEALER to every register (``--register``),
announces the gateway on each (the heartbeat), says Goodbye when it leaves, and
knows which links are up (their security handshake done: ``/readyz``). The register
never talks to gateways; what arrives is read and dropped, so no queue fills.

:class:`Reach` decides whether a worker can reach this gateway: a register link is
up or a worker is linked. Without either for longer than a link timeout (from the
start, or since the last one went) no worker may ever come, and new clients are
refused (503) rather than kept waiting; it says so in the log once, and once more
when the gateway is linked again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import zmq

from common import protocol
from common.config import GatewayConfig
from common.frames import Announce, Goodbye
from common.monitor import watch
from common.transport import Outbox, Transport, drain

from .addresses import Addresses
from .router import WorkerPool

log = logging.getLogger("gateway.server")  # where these lines always were

REGISTER_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED


class RegisterLinks:
    """One DEALER per register: announces, the goodbye, which links are up."""

    def __init__(self, config: GatewayConfig, addresses: Addresses) -> None:
        self.registers = config.registers
        self.addresses = addresses
        self._links: list[tuple[Any, Outbox]] = []
        self._up: dict[int, bool] = {}
        self._monitors: list[Coroutine[Any, Any, None]] = []
        self._leaving = False

    def connect(self, transport: Transport) -> None:
        """Connect to every register (each link watched from before it connects: its
        first handshake is not missed)."""
        for address in self.registers:
            sock = transport.socket(zmq.DEALER, server=False)
            index = len(self._links)
            self._monitors.append(watch(sock, REGISTER_EVENTS, self._on_event(index)))
            sock.connect(f"tcp://{address.removeprefix('tcp://')}")
            self._links.append((sock, Outbox(sock)))

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """Reading each link (and its monitor) until cancelled."""
        return [*(self._read(sock) for sock, _ in self._links), *self._monitors]

    def close(self) -> None:
        """Stop watching the links (a monitor never started if the start failed)."""
        for watching in self._monitors:
            watching.close()

    def linked(self) -> int:
        """How many register links are up."""
        return sum(self._up.values())

    def announce(self) -> None:
        """Tell every register where this gateway is (unless it is leaving)."""
        if self._leaving:
            return
        where = self.addresses
        frame = protocol.encode(Announce(where.internal, where.public, where.epoch))
        for _, outbox in self._links:
            outbox.send(frame)

    def goodbye(self) -> None:
        """Leave every register, now; no announce follows (it must not re-add us)."""
        self._leaving = True
        frame = protocol.encode(Goodbye(self.addresses.internal))
        for _, outbox in self._links:
            outbox.send(frame)
            outbox.flush()

    def _on_event(self, index: int) -> Callable[[int, str], None]:
        def on_event(event: int, endpoint: str) -> None:
            self._up[index] = bool(event & zmq.EVENT_HANDSHAKE_SUCCEEDED)

        return on_event

    @staticmethod
    async def _read(sock: Any) -> None:
        # The register never talks to gateways; keep the socket's queue empty anyway.
        async for _ in drain(sock):
            pass


class Reach:
    """Whether a worker can reach this gateway: a register link, or a linked worker."""

    def __init__(
        self,
        config: GatewayConfig,
        registers: RegisterLinks,
        pool: WorkerPool,
        addresses: Addresses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registers = registers
        self.pool = pool
        self.addresses = addresses
        self._link_timeout = config.timing.link_timeout
        self._clock = clock
        self._unlinked_since: float | None = clock()  # links take a moment: a grace
        self._said = False  # the warning is out (until linked again)

    def start(self) -> None:
        """The gateway serves from now: the grace for its first links starts now."""
        self._unlinked_since = self._clock()

    def linked(self) -> bool:
        return bool(self.registers.linked() or self.pool.live())

    def reachable(self) -> bool:
        """Linked, or unlinked for less than a link timeout; else no worker may ever
        come: new clients get 503."""
        if self.linked():
            self._unlinked_since = None
            return True
        now = self._clock()
        if self._unlinked_since is None:
            self._unlinked_since = now
        return now - self._unlinked_since < self._link_timeout

    def say(self) -> None:
        """Loudly, once, when this gateway becomes unreachable; once when it is back."""
        if self.reachable():
            if self._said:
                self._said = False
                log.info(
                    "gateway %s: linked again (registers %d, workers %d): taking clients",
                    self.addresses.internal,
                    self.registers.linked(),
                    len(self.pool.live()),
                )
        elif not self._said:
            self._said = True
            log.warning(
                "gateway %s: no register answers at %s (--register) and no worker is linked: "
                "no worker can reach this gateway; new clients get 503 until one does",
                self.addresses.internal,
                ", ".join(self.registers.registers),
            )
