"""The client whose event is being handled: one :class:`Context` per handler call.

Kept in a :class:`~contextvars.ContextVar`, so handlers of different clients that
run concurrently (async handlers) never see each other's. The worker runs every
handler inside ``with context:`` (a Context is its own context manager: it runs
around every event, and a separate manager object or a generator would cost more);
the API reads :func:`current`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from common.protocol import unpack_session

from .cluster import Link


@dataclass
class Context:
    """What ``api.current`` holds while a handler runs."""

    client_id: str
    session: dict[Any, Any]
    remote: str  # client ip:port
    gateway: str  # gateway internal address
    gateway_public: str  # gateway WebSocket address
    link: Link = field(repr=False)
    closing: bool = False  # on_close: session writes are not stored
    redelivered: bool = False  # sent again after the worker that had it died
    packed_auth: bytes | None = field(default=None, repr=False)
    _token: Token[Context | None] | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> Context:
        """Make this the current context (until the ``with`` block ends)."""
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _current.reset(self._token)
        self._token = None

    @cached_property
    def auth(self) -> dict[Any, Any] | None:
        """The identity the gateway verified before the upgrade (a token's claims, or
        what ``--auth-hook`` returned); None for an anonymous client. Trust it: no
        client can set it."""
        return None if self.packed_auth is None else unpack_session(self.packed_auth)


_current: ContextVar[Context | None] = ContextVar("gw_current_client", default=None)


def current() -> Context | None:
    """The context of the handler running now, or None outside a handler."""
    return _current.get()
