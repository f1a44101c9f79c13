"""A batch's calls (business/httpapi/doing.py Batch), with the push client and the
gateway links stood in for: the usual items go straight to a link this batch already
found, everything else the whole way, in order, each counted."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

from business.httpapi.batches import SENT
from business.httpapi.calls import Call
from business.httpapi.doing import Batch, Doer
from business.httpapi.metrics import Stats
from common import ids
from common.frames import Op

CID = ids.encode("127.0.0.1", 2900, 7, 1)
OTHER = ids.encode("127.0.0.1", 2901, 7, 1)  # another gateway


class Link:
    def __init__(self, fail_at: int = 0) -> None:
        self.commands: list[tuple[Op, list[Any]]] = []
        self.fail_at = fail_at  # the command (1, 2, ...) that raises, once

    def command(self, op: Op, args: list[Any]) -> None:
        if len(self.commands) + 1 == self.fail_at:
            self.fail_at = 0
            raise RuntimeError("the link broke")
        self.commands.append((op, args))


class Reached(Doer):
    """A doer whose gateways are these links (by a client_id's gateway digits)."""

    def __init__(self, links: dict[str, Link]) -> None:
        super().__init__(mock.AsyncMock())
        self.links = links
        self.found: list[str] = []  # each time a gateway was looked for
        self.whole = 0  # sends done the whole way (bound, checked, then sent)

    def send(self, call: Call, values: list[Any], link: Any) -> dict[str, Any]:
        self.whole += 1
        return super().send(call, values, link)

    def reachable(self, call: Call, values: list[Any]) -> Any:
        key = values[0][: ids.GATEWAY_DIGITS]
        self.found.append(key)
        return self.links[key]


def run(batch: Batch, items: list[Any]) -> list[dict[str, Any]]:
    return asyncio.run(batch.run(items))


def send(cid: str, n: int) -> dict[str, Any]:
    return {"call": "send_to_client", "args": {"client_id": cid, "message": f"m{n}"}}


def test_the_usual_items_find_their_gateway_once_and_are_all_counted() -> None:
    link, other = Link(), Link()
    doer = Reached({CID[:12]: link, OTHER[:12]: other})
    stats = Stats()
    items = [send(CID if n % 3 else OTHER, n) for n in range(1000)]
    replies = run(Batch(doer, stats, lambda *a: None), items)
    assert replies == [SENT] * 1000
    assert sorted(doer.found) == sorted([CID[:12], OTHER[:12]])  # once each gateway
    assert doer.whole == 2  # the first send to each; the others straight to its link
    assert link.commands == [(Op.SEND_TO_CLIENT, [CID, f"m{n}"]) for n in range(1000) if n % 3]
    assert len(other.commands) == 334
    assert stats.batched == {("send_to_client", 200): 1000}


def test_a_query_between_sends_makes_the_next_send_look_again() -> None:
    link = Link()
    doer = Reached({CID[:12]: link})
    doer._methods["is_online"] = mock.AsyncMock(return_value=1)
    stats = Stats()
    items = [send(CID, 0), {"call": "is_online", "args": {"client_id": CID}}, send(CID, 1)]
    replies = run(Batch(doer, stats, lambda *a: None), items)
    assert replies == [SENT, {"result": 1}, SENT]
    # the send, the query (its gateway checked), the send after it: links may come and
    # go while a query waits, so the next send looks again
    assert doer.found == [CID[:12]] * 3
    assert stats.batched == {("send_to_client", 200): 2, ("is_online", 200): 1}


def test_a_send_the_link_refuses_goes_the_whole_way_and_the_batch_goes_on() -> None:
    link = Link(fail_at=3)  # the third send: refused once, then taken
    doer = Reached({CID[:12]: link})
    stats = Stats()
    replies = run(Batch(doer, stats, lambda *a: None), [send(CID, n) for n in range(5)])
    assert replies == [SENT] * 5
    assert [args[1] for _, args in link.commands] == [f"m{n}" for n in range(5)]  # in order
    assert stats.batched == {("send_to_client", 200): 5}
