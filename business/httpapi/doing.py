"""Doing the calls, once a request is let in and its body read (no HTTP here): the
arguments bound (:func:`.calls.bind`), the gateways checked (:mod:`.reach`), then the
push client's send or query (:class:`Doer`); a batch's items, in order (:class:`Batch`).

A send is queued in order, as the push client queues it (no await). To one gateway,
the command as :func:`.calls.bind` made it (the op's own checks: what the gateway
takes) goes to its link at once; to every gateway (or a list of clients'), through
the push client's method, which encodes it once for all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from common.exceptions import NotRunning
from common.ids import GATEWAY_DIGITS as DIGITS

from . import batches, reach
from .batches import SENT
from .calls import CALLS, SENDS_TO_ONE, Call, bind, reply
from .errors import ApiError, from_exception
from .metrics import Stats

if TYPE_CHECKING:
    from ..client import AsyncGatewayClient
    from ..cluster import Link

Reply = dict[str, Any] | Coroutine[Any, Any, dict[str, Any]]  # a batch item's: a query awaits


class Doer:
    """The calls, done through the push client."""

    def __init__(self, client: AsyncGatewayClient) -> None:
        self.client = client
        self._methods: dict[str, Callable[..., Any]] = {n: getattr(client, n) for n in CALLS}

    async def do(self, call: Call, body: Any) -> dict[str, Any]:
        """One call: its arguments bound, its gateways checked, then done."""
        values, timeout, link = self.prepare(call, body)
        if call.query:
            return await self.query(call, values, timeout)
        return self.send(call, values, link)

    def prepare(self, call: Call, body: Any) -> tuple[list[Any], float | None, Link | None]:
        """The call's arguments, a query's timeout, and a send to one gateway's link."""
        values, timeout = self.bind(call, body)
        return values, timeout, self.reachable(call, values)

    @staticmethod
    def bind(call: Call, body: Any) -> tuple[list[Any], float | None]:
        try:
            return bind(call, body)
        except ValueError as exc:
            raise ApiError("invalid_argument", str(exc)) from None

    def reachable(self, call: Call, values: list[Any]) -> Link | None:
        """ApiError if the call cannot reach its gateways; for a send to one client, the
        link to its gateway (else None)."""
        try:
            cluster = self.client.cluster
        except NotRunning:
            raise ApiError("stopping", "the API is stopping", retry_after=1.0) from None
        address = reach.check(call, values, cluster.view, cluster.registers)
        if address is None or call.query:
            return None
        try:
            return cluster.link(address)  # up: reach has checked it
        except Exception as exc:
            raise answered(exc) from None

    def send(self, call: Call, values: list[Any], link: Link | None) -> dict[str, Any]:
        """A send, queued (see the module's docstring)."""
        try:
            if link is not None:
                link.command(call.op, values)
            else:
                self._methods[call.name](*values)
        except Exception as exc:
            raise answered(exc) from None
        return SENT

    async def query(self, call: Call, values: list[Any], timeout: float | None) -> dict[str, Any]:
        try:
            return reply(call, await self._methods[call.name](*values, timeout=timeout))
        except Exception as exc:
            raise answered(exc) from None


class Batch:
    """One batch's calls, done in order: a query's answer before the next call. An
    item's error is its reply and does not stop the batch (``refused(call, error)``
    is told it, to log). Counted in ``stats.batched`` by call and status."""

    def __init__(self, doer: Doer, stats: Stats, refused: Callable[[str, ApiError], None]) -> None:
        self.doer = doer
        self.stats = stats
        self.refused = refused
        # The gateways this batch's sends to one client found reachable, by the
        # client_id's gateway digits. Between two sends nothing else runs on the loop
        # (no await), so what was reachable for one is for the next: the gateway is
        # checked once per batch, not once per send, until a query awaits.
        self.links: dict[str, Link] = {}

    async def run(self, items: list[Any]) -> list[dict[str, Any]]:
        """Every item's reply, in order. The usual item is done here, in one step and
        without a call of its own (a batch may carry thousands): ``{"call": <a send to
        one client>, "args": {...}}`` whose arguments bind as they are
        (:attr:`.calls.Call.usual`), to a gateway this batch already reached. Anything
        else (the first send to each gateway, which finds it) by :meth:`item`."""
        replies: list[dict[str, Any]] = []
        answer = replies.append
        sends, links = SENDS_TO_ONE.get, self.links  # (cleared, never replaced)
        done: list[str] = []  # the usual items' calls, counted once at the end
        try:
            for item in items:
                if type(item) is dict and len(item) == 2:
                    name = item.get("call")
                    call = sends(name) if type(name) is str else None
                    if call is not None:
                        values = call.usual(item.get("args"))
                        link = None if values is None else links.get(values[0][:DIGITS])
                        if values is not None and link is not None:
                            try:
                                link.command(call.op, values)
                            except Exception:  # said, and answered, by the whole path
                                pass
                            else:
                                done.append(call.name)
                                answer(SENT)
                                continue
                reply = self.item(item)
                if not isinstance(reply, dict):
                    links.clear()  # a query awaits: links may come and go meanwhile
                    reply = await reply
                answer(reply)
        finally:
            for name, count in Counter(done).items():
                self.stats.batched[name, 200] += count
        return replies

    def item(self, item: Any) -> Reply:
        """One item's reply (a query's: to await), any item: its shape and call
        checked, its arguments bound (what HTTP adds, or what is wrong); a send done
        here and now (no coroutine for each), a query returned to await."""
        label = "unknown"
        doer = self.doer
        try:
            call, args = batches.item_call(item)
            label = call.name
            if call.one and not call.query:  # a send to one client: its gateway known?
                values = doer.bind(call, args)[0]
                link = self.link(call, values)
            else:
                values, timeout, link = doer.prepare(call, args)
                if call.query:
                    return self.query(call, values, timeout)
            payload = doer.send(call, values, link)
        except ApiError as err:
            return self.error(label, err)
        self.stats.batched[label, 200] += 1
        return payload

    def link(self, call: Call, values: list[Any]) -> Link | None:
        """A send to one client's gateway link, found once per batch."""
        key = values[0][:DIGITS]
        link = self.links.get(key)
        if link is None:
            link = self.doer.reachable(call, values)
            if link is not None:
                self.links[key] = link
        return link

    async def query(self, call: Call, values: list[Any], timeout: float | None) -> dict[str, Any]:
        try:
            payload = await self.doer.query(call, values, timeout)
        except ApiError as err:
            return self.error(call.name, err)
        self.stats.batched[call.name, 200] += 1
        return payload

    def error(self, label: str, err: ApiError) -> dict[str, Any]:
        self.stats.batched[label, err.status] += 1
        self.refused(label, err)
        return err.item()


def answered(exc: Exception) -> Exception:
    """What a call's failure is answered with: its ApiError, or itself (a bug: a 500)."""
    return from_exception(exc) or exc
