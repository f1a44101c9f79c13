"""common.monitor: failed handshakes named for what they are, peers named where known.

The classification and the peer book are pure (events fed by hand); the last tests
use real CURVE sockets on loopback, in this process, to check what libzmq reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import zmq

from common import monitor
from common.config import Security, Timing
from common.monitor import AcceptedPeers, FailedHandshake, failed_handshake, watch
from common.transport import Transport
from tests.harness import UNIT, eventually_async

NO_DETAIL = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
PROTOCOL = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
AUTH = zmq.EVENT_HANDSHAKE_FAILED_AUTH


# -- what a failure means --------------------------------------------------------------
def test_a_different_secret_is_named_by_the_side_that_refused() -> None:
    found = failed_handshake(PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, True, "10.0.0.9:4100")
    assert found.kind == "secret" and found.level == logging.WARNING
    assert found.describe() == (
        "refused an internal peer at 10.0.0.9:4100: its --secret differs from ours"
    )


def test_the_refused_side_is_told_it_was_refused() -> None:
    found = failed_handshake(NO_DETAIL, 32, False, "10.0.0.1:1236")
    assert found.describe().startswith("internal peer 10.0.0.1:1236 refused us:")
    assert "--secret differs" in found.reason


def test_a_hang_up_at_a_bound_port_is_not_called_a_secret_mismatch() -> None:
    found = failed_handshake(NO_DETAIL, 104, True, "10.0.0.9:4100")
    assert found.kind == "hangup" and found.level == logging.INFO
    text = found.describe()
    assert "secret" not in text and "refused an" not in text
    assert "port probe" in text and "10.0.0.9:4100" in text


def test_mechanism_mismatch_key_and_garbage() -> None:
    mismatch = failed_handshake(PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, False, "x:1")
    assert mismatch.kind == "mechanism" and "the other none" in mismatch.reason
    key = failed_handshake(AUTH, 400, True, None)
    assert key.kind == "key" and "an unknown address" in key.describe()
    garbage = failed_handshake(
        PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO, True, None
    )
    assert garbage.kind == "protocol" and "MALFORMED_COMMAND_HELLO" in garbage.reason


# -- which peer: the book of accepted connections -------------------------------------
def test_a_looked_up_peer_names_its_refusal() -> None:
    peers = AcceptedPeers(resolve={7: "10.0.0.5:4000"}.get)
    peers.feed(zmq.EVENT_ACCEPTED, 7)
    assert peers.unnamed() == [7]
    peers.name(peers.lookup(peers.unnamed()), closed_since=set())
    assert peers.unnamed() == []
    assert peers.feed(zmq.EVENT_DISCONNECTED, 7) == "10.0.0.5:4000"
    assert len(peers) == 0


def test_a_lookup_made_doubtful_by_a_close_is_dropped() -> None:
    # the descriptor closed (its DISCONNECTED was queued) around the lookup: the
    # number may already belong to another connection
    peers = AcceptedPeers(resolve=lambda fd: "10.0.0.6:4000")
    peers.feed(zmq.EVENT_ACCEPTED, 7)
    peers.name(peers.lookup([7]), closed_since={7})
    assert peers.unnamed() == []  # not looked up again
    assert peers.feed(zmq.EVENT_DISCONNECTED, 7) is None


def test_a_reused_descriptor_gets_its_own_peer() -> None:
    names = iter(["10.0.0.1:1", "10.0.0.2:2"])
    peers = AcceptedPeers(resolve=lambda fd: next(names))
    peers.feed(zmq.EVENT_ACCEPTED, 7)
    peers.name(peers.lookup([7]), set())
    assert peers.feed(zmq.EVENT_DISCONNECTED, 7) == "10.0.0.1:1"
    peers.feed(zmq.EVENT_ACCEPTED, 7)
    peers.name(peers.lookup(peers.unnamed()), set())
    assert peers.feed(zmq.EVENT_DISCONNECTED, 7) == "10.0.0.2:2"


def test_a_failed_lookup_is_unknown() -> None:
    peers = AcceptedPeers(resolve=lambda fd: None)
    peers.feed(zmq.EVENT_ACCEPTED, 3)
    peers.name(peers.lookup([3]), set())
    assert peers.unnamed() == []
    assert peers.feed(zmq.EVENT_DISCONNECTED, 3) is None
    assert peers.feed(zmq.EVENT_DISCONNECTED, 99) is None  # never seen


def test_peer_of_fd_of_something_that_is_not_a_socket() -> None:
    assert monitor.peer_of_fd(10_000) is None  # not open


# -- real sockets ------------------------------------------------------------------------
@pytest.fixture
async def server() -> AsyncIterator[Server]:
    transport = Transport(Security("right-secret"), Timing(heartbeat=0.2, timeout=0.7))
    router = transport.socket(zmq.ROUTER, server=True)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    yield router, f"tcp://127.0.0.1:{port}"
    transport.close()


Server = tuple[Any, str]  # the bound ROUTER, its address

Seen = Callable[[list[FailedHandshake], list[FailedHandshake]], bool]


async def refused_by(
    server: Server, secret: str | None, done: Seen
) -> tuple[list[FailedHandshake], list[FailedHandshake]]:
    """Connect with ``secret`` until ``done(bound side's refusals, connecting side's)``."""
    router, address = server
    seen: list[FailedHandshake] = []
    # attached at watch()'s call: nothing to wait for
    task = asyncio.create_task(watch(router, 0, lambda e, ep: None, seen.append, bound=True))
    client = Transport(Security(secret))
    dealer = client.socket(zmq.DEALER, server=False)
    told: list[FailedHandshake] = []
    client_task = asyncio.create_task(watch(dealer, 0, lambda e, ep: None, told.append))
    dealer.connect(address)
    try:
        await eventually_async(lambda: done(seen, told), timeout=10 * UNIT)
    finally:
        client_task.cancel()
        task.cancel()
        await asyncio.gather(client_task, task, return_exceptions=True)
        client.close()
    return seen, told


async def test_a_wrong_secret_is_refused_and_the_peer_named(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.monitor")
    # it retries: refused each time
    seen, told = await refused_by(server, "wrong-secret", lambda s, t: len(s) >= 5 and t)
    assert {r.kind for r in seen} == {"secret"} and all(r.bound for r in seen)
    # the refused side cannot know why it was hung up on, but says the likely cause
    assert {r.kind for r in told} == {"hangup"} and not any(r.bound for r in told)
    _, address = server
    assert {r.peer for r in told} == {address.removeprefix("tcp://")}
    # named where the lookup won the race (most of the time on an idle loop); when
    # named, always the peer's address, never our listening one
    named = [r.peer for r in seen if r.peer]
    assert named, seen
    assert all(p.startswith("127.0.0.1:") and f"tcp://{p}" != address for p in named)
    # rate-limited: the first refusal of each side is logged, the rest are counted
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 2, lines


async def test_no_secret_against_a_secret_is_named_as_such(
    server: Server,
) -> None:
    # the client sees the mismatch (and, a protocol error, does not retry); the
    # server sees it too, or just the client hanging up
    seen, _ = await refused_by(server, None, lambda s, t: s and "mechanism" in {r.kind for r in t})
    assert {r.kind for r in seen} <= {"hangup", "mechanism"}


async def test_a_plain_tcp_probe_is_a_hang_up(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.monitor")
    router, address = server
    seen: list[FailedHandshake] = []
    task = asyncio.create_task(watch(router, 0, lambda e, ep: None, seen.append, bound=True))
    host, port = address.removeprefix("tcp://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.close()
    await eventually_async(lambda: seen)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [r.kind for r in seen] == ["hangup"]
    assert not any("secret" in r.getMessage() for r in caplog.records)
