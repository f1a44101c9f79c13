"""business.api: calls turned into commands and queries, routed to the right gateways.

A recording cluster stands for the links: no sockets. "one" calls go to the gateway
named in the client_id, "all" calls to every gateway listed; queries merge what each
gateway answered and say which did not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from business.api import GatewayAPI, WorkerAPI, encode_message
from business.context import Context, worker_context
from common import ids, protocol
from common.exceptions import InvalidArgument, NotRunning, QueryTimeout, RemoteError
from common.frames import Command, Op

A, B = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900"
CA = ids.encode("10.0.0.1", 2900, 1, 1)  # a client of gateway A
CB = ids.encode("10.0.0.2", 2900, 1, 1)  # one of B


class Link:
    def __init__(self, address: str) -> None:
        self.address = address
        self.sent: list[Command] = []
        self.outbox = self  # "all" calls send encoded frames through it

    def send(self, frame: Any) -> None:
        self.sent.append(frame if isinstance(frame, Command) else protocol.decode(frame))

    def command(self, op: Op, args: list[Any]) -> None:  # as the real one encodes it
        self.send(protocol.encode_command(op, args))


class Cluster:
    """The cluster as the API uses it: links, the listed gateways, queries."""

    registers = ("10.0.0.9:1236",)

    def __init__(self, listed: dict[str, int] | None = None) -> None:
        self.listed = listed
        self.links = {address: Link(address) for address in (A, B)}
        self.query_timeout = 5.0
        self.answers: dict[str, Any] = {}
        self.asked: list[tuple[Op, list[Any], list[str], float]] = []
        self.error: str | None = None

    def link(self, address: str) -> Link:
        return self.links[address]

    def gone(self, address: str) -> bool:  # (the real one asks its view: lists and links)
        return self.listed is not None and address not in self.listed

    def listed_links(self) -> list[Link]:
        return [self.links[a] for a in self.listed or ()]

    async def query(
        self, op: Op, args: list[Any], addresses: list[str], timeout: float
    ) -> tuple[dict[str, Any], tuple[str, ...], str | None]:
        self.asked.append((op, args, list(addresses), timeout))
        answers = {a: self.answers[a] for a in addresses if a in self.answers}
        return answers, tuple(a for a in addresses if a not in answers), self.error

    def sent(self, address: str) -> list[tuple[Op, list[Any]]]:
        return [(c.op, c.args) for c in self.links[address].sent]


class Api(GatewayAPI):
    def __init__(self, cluster: Cluster) -> None:
        self._links = cluster

    @property
    def cluster(self) -> Any:
        return self._links


def api(listed: dict[str, int] | None = None) -> tuple[Api, Cluster]:
    cluster = Cluster({A: 1, B: 1} if listed is None else listed)
    return Api(cluster), cluster


def test_one_client_calls_go_to_its_gateway_only() -> None:
    gw, cluster = api()
    gw.send_to_client(CA, {"hi": 1})
    gw.join_group(CB, 100)
    gw.bind_uid(CA, 7)
    assert cluster.sent(A) == [(Op.SEND_TO_CLIENT, [CA, '{"hi":1}']), (Op.BIND_UID, [CA, "7"])]
    assert cluster.sent(B) == [(Op.JOIN_GROUP, [CB, "100"])]


def test_all_calls_go_to_every_listed_gateway() -> None:
    gw, cluster = api()
    gw.send_to_group([1, "b"], "news", exclude=[CA])
    gw.send_to_uid("ann", b"\x00")
    for address in (A, B):
        assert cluster.sent(address) == [
            (Op.SEND_TO_GROUP, [["1", "b"], "news", [CA]]),
            (Op.SEND_TO_UID, [["ann"], b"\x00"]),
        ]


def test_an_all_call_before_any_register_answered_is_dropped() -> None:
    gw, cluster = api(listed=None)
    cluster.listed = None
    gw.send_to_all("lost")
    assert cluster.sent(A) == cluster.sent(B) == []


def test_send_to_all_with_client_ids_goes_to_each_ones_gateway() -> None:
    gw, cluster = api()
    gw.send_to_all("x", client_ids=[CA, CB], exclude=[CB])
    assert cluster.sent(A) == [(Op.SEND_TO_ALL, ["x", [CA], [CB]])]
    assert cluster.sent(B) == [(Op.SEND_TO_ALL, ["x", [CB], [CB]])]


def test_one_client_id_alone_is_a_list_of_one_never_its_characters() -> None:
    """As the original's $client_ids and $exclude: one id, or an array of them (the
    natural port, ``exclude=api.client_id``, must leave that client out)."""
    gw, cluster = api()
    gw.send_to_group("room", "hi", exclude=CA)
    gw.send_to_all("x", client_ids=CB, exclude=CB)
    gw.send_to_all("y", exclude=[])
    assert cluster.sent(A) == [
        (Op.SEND_TO_GROUP, [["room"], "hi", [CA]]),
        (Op.SEND_TO_ALL, ["y", None, None]),
    ]
    assert cluster.sent(B)[1] == (Op.SEND_TO_ALL, ["x", [CB], [CB]])


@pytest.mark.parametrize(
    ("message", "raw", "sent"),
    [
        ("é", False, "é"),
        (b"\x01", False, b"\x01"),
        ({"a": [1, "é"]}, False, '{"a":[1,"é"]}'),
        ([1], False, "[1]"),
        ("x", True, "x"),
    ],
)
def test_messages_are_text_binary_or_json(message: Any, raw: bool, sent: str | bytes) -> None:
    assert encode_message(message, raw) == sent


@pytest.mark.parametrize("message", [1, None, 1.5, {"a"}])
def test_anything_else_is_not_a_message(message: Any) -> None:
    with pytest.raises(InvalidArgument, match="a message is"):
        encode_message(message)


def test_a_session_is_a_dict() -> None:
    gw, _ = api()
    with pytest.raises(InvalidArgument, match="a session is a dict"):
        gw.set_session(CA, ["not", "a", "dict"])  # type: ignore[arg-type]


async def test_an_all_query_merges_what_arrived_and_names_who_did_not() -> None:
    gw, cluster = api()
    cluster.answers = {A: 2}  # B is silent
    count = await gw.get_all_client_id_count(timeout=0.5)
    assert count == 2 and count.missing == (B,)
    assert cluster.asked == [(Op.GET_ALL_CLIENT_ID_COUNT, [], [A, B], 0.5)]


async def test_an_all_query_before_any_register_answered_names_the_registers() -> None:
    gw, cluster = api()
    cluster.listed = None
    count = await gw.get_all_client_id_count()
    assert count == 0 and count.missing == ("register 10.0.0.9:1236",)
    assert cluster.asked == []  # nobody to ask: never a false "0"


async def test_a_one_client_query_asks_its_gateway_and_times_out_loudly() -> None:
    gw, cluster = api()
    cluster.answers = {A: 1}
    assert await gw.is_online(CA) == 1
    assert cluster.asked[-1][2:] == ([A], 5.0)  # the cluster's default deadline
    with pytest.raises(QueryTimeout, match="did not answer"):
        await gw.is_online(CB)


async def test_a_one_client_query_about_a_gateway_no_register_lists_answers_at_once() -> None:
    """Its gateway is gone (or was never ours): the client is not online, as the
    original answers, and nobody is asked (no 5 s wait for a gateway that is not there).
    When a gateway is gone is the cluster's to say (test_cluster: Cluster.gone)."""
    gw, cluster = api(listed={A: 1})
    gone = ids.encode("10.0.0.3", 2900, 1, 1)
    assert await gw.is_online(gone) == 0
    assert await gw.get_session(gone) is None
    assert await gw.get_uid_by_client_id(gone) is None
    assert cluster.asked == []


async def test_a_gateways_error_is_a_remote_error() -> None:
    gw, cluster = api()
    cluster.error = "ProtocolError: bad"
    with pytest.raises(RemoteError, match="GET_ALL_UID_LIST: ProtocolError"):
        await gw.get_all_uid_list()


async def test_the_workers_api_finds_the_worker_it_is_called_from() -> None:
    mine, other = Cluster({A: 1}), Cluster({A: 1})
    api_ = WorkerAPI()
    with pytest.raises(NotRunning, match="outside a running worker"):
        api_.send_to_all("x")
    context = Context(CA, {}, "1.2.3.4:5", A, "ws", mine.links[A], cluster=mine)  # type: ignore[arg-type]
    with context:
        api_.send_to_current_client("to me")
        api_.send_to_all("everyone")
    assert mine.sent(A) == [
        (Op.SEND_TO_CLIENT, [CA, "to me"]),
        (Op.SEND_TO_ALL, ["everyone", None, None]),
    ]

    async def at_start() -> None:  # a worker's on_worker_start, and a task it starts
        api_.send_to_all("from start")
        await asyncio.get_running_loop().create_task(asyncio.sleep(0))
        api_.ungroup("g")

    await asyncio.get_running_loop().create_task(at_start(), context=worker_context(other))  # type: ignore[arg-type]
    assert other.sent(A) == [(Op.SEND_TO_ALL, ["from start", None, None]), (Op.UNGROUP, ["g"])]
    with pytest.raises(NotRunning):
        api_.send_to_all("and here, outside again")


def test_current_client_writes_are_seen_by_the_handler_at_once() -> None:
    cluster = Cluster({A: 1})
    api_ = WorkerAPI()
    context = Context(CA, {"a": 1}, "r", A, "ws", cluster.links[A], cluster=cluster)  # type: ignore[arg-type]
    with context:
        api_.update_session(CA, {"b": 2})
        assert api_.session == {"a": 1, "b": 2}
        api_.set_session(CA, {"c": 3})
        assert api_.session == {"c": 3} and api_.client_id == CA
    assert cluster.sent(A) == [
        (Op.UPDATE_SESSION, [CA, {"b": 2}]),
        (Op.SET_SESSION, [CA, {"c": 3}]),
    ]
    with pytest.raises(NotRunning, match="only valid inside an event handler"):
        api_.current  # noqa: B018 - the property raises


def test_the_session_is_replaced_by_assignment_as_the_originals() -> None:
    """``api.session = {...}`` ($_SESSION = [...]): the handler's session becomes that,
    the same dict, so that what the handler changed is written back after it."""
    from business.worker import session_patch

    cluster = Cluster({A: 1})
    api_ = WorkerAPI()
    context = Context(CA, {"a": 1}, "r", A, "ws", cluster.links[A], cluster=cluster)  # type: ignore[arg-type]
    kept = context.session
    with context:
        api_.session = {"b": 2}
        assert api_.session == {"b": 2} and api_.session is kept
        with pytest.raises(InvalidArgument, match="a session is a dict, not list"):
            api_.session = [("b", 3)]  # type: ignore[assignment]
        mine = api_.session  # the port of $s = $_SESSION; $s[...] = ...; $_SESSION = $s
        mine["c"] = 3
        api_.session = mine
        api_.session |= {"d": 4}
        assert api_.session == {"b": 2, "c": 3, "d": 4} and api_.session is kept
    assert session_patch({"a": 1}, kept) == ({"b": 2, "c": 3, "d": 4}, ["a"])
