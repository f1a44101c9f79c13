"""gateway.stream: a client's transport side, without a socket (a fake transport).

Every byte written counts against the limit (past it: dropped, Drop.SLOW) and in the
gateway's Traffic; reading is paused for two reasons, each lifted on its own; the open
deadline aborts a connection that never opened, the close deadline one that does not
end.
"""

from __future__ import annotations

import asyncio
from typing import cast
from unittest import mock

import pytest
from websockets.protocol import State

from gateway import stream
from gateway.connection import new_protocol
from gateway.stream import Drop, PassBudget, Stream, Traffic

from .wire import FakeTransport, upgrade_request

SHORT = 0.05  # the patched deadlines


def made(limit: int = 1000, traffic: Traffic | None = None) -> tuple[Stream, FakeTransport]:
    s = Stream(new_protocol(None, False), limit, traffic or Traffic())
    transport = FakeTransport()
    s.connection_made(cast(asyncio.Transport, transport))
    return s, transport


def opened(s: Stream) -> None:
    """Take the protocol to OPEN (the connection's part, done by hand here)."""
    s.protocol.receive_data(upgrade_request())
    [request] = s.protocol.events_received()
    s.protocol.send_response(s.protocol.accept(request))  # type: ignore[arg-type]
    assert s.protocol.state is State.OPEN


async def test_what_the_protocol_sends_is_written_and_counted() -> None:
    traffic = Traffic()
    s, transport = made(traffic=traffic)
    opened(s)
    s.send_data()
    assert transport.take().startswith(b"HTTP/1.1 101")
    assert traffic.bytes_out == len(transport.data) and traffic.bytes_in == 0


async def test_a_write_past_the_limit_drops_the_client_whatever_was_written() -> None:
    s, transport = made(limit=1000)
    opened(s)
    transport.buffered = 1000
    s.send_data()  # the 101: within the limit
    assert not transport.aborted and s.dropped is None
    s.protocol.send_ping(b"p")  # any write counts: a ping, a pong, a close...
    transport.buffered = 1001
    s.send_data()
    assert transport.aborted and s.dropped is Drop.SLOW


async def test_a_drop_for_another_reason_is_not_counted_as_slow() -> None:
    s, transport = made(limit=10)
    opened(s)
    s.dropped = Drop.RATE_LIMIT
    transport.buffered = 11
    s.send_data()
    assert transport.aborted and s.dropped is Drop.RATE_LIMIT


async def test_reading_is_paused_for_two_reasons_and_resumed_when_both_are_gone() -> None:
    s, transport = made()
    s.pause_writing()  # the transport's buffer is past its high-water mark
    assert not transport.reading
    s.pause_reading()  # and the handler's backlog is full
    s.resume_writing()
    assert not transport.reading  # the handler's reason still holds
    s.resume_reading()
    assert transport.reading
    s.pause_reading()
    s.pause_writing()
    s.resume_reading()
    assert not transport.reading  # the writes' reason still holds
    s.resume_writing()
    assert transport.reading


async def test_a_closing_transport_is_not_resumed() -> None:
    s, transport = made()
    s.pause_reading()
    transport.closed = True
    s.resume_reading()
    assert not transport.reading and s.paused == 0


@pytest.fixture
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "OPEN_TIMEOUT", SHORT)
    monkeypatch.setattr(stream, "CLOSE_TIMEOUT", SHORT)


async def test_a_connection_that_never_opens_is_aborted_at_the_open_deadline(
    short_deadlines: None,
) -> None:
    s, transport = made()
    assert s.timer is not None
    await asyncio.sleep(2 * SHORT)  # past the deadline: the thing tested
    assert transport.aborted and s.timer is None


async def test_the_open_deadline_lets_an_open_connection_be(short_deadlines: None) -> None:
    s, transport = made()
    opened(s)
    await asyncio.sleep(2 * SHORT)  # past the deadline: the thing tested
    assert not transport.aborted


async def test_the_close_deadline_replaces_the_open_one(short_deadlines: None) -> None:
    s, transport = made()
    opened(s)
    first = s.timer
    s.arm_close_timer()
    assert first is not None and first.cancelled() and s.timer is not first
    s.protocol.send_close(1000, "")  # closing, not open: the close deadline aborts it
    await asyncio.sleep(2 * SHORT)  # past the deadline: the thing tested
    assert transport.aborted


async def test_abort_without_a_transport_does_nothing() -> None:
    s = Stream(new_protocol(None, False), 1000, Traffic())
    s.abort()  # never connected: nothing to drop
    assert s.transport is None and s.close_code is None


async def test_a_pass_budget_serves_what_waits_in_order_once_a_pass() -> None:
    """A storm of 1,000 upgrade requests with 10 a pass: 10 now, then 10 each pass in
    the order they came (newcomers after those waiting), each done once, and one
    callback scheduled a pass, not one per waiting request (n²/limit)."""
    loop = asyncio.get_running_loop()
    budget, done = PassBudget(10), list[int]()
    with mock.patch.object(loop, "call_soon", wraps=loop.call_soon) as call_soon:
        for n in range(1000):
            budget.run(lambda n=n: done.append(n))
        assert done == list(range(10)) and len(budget.waiting) == 990
        await asyncio.sleep(0)  # the next pass
        assert done == list(range(20))
        budget.run(lambda: done.append(-1))  # a newcomer: after those waiting
        passes = 1
        while len(done) < 1001:
            await asyncio.sleep(0)
            passes += 1
        assert passes == 100 and done == [*range(1000), -1]
        ours = [c for c in call_soon.call_args_list if c.args[0] == budget._next_pass]
        assert len(ours) <= passes + 1
    await asyncio.sleep(0)
    assert budget.used == 0 and not budget.waiting
    budget.run(lambda: done.append(-2))  # a quiet pass: at once again
    assert done[-1] == -2


async def test_a_failing_paced_work_is_logged_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget, done = PassBudget(1), list[int]()

    def broken() -> None:
        raise RuntimeError("a bug")

    budget.run(lambda: done.append(1))
    budget.run(broken)
    budget.run(lambda: done.append(3))
    await asyncio.sleep(0)  # the next pass: the broken one (logged)
    await asyncio.sleep(0)  # and the next: the last one
    assert done == [1, 3] and "a paced upgrade request failed" in caplog.text


async def test_the_rest_of_a_request_begun_goes_before_the_storm() -> None:
    budget, done = PassBudget(1), list[str]()
    budget.run(lambda: done.append("start of a"))
    for n in range(3):
        budget.run(lambda n=n: done.append(f"storm {n}"))
    budget.run(lambda: done.append("rest of a"), first=True)  # its start was served
    for _ in range(4):
        await asyncio.sleep(0)
    assert done == ["start of a", "rest of a", "storm 0", "storm 1", "storm 2"]
