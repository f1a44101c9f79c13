"""The client whose event is being handled: one :class:`Context` per handler call.

Kept in a :class:`~contextvars.ContextVar`, so handlers of different clients that
run concurrently (async handlers) never see each other's. The worker enters
:func:`handling` around every handler; the API reads :func:`current`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

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


_current: ContextVar[Context | None] = ContextVar("gw_current_client", default=None)


def current() -> Context | None:
    """The context of the handler running now, or None outside a handler."""
    return _current.get()


class handling:  # lower case: used as a function, ``with handling(context):``
    """Make ``context`` the current one for the duration of a handler call.

    A class, not ``@contextmanager``: it runs around every event, and a generator
    costs several times as much.
    """

    __slots__ = ("_context", "_token")

    def __init__(self, context: Context) -> None:
        self._context = context
        self._token: Token[Context | None] | None = None

    def __enter__(self) -> Context:
        self._token = _current.set(self._context)
        return self._context

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _current.reset(self._token)
