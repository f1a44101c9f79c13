"""The register's I/O: one ROUTER socket that gateways and subscribers talk to."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine
from typing import Any

import zmq

from common import protocol
from common.config import RegisterConfig, split_address
from common.exceptions import ProtocolError
from common.service import Service
from common.transport import Outbox, Transport, drain

from .membership import Membership

log = logging.getLogger(__name__)


class RegisterServer(Service):
    """Tracks gateway addresses and pushes the list to every subscriber."""

    role = "register"

    def __init__(self, config: RegisterConfig, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.config = config
        self._clock = clock
        self.membership = Membership(config.timing.timeout, clock())
        self._transport: Transport | None = None
        self._sock: Any = None
        self._outbox: Outbox | None = None
        self._complete = False
        self.address = ""

    async def _start(self) -> None:
        host, port = split_address(self.config.listen)
        self.config.security.check_bind(host, "the register")
        self._transport = Transport(self.config.security)
        self._sock = self._transport.socket(zmq.ROUTER, server=True)
        if port == 0:
            port = self._sock.bind_to_random_port(f"tcp://{host}")
        else:
            self._sock.bind(f"tcp://{host}:{port}")
        self.address = f"{host}:{port}"
        self._outbox = Outbox(self._sock)
        self.membership = Membership(self.config.timing.timeout, self._clock())
        log.info("register listening on %s", self.address)

    def info(self) -> dict[str, Any]:
        return {"listen": self.address, "pid": os.getpid()}

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        return [self._receive(), self._expire()]

    async def _receive(self) -> None:
        async for parts in drain(self._sock):
            identity = parts[0]
            changed = False
            for frame in protocol.decode_parts(parts[1:]):
                if isinstance(frame, ProtocolError):
                    log.warning("dropped a frame from %s: %s", identity.hex(), frame)
                    continue
                try:
                    changed |= self._on_frame(identity, frame)
                except (TypeError, ValueError, KeyError) as exc:  # never die of a peer
                    log.warning("refused a %s from %s: %s", type(frame).__name__,
                                identity.hex(), exc)  # fmt: skip
            if changed:
                self._publish()

    def _on_frame(self, identity: bytes, frame: protocol.Frame) -> bool:
        now = self._clock()
        if isinstance(frame, protocol.Announce):
            changed = self.membership.announce(frame.address, frame.public, frame.epoch, now)
            if changed:
                log.info("gateway %s joined (epoch %08x)", frame.address, frame.epoch)
            return changed
        if isinstance(frame, protocol.Goodbye):
            if self.membership.goodbye(frame.address):
                log.info("gateway %s left", frame.address)
                return True
            return False
        if isinstance(frame, protocol.Subscribe):
            if self.membership.subscribe(identity, now):
                log.debug("subscriber %s (%s)", frame.name, identity.hex())
                self._send_list(identity)
            return False
        log.warning("unexpected %s from %s", type(frame).__name__, identity.hex())
        return False

    def _list_frame(self) -> bytes:
        complete = self.membership.complete(self._clock())
        return protocol.encode(protocol.GatewayList(self.membership.gateways(), complete))

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
            if not self._complete and self.membership.complete(now):
                self._complete = changed = True
            if changed:
                self._publish()

    def _release(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
