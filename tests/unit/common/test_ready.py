"""common.ready: the one ready-line contract, written and read."""

from __future__ import annotations

import asyncio
import io

import pytest

from common import ready


def test_print_then_parse_round_trips() -> None:
    out = io.StringIO()
    ready.print_ready("gateway", {"websocket": "127.0.0.1:4000", "pid": 7}, out)
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    assert ready.parse(text) == {"role": "gateway", "websocket": "127.0.0.1:4000", "pid": 7}


def test_other_lines_are_not_ready_lines() -> None:
    assert ready.parse("GW-READYX {}") is None
    assert ready.parse("some log line\n") is None
    with pytest.raises(ValueError):
        ready.parse("GW-READY [1, 2]")


def test_wait_echoes_what_comes_before() -> None:
    echoed: list[str] = []
    lines = ["hello\n", ready.line("web", {"listen": "x"}), "after\n"]
    assert ready.wait(iter(lines), echoed.append) == {"role": "web", "listen": "x"}
    assert echoed == ["hello\n"]
    with pytest.raises(EOFError):
        ready.wait(["no\n", "ready\n"])


async def test_wait_async_reads_a_pipe() -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(b"starting\n" + ready.line("worker", {"pid": 1}).encode())
    echoed: list[str] = []
    assert await ready.wait_async(stream, echoed.append) == {"role": "worker", "pid": 1}
    assert echoed == ["starting\n"]
    eof = asyncio.StreamReader()
    eof.feed_data(b"crashed\n")
    eof.feed_eof()
    with pytest.raises(EOFError):
        await ready.wait_async(eof)
