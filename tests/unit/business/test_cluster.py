"""business.cluster and business.subscription, without a register: what needs no
socket (the links to fake gateways and registers are tests/inproc/test_cluster_links.py)."""

from __future__ import annotations

import pytest
import zmq

from business.cluster import Cluster
from business.subscription import Handshakes
from common.config import Timing
from common.frames import Op, Role
from common.metrics import Histogram
from common.monitor import FailedHandshake

TIMING = Timing(heartbeat=0.2, timeout=0.7, query_timeout=2.5)


def test_a_query_deadline_is_the_timings_unless_given() -> None:
    assert Cluster([], role=Role.CLIENT, name="t", timing=TIMING).query_timeout == 2.5
    assert Cluster([], role=Role.CLIENT, name="t", query_timeout=9.0).query_timeout == 9.0


async def test_a_query_to_no_gateway_returns_at_once_and_is_timed() -> None:
    seconds = Histogram()
    cluster = Cluster([], role=Role.CLIENT, name="t", query_seconds=seconds)
    try:
        assert await cluster.query(Op.GET_ALL_CLIENT_ID_COUNT, [], [], 5.0) == ({}, (), None)
        assert seconds.count == 1 and cluster.query_seconds is seconds
    finally:
        await cluster.close()


async def test_lists_that_are_not_complete_yet_name_the_registers() -> None:
    cluster = Cluster(["10.0.0.9:1236"], role=Role.CLIENT, name="t", timing=TIMING)
    assert cluster.listed is None and cluster.unsettled() == ()  # no answer: not "unsettled"
    cluster.view.on_list(0, {"tcp://10.0.0.1:2900": 1}, False, 0.0)
    assert cluster.listed == {"tcp://10.0.0.1:2900": 1}
    assert cluster.unsettled() == ("register 10.0.0.9:1236 (its list is not complete yet)",)
    cluster.view.on_list(0, {"tcp://10.0.0.1:2900": 1}, True, 0.0)
    assert cluster.unsettled() == ()
    await cluster.close()


async def test_a_gateway_is_gone_only_when_the_lists_are_complete_and_no_link_lives() -> None:
    cluster = Cluster(["10.0.0.9:1236"], role=Role.CLIENT, name="t", timing=TIMING)
    a, b = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900"
    try:
        cluster.view.on_list(0, {a: 1}, False, 0.0)
        assert not cluster.gone(b)  # a list that is not complete yet may lack it
        cluster.view.on_list(0, {a: 1, b: 1}, True, 0.0)
        cluster.view.link_up(b)
        assert not cluster.gone(a) and not cluster.gone(b)
        cluster.view.on_list(0, {a: 1}, True, 1.0)  # a restarted register, b not back yet
        assert not cluster.gone(b)  # its link still lives: a member
        assert cluster.gone("tcp://10.0.0.3:2900")  # never one of ours
        cluster.view.link_down(b, 2.0)  # and now its link is down too: gone
        assert cluster.gone(b)
    finally:
        await cluster.close()


def refused(kind: str) -> FailedHandshake:
    return FailedHandshake(kind, False, "10.0.0.9:1236", f"the {kind} reason")


def test_refused_by_a_register_and_accepted_by_none_is_an_error() -> None:
    shakes = Handshakes()
    assert not shakes.refused_everywhere  # unreachable is not refused
    shakes.refusal(0, refused("secret"))
    assert shakes.refused_everywhere
    error = shakes.error(3.0)
    assert "within 3s" in str(error) and "the secret reason" in str(error)
    assert "same --secret" in str(error)
    shakes.event(1, zmq.EVENT_HANDSHAKE_SUCCEEDED, "tcp://10.0.0.8:1236")  # another one
    assert not shakes.refused_everywhere


def test_a_register_that_accepts_us_later_is_no_longer_refused() -> None:
    shakes = Handshakes()
    shakes.refusal(0, refused("secret"))
    shakes.event(0, zmq.EVENT_HANDSHAKE_SUCCEEDED, "tcp://10.0.0.9:1236")
    assert shakes.accepted == {0} and shakes.refused == {}


@pytest.mark.parametrize("event", [0, zmq.EVENT_DISCONNECTED])
def test_other_events_change_nothing(event: int) -> None:
    shakes = Handshakes()
    shakes.event(0, event, "tcp://x:1")
    assert shakes.accepted == set()
