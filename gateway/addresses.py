"""Where a gateway is: known in part only once it is bound, read by its parts before.

A gateway's parts are built before it binds (:class:`~gateway.server.GatewayServer`
builds them in dependency order, each with what it needs), yet some of them need
values that only binding gives: the edge puts the internal port in every client_id
and the WebSocket port in the request data, the worker link says where clients
connect in its Welcome. They get this :class:`Addresses`, made first, empty, and set
once by the server when both ports are bound (as uvicorn's ``ServerState`` is made
first and handed down): to every part but the server it is read-only.
"""

from __future__ import annotations

from common.config import split_address


class Addresses:
    """A gateway's epoch (known from the start) and its addresses (known once bound)."""

    __slots__ = (
        "_internal",
        "_internal_port",
        "_lan_ip",
        "_listen",
        "_public",
        "_public_port",
        "epoch",
    )

    def __init__(self, epoch: int, lan_ip: str) -> None:
        self.epoch = epoch  # this process's instance of the gateway (in its client_ids)
        self._lan_ip = lan_ip
        self._internal = ""
        self._internal_port = 0
        self._listen = ""
        self._public = ""
        self._public_port = 0

    def bound(self, internal: str, listen_host: str, public_port: int, public: str) -> None:
        """Both ports are bound: ``internal`` is ``tcp://lan_ip:port`` (workers link
        there), the WebSocket socket listens on ``listen_host``:``public_port``, and
        ``public`` is the ``host:port`` clients are told. Called once, by the server."""
        if self._internal:
            raise RuntimeError("a gateway's addresses are set once")
        self._internal = internal
        self._internal_port = split_address(internal)[1]
        self._listen = f"{listen_host}:{public_port}"
        self._public = public
        self._public_port = public_port

    @property
    def lan_ip(self) -> str:
        """The IPv4 address client_ids carry (``--lan-ip``)."""
        return self._lan_ip

    @property
    def internal(self) -> str:
        """``tcp://lan_ip:port``: where workers and push clients link ("" until bound)."""
        return self._internal

    @property
    def internal_port(self) -> int:
        return self._internal_port

    @property
    def listen(self) -> str:
        """The WebSocket socket's ``host:port``, as bound."""
        return self._listen

    @property
    def public(self) -> str:
        """The WebSocket ``host:port`` clients are told (``--public-address``, or ``listen``)."""
        return self._public

    @property
    def public_port(self) -> int:
        """The WebSocket port actually bound."""
        return self._public_port
