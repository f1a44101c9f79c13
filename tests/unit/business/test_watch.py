"""business.watch: the frames of gw status --watch (no sockets)."""

from __future__ import annotations

from typing import Any

from business.rates import rates, sample
from business.watch import CLEAR_BELOW, CLEAR_SCREEN, HOME, frame, redraw

A = "tcp://10.0.0.1:2900"


def gateway(messages_in: int, handled: int) -> dict[str, Any]:
    return {
        "pid": 4,
        "clients": 2,
        "pending_events": 1,
        "rss_bytes": 3 << 20,
        "messages_in": messages_in,
        "messages_out": 2 * messages_in,
        "events": handled,
        "workers": {"worker-9": {"clients": 2, "unacked": 0, "handled": handled}},
    }


def rows(lines: list[str], first: str) -> list[list[str]]:
    """The rows of the table whose header starts with ``first`` (split on spaces)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return [line.split() for line in lines[start:end]]


def test_a_frame_shows_the_rates_of_each_gateway_each_worker_and_the_total() -> None:
    before = sample({A: gateway(100, 10)}, at=0.0)
    now = {A: gateway(130, 25)}
    lines = frame(now, [], rates(before, sample(now, at=1.5)), 0.5, "12:00:00")
    assert lines[0].startswith("gw status --watch 0.5s   12:00:00")
    gateways = rows(lines, "GATEWAY")
    assert gateways[0][:6] == ["GATEWAY", "CLIENTS", "WORKERS", "PENDING", "MSG", "IN/s"]
    assert gateways[1] == [A, "2", "1", "1", "20", "40", "10", "0", "0", "0", "3.0"]
    assert rows(lines, "WORKER")[1] == ["worker-9", A, "2", "0", "10"]
    assert lines[-1] == (
        "total: 1 gateway, 1 worker, 2 clients; msg in 20/s, msg out 40/s, "
        "events 10/s, commands 0/s, redelivered 0/s, refused 0/s"
    )


def test_the_first_frame_has_no_rates_and_a_silent_gateway_is_named() -> None:
    now = {A: gateway(100, 10)}
    lines = frame(now, ["tcp://10.0.0.2:2900"], rates(None, sample(now, at=0.0)), 2, "x")
    assert rows(lines, "GATEWAY")[1][4:10] == ["-"] * 6
    assert lines[-1] == "did not answer: tcp://10.0.0.2:2900"
    assert "total: 1 gateway, 1 worker, 2 clients; msg in -/s" in lines[-3]
    assert frame({}, [], rates(None, sample({}, at=0.0)), 2, "x")[2] == "no gateway"


def test_a_terminal_is_redrawn_in_place() -> None:
    first, later = redraw(["a", "bb"], first=True), redraw(["a"], first=False)
    assert first == f"{CLEAR_SCREEN}{HOME}a\x1b[K\nbb\x1b[K\n{CLEAR_BELOW}"
    assert later == f"{HOME}a\x1b[K\n{CLEAR_BELOW}"  # no flash: over the last one


async def test_a_refused_refresh_says_why_in_a_line_and_the_next_is_tried() -> None:
    import asyncio
    import io

    import pytest

    from business.results import with_missing
    from business.watch import watch
    from common.exceptions import RemoteError

    answers: list[Any] = [
        with_missing({A: gateway(100, 10)}, ()),
        RemoteError("GET_STATUS: the gateway is stopping"),
        with_missing({A: gateway(130, 25)}, ()),
    ]

    class Client:
        async def get_status(self) -> Any:
            if not answers:
                raise asyncio.CancelledError  # the user's Ctrl-C, after three refreshes
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    out = io.StringIO()
    with pytest.raises(asyncio.CancelledError):
        await watch(Client(), 0, out, tty=False)  # type: ignore[arg-type]
    failed = [line for line in out.getvalue().splitlines() if "no status this time" in line]
    assert failed and failed[0].endswith(
        "no status this time: GET_STATUS: the gateway is stopping (trying again in 0s)"
    )
    headers = [line for line in out.getvalue().splitlines() if line.startswith("gw status")]
    assert len(headers) == 2  # the refreshes before and after it
    assert "Traceback" not in out.getvalue()


def test_on_a_terminal_failures_write_over_each_other() -> None:
    from business.watch import CLEAR_LINE, failed

    first, second = failed("a", 1, "12:00:00", tty=True), failed("b", 1, "12:00:01", tty=True)
    assert first.startswith("\r") and "\n" not in first + second
    assert first.endswith(CLEAR_LINE + CLEAR_BELOW)
    assert failed("a", 1, "12:00:00", tty=False).endswith("(trying again in 1s)\n")
