"""The client whose event is being handled, and the worker running: what ``api`` reads.

One :class:`Context` per handler call, kept in a :class:`~contextvars.ContextVar`, so
handlers of different clients that run concurrently (async handlers) never see each
other's. The worker runs every handler inside ``with context:`` (a Context is its own
context manager: it runs around every event, and a separate manager object or a
generator would cost more); the API reads :func:`current`, and sends through the
context's ``cluster``, its worker's.

Outside a client's event (``on_worker_start``, ``on_worker_stop``, the tasks and
callbacks they start), the API finds the worker in :func:`running_worker`: a worker
runs those in a :class:`contextvars.Context` of its own made by :func:`worker_context`,
which every task started there inherits. No module state: several workers in one
process each have theirs.
"""

from __future__ import annotations

from contextvars import Context as Running
from contextvars import ContextVar, Token, copy_context
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from common.protocol import unpack_session

from .cluster import Cluster, Link


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
    cluster: Cluster | None = field(default=None, repr=False)  # of the worker handling it
    started: float = field(default=0.0, repr=False)  # when the handler began (metrics)
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
_worker: ContextVar[Cluster | None] = ContextVar("gw_running_worker", default=None)


def current() -> Context | None:
    """The context of the handler running now, or None outside a handler."""
    return _current.get()


def running_worker() -> Cluster | None:
    """The cluster of the worker whose ``on_worker_start``/``on_worker_stop`` (or what
    they started) runs now; None elsewhere."""
    return _worker.get()


def worker_context(cluster: Cluster) -> Running:
    """A fresh context in which :func:`running_worker` is ``cluster``'s worker: run
    ``on_worker_start`` and ``on_worker_stop`` in it (``create_task(..., context=)``)."""
    context = copy_context()
    context.run(_worker.set, cluster)
    return context
