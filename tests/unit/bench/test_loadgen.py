"""The load generator's frame accounting (pure: no sockets, no processes)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import loadgen as loadgen_module
from bench.loadgen import LISTENER, RESPONDER, SENDER, LoadProcess, content


class FakeClient:
    def __init__(self, index: int, role: int) -> None:
        self.index, self.role = index, role
        self.joined = None
        self.template = (b'{"content":"', b'"}')
        self.sent: list[bytes] = []

    def send(self, payload: bytes) -> None:
        self.sent.append(payload)


def _process() -> LoadProcess:
    return LoadProcess(None, 0, 1, {"n": 2, "groups": 1})  # type: ignore[arg-type]


def _frame(ts: int, sender: int = 0) -> bytes:
    return b'{"data":"' + content(ts, sender, 1) + b'"}'


def test_a_frame_of_the_running_phase_counts_with_its_latency() -> None:
    load = _process()
    now = time.monotonic_ns()
    load.phase_start = now - 10_000_000
    load.on_frame(FakeClient(1, LISTENER), _frame(now - 5_000_000))  # type: ignore[arg-type]
    assert (load.received, load.late) == (1, 0)
    (latency,) = load.lat  # microseconds since the frame's send time
    assert 5_000 <= latency < 5_000 + 1_000_000


def test_frames_stamped_before_the_phase_are_late() -> None:
    load = _process()
    load.phase_start = 1_000
    load.on_frame(FakeClient(1, LISTENER), _frame(999))  # type: ignore[arg-type]
    assert (load.received, load.late, len(load.lat)) == (0, 1, 0)


def test_frames_between_phases_are_sorted_by_the_next_start() -> None:
    """A process may get its phase command after the phase's first frames reached it."""
    load = _process()
    listener = FakeClient(1, LISTENER)
    now = time.monotonic_ns()
    load.on_frame(listener, _frame(now - 50_000_000))  # type: ignore[arg-type]  # an old one
    load.on_frame(listener, _frame(now - 10_000_000))  # type: ignore[arg-type]  # the next's
    assert (load.received, load.late, len(load.limbo)) == (0, 0, 2)
    load._settle(now - 20_000_000)  # the next phase began 20 ms ago
    assert (load.received, load.late, load.limbo) == (1, 1, [])
    (latency,) = load.lat
    assert 10_000 <= latency < 10_000 + 1_000_000


async def test_drain_reports_what_came_after_the_last_phase() -> None:
    load = _process()
    load.late = 2  # stamped before the last phase began, seen during it
    load.on_frame(FakeClient(1, LISTENER), _frame(time.monotonic_ns()))  # type: ignore[arg-type]
    load.last_any = 0  # quiet since long ago: no waiting
    assert await load.drain(quiet=0.01) == {"late": 3}
    assert (load.late, load.limbo) == (0, [])


def test_a_responder_answers_a_late_ping_too() -> None:
    """Its pong is expected by the earlier phase: it is counted late where it lands."""
    load = _process()
    load.phase_start = 1_000
    responder = FakeClient(1, RESPONDER)
    load.on_frame(responder, _frame(10))  # type: ignore[arg-type]
    assert load.late == 1 and len(responder.sent) == 1
    assert content(10, 0, 1) in responder.sent[0]


def test_a_closed_loop_sender_sends_again_only_in_its_phase() -> None:
    load = _process()
    load.target = "pingpong"
    sender = FakeClient(0, SENDER)
    load.closed_loop = load.sending = True
    load.phase_start = 1_000
    load.on_frame(sender, _frame(2_000, sender=0))  # type: ignore[arg-type]
    assert len(sender.sent) == 1 and load.sent["pingpong"] == 1
    load.on_frame(sender, _frame(500, sender=0))  # type: ignore[arg-type]  # late: no resend
    assert len(sender.sent) == 1 and load.late == 1


async def test_no_message_leaves_before_the_phase_start(monkeypatch: Any) -> None:
    """Even when the event loop's timer fires early (uvloop's may, by a millisecond)."""
    real_sleep = asyncio.sleep

    async def early(delay: float) -> None:  # a timer that always fires at once
        await real_sleep(0)

    monkeypatch.setattr(loadgen_module.asyncio, "sleep", early)
    load = _process()
    sender = FakeClient(0, SENDER)
    load.clients = {0: sender}  # type: ignore[dict-item]
    start = time.monotonic_ns() + 20_000_000
    result = await load.phase("group", [0], duration=0, quiet=0.001, start_ns=start)
    assert load.sent and len(sender.sent) == 1
    i = sender.sent[0].index(b"#T")
    assert int(sender.sent[0][i + 2 : i + 21]) >= start
    assert result["start_ns"] == start
