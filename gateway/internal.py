"""The gateway's internal port: the ZeroMQ ROUTER socket workers and push clients link to.

:class:`InternalPort` binds the socket (``--start-port`` + process index on
``--internal-listen`` or ``--lan-ip``; any free port without a start port), sends
what the gateway says to its peers (events, replies, welcomes), and hands what
arrives to a :class:`Receiver` (the :class:`~gateway.workers.WorkerLink`), which it is
given when it binds: the receiver needs the dispatcher, and the dispatcher needs this
port to send events, so the port is made first and gets its reader when it opens,
as a listening socket gets its protocol.

Sends are batched per peer and loop pass (:class:`~common.transport.Channel`); a
batch of frames from a peer is delivered between the fan-out's ``begin`` and
``flush``, so what the batch sends to clients leaves at its end in one write each.
A send to a peer that is gone is refused (ROUTER_MANDATORY): the receiver hears of
it (:meth:`Receiver.on_unreachable`).
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import zmq

from common import protocol
from common.binding import refusal
from common.config import GatewayConfig
from common.frames import Event, EventKind, Frame, Welcome
from common.monitor import watch
from common.transport import Channel, Transport

from .addresses import Addresses
from .clients import Client
from .fanout import Fanout
from .router import LinkedWorker

NAT = (
    "Behind NAT or in a container, keep --lan-ip as the address workers reach and bind "
    "with --internal-listen 0.0.0.0."
)


class Receiver(Protocol):
    """What the internal port hands what arrives to."""

    def on_message(self, parts: list[bytes]) -> None:
        """A message of a peer: its identity, then parts of frames."""

    def on_unreachable(self, identity: bytes) -> None:
        """A send to ``identity`` was refused: that peer is gone."""

    def on_disconnect(self) -> None:
        """Some peer's connection dropped (libzmq does not say which)."""


@dataclass(slots=True)
class PortCounters:
    """What the internal port counts (``gw status`` and ``/metrics`` read it)."""

    events_by_kind: list[int] = field(default_factory=lambda: [0] * (max(EventKind) + 1))


class InternalPort:
    """The ROUTER socket of one gateway: the dispatcher's :class:`~gateway.dispatch.EventSink`."""

    def __init__(self, config: GatewayConfig, addresses: Addresses, fanout: Fanout) -> None:
        self.config = config
        self.addresses = addresses
        self.fanout = fanout
        self.counters = PortCounters()
        self._router: Any = None
        self._channel: Channel | None = None
        self._watching: Coroutine[Any, Any, None] | None = None

    def bind(self, transport: Transport, receiver: Receiver) -> str:
        """Bind the ROUTER on ``--internal-listen`` (default ``--lan-ip``), port
        ``--start-port`` + index (or any free port); return the advertised address,
        ``tcp://lan_ip:port``. What arrives from now on goes to ``receiver``."""
        cfg = self.config
        host = cfg.internal_listen or cfg.lan_ip  # where it binds; lan_ip is what it says
        router = transport.socket(zmq.ROUTER, server=True)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # a worker reconnecting with its identity takes over its old pipe
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self._router = router
        port = cfg.start_port + cfg.process_index if cfg.start_port else 0
        try:
            if port == 0:
                port = router.bind_to_random_port(f"tcp://{host}")
            else:
                router.bind(f"tcp://{host}:{port}")
        except zmq.ZMQError as exc:
            chose = ("--internal-listen", "") if cfg.internal_listen else ("--lan-ip", NAT)
            where = f"{host}:{port}"
            raise refusal(
                exc, where, "the gateway's internal port", "--start-port", *chose
            ) from None
        self._channel = Channel(
            router,
            receiver.on_message,
            receiver.on_unreachable,
            (self.fanout.begin, self.fanout.flush),
        )
        # watched from now on: a peer refused at once is logged too (with its address)
        self._watching = watch(
            router,
            zmq.EVENT_DISCONNECTED,
            lambda event, endpoint: receiver.on_disconnect(),
            bound=True,
        )
        return f"tcp://{cfg.lan_ip}:{port}"

    async def watch(self) -> None:
        """Read the socket's monitor (disconnects, refused peers) until cancelled."""
        assert self._watching is not None, "bind() first"
        await self._watching

    def close(self) -> None:
        """Flush what is queued and stop watching the socket (before the context goes)."""
        if self._watching is not None:
            self._watching.close()  # (a no-op once it ran)
        if self._channel is not None:
            self._channel.flush()
            self._channel.close()

    def read_soon(self) -> bool:
        """Whether a message waits to be read; if one does, it is read in a callback that
        runs before any scheduled after this call (see Channel.read_soon)."""
        return self._channel is not None and self._channel.read_soon()

    @property
    def open(self) -> bool:
        """Bound, and not closed since."""
        return self._channel is not None and self._router is not None and not self._router.closed

    # -- sends ----------------------------------------------------------------------------
    def send_event(
        self,
        worker: LinkedWorker,
        seq: int,
        client: Client,
        kind: EventKind,
        payload: Any,
        redelivered: bool,
    ) -> None:
        """Send event ``seq`` of ``client`` to ``worker``, with the client's session now."""
        assert self._channel is not None
        self.counters.events_by_kind[kind] += 1
        frame = Event(
            seq,
            kind,
            client.client_id,
            client.remote,
            client.packed_session(),
            payload,
            redelivered,
            client.auth,
        )
        self._channel.send(protocol.encode(frame), to=worker.identity)

    def send(self, frame: Frame, to: bytes) -> None:
        """Send one frame to one peer."""
        assert self._channel is not None
        self._channel.send(protocol.encode(frame), to=to)

    def send_encoded(self, data: bytes, to: bytes) -> None:
        """Send one encoded frame to one peer (a frame sent to many is encoded once)."""
        assert self._channel is not None
        self._channel.send(data, to=to)

    def welcome(self) -> bytes:
        """The Welcome a peer gets: where this gateway is, for workers and clients."""
        where = self.addresses
        return protocol.encode(Welcome(where.internal, where.epoch, where.public))
