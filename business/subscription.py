"""A worker's or push client's subscription to every register, and its handshakes.

One DEALER per register (``--register``): it says Subscribe (repeated as the
heartbeat: :meth:`Subscription.renew`) and gets a GatewayList on subscribing and on
every change, handed to the :class:`~business.cluster.Cluster` as it comes. Each
link's security handshake is watched (:class:`Handshakes`): a register that refused
ours is not merely unreachable, and a start that no register accepted says why.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import zmq

from common import protocol
from common.exceptions import ConfigError, ProtocolError
from common.frames import GatewayList, Subscribe
from common.logs import Throttled
from common.monitor import FailedHandshake, watch
from common.transport import Outbox, Transport, drain

log = logging.getLogger("business.cluster")  # where these lines always were

OnList = Callable[[int, GatewayList], None]  # (register's index, its list)


class Handshakes:
    """Which registers accepted or refused our security handshake."""

    def __init__(self) -> None:
        self.accepted: set[int] = set()  # registers that completed a handshake with us
        self.refused: dict[int, FailedHandshake] = {}  # registers whose last handshake failed

    def event(self, index: int, event: int, endpoint: str) -> None:
        if event & zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.accepted.add(index)
            self.refused.pop(index, None)

    def refusal(self, index: int, refused: FailedHandshake) -> None:
        self.refused[index] = refused

    @property
    def refused_everywhere(self) -> bool:
        """Refused by a register, accepted by none: not merely unreachable."""
        return bool(self.refused) and not self.accepted

    def error(self, limit: float) -> ConfigError:
        why = "; ".join(refusal.describe() for refusal in self.refused.values())
        return ConfigError(
            f"no register accepted our security handshake within {limit:g}s ({why}). "
            "Every process of the cluster must have the same --secret."
        )


class Subscription:
    """The links to every register, what we say on them and what they send."""

    def __init__(self, registers: tuple[str, ...], name: str, on_list: OnList) -> None:
        self.registers = registers
        self.handshakes = Handshakes()
        self._subscribe = protocol.encode(Subscribe(name))
        self._on_list = on_list
        self._outboxes: list[Outbox] = []
        self._log = Throttled(log)  # what a register's bad frames make us say
        self._listed = asyncio.Event()  # some register sent a list
        self._complete = asyncio.Event()  # some register sent a complete list

    def open(self, transport: Transport) -> list[Coroutine[Any, Any, None]]:
        """Connect to every register and subscribe; return what reads each link and its
        monitor (for the caller to run until it closes)."""
        running: list[Coroutine[Any, Any, None]] = []
        for index, address in enumerate(self.registers):
            sock = transport.socket(zmq.DEALER, server=False)
            watching = watch(
                sock,
                zmq.EVENT_HANDSHAKE_SUCCEEDED,  # watched before it connects: every event
                functools.partial(self.handshakes.event, index),
                functools.partial(self.handshakes.refusal, index),
            )
            sock.connect(f"tcp://{address.removeprefix('tcp://')}")
            outbox = Outbox(sock)
            self._outboxes.append(outbox)
            outbox.send(self._subscribe)
            running += [self._read(index, sock), watching]
        return running

    def renew(self) -> None:
        """Subscribe again (the heartbeat: a register forgets a silent subscriber)."""
        for outbox in self._outboxes:
            outbox.send(self._subscribe)

    async def _read(self, index: int, sock: Any) -> None:
        async for parts in drain(sock):
            for frame in protocol.decode_parts(parts):
                if isinstance(frame, ProtocolError):
                    self._log.warning(
                        "register-frame",
                        "dropped a frame from register %s: %s",
                        self.registers[index],
                        frame,
                    )
                elif isinstance(frame, GatewayList):
                    self._on_list(index, frame)
                    self._listed.set()
                    if frame.complete:
                        self._complete.set()

    async def first_list(self, wait: float, limit: float) -> None:
        """Wait up to ``wait`` seconds for a first list.

        If none came because every register that answered at all refused our security
        handshake, keep waiting until ``limit`` seconds in all, then raise ConfigError
        naming the likely cause. A register that is merely unreachable is no error: the
        links keep trying in the background (a warning says so).
        """
        if await self._within(wait, self._listed):
            return
        handshakes = self.handshakes
        if handshakes.refused_everywhere:  # refused, not just unreachable
            if await self._within(limit - wait, self._listed):
                return  # a register took us after all: nothing to warn of
            if not handshakes.accepted:
                raise handshakes.error(limit)
        log.warning(
            "no register answered within %gs at %s; still trying", wait, ", ".join(self.registers)
        )

    async def complete_list(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a complete list (from a register that has settled)."""
        await self._within(seconds, self._complete)

    @staticmethod
    async def _within(seconds: float, event: asyncio.Event) -> bool:
        try:
            await asyncio.wait_for(event.wait(), max(0.0, seconds))
        except TimeoutError:
            return False
        return True
