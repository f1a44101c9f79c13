"""Scatter-gather: which gateways still owe an answer to which query.

A query goes to one or more gateways under one request id; each :class:`Reply`
(or the gateway's link going away) settles that gateway's part, and the query's
future is done once no gateway is left to wait for. The caller's deadline is its
own (:meth:`business.cluster.Cluster.query`); what arrived by then is the answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from common import frames


@dataclass
class Pending:
    """One query in flight."""

    future: asyncio.Future[dict[str, Any]]
    waiting: set[str]
    answers: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Queries:
    """Every query in flight, by request id."""

    def __init__(self) -> None:
        self._pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)

    def open(self, targets: Iterable[str]) -> tuple[int, Pending]:
        """A new request id, and what it waits for (call :meth:`close` when done)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        pending = self._pending[request_id] = Pending(future, set(targets))
        return request_id, pending

    def close(self, request_id: int) -> None:
        self._pending.pop(request_id, None)

    def answered(self, address: str, reply: frames.Reply) -> None:
        """A gateway's reply: its value, or the error it reported."""
        self._settle(reply.request_id, address, reply)

    def gone(self, address: str) -> None:
        """A gateway's link closed: no query waits for it any longer."""
        for request_id, pending in list(self._pending.items()):
            if address in pending.waiting:
                self._settle(request_id, address, None)

    def end_all(self) -> None:
        """Closing: every query returns what it has."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_result(pending.answers)

    def _settle(self, request_id: int, address: str, reply: frames.Reply | None) -> None:
        pending = self._pending.get(request_id)
        if pending is None or address not in pending.waiting:
            return
        pending.waiting.discard(address)
        if reply is not None:
            if reply.ok:
                pending.answers[address] = reply.value
            else:
                pending.error = str(reply.value)
                pending.answers[address] = None
        if not pending.waiting and not pending.future.done():
            pending.future.set_result(pending.answers)
