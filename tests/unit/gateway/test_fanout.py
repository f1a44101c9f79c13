"""gateway.fanout: a message framed once for many clients, one write per connection per
loop pass, closes after what is queued. Connections are recording fakes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from websockets.frames import Frame, Opcode

from gateway.clients import Client
from gateway.fanout import Fanout


class Conn:
    """What the fan-out uses of a connection: writes and closes, recorded."""

    def __init__(self) -> None:
        self.writes: list[list[Any]] = []
        self.closed: tuple[int, str] | None = None
        self.log: list[str] = []

    def write_frames(self, items: list[Any]) -> int:
        self.writes.append(items)
        self.log.append("write")
        return 0

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.log.append("close")


def client(n: int, plain: bool = True) -> Client:
    c = Client(f"c{n}", "127.0.0.1:1", Conn())  # type: ignore[arg-type]
    c.plain = plain
    return c


def conn(c: Client) -> Conn:
    return c.conn  # type: ignore[return-value]


async def test_a_message_is_framed_once_and_written_at_the_end_of_the_pass() -> None:
    fanout = Fanout()
    clients = [client(n) for n in range(3)]
    fanout.deliver(clients, "hi")
    assert all(conn(c).writes == [] for c in clients)  # not yet: at the pass's end
    await asyncio.sleep(0)  # (the loop pass that runs the scheduled flush)
    frames = [conn(c).writes for c in clients]
    assert frames[0] == [[Frame(Opcode.TEXT, b"hi").serialize(mask=False)]]
    assert all(f[0][0] is frames[0][0][0] for f in frames)  # the very same bytes
    assert fanout.counters.messages_out == 3


async def test_one_write_per_connection_however_many_messages() -> None:
    fanout = Fanout()
    a, b = client(1), client(2)
    fanout.deliver([a, b], "one")
    fanout.deliver([a], b"two")
    fanout.flush()
    assert len(conn(a).writes) == 1 and len(conn(a).writes[0]) == 2
    assert conn(a).writes[0][1] == Frame(Opcode.BINARY, b"two").serialize(mask=False)
    assert len(conn(b).writes) == 1 and fanout.counters.messages_out == 3


async def test_a_compressed_connection_gets_the_payload_to_frame_itself() -> None:
    fanout = Fanout()
    compressed = client(1, plain=False)
    fanout.deliver([compressed], "hé")
    fanout.flush()
    assert conn(compressed).writes == [[("hé".encode(), True)]]


async def test_a_close_comes_after_what_is_queued() -> None:
    fanout = Fanout()
    c = client(1)
    fanout.deliver([c], "last words")
    fanout.close_after(c.conn, 1000, "bye")
    assert conn(c).log == ["write", "close"] and conn(c).closed == (1000, "bye")
    fanout.flush()  # nothing left for it
    assert len(conn(c).writes) == 1


async def test_a_forgotten_connection_gets_nothing_more() -> None:
    fanout = Fanout()
    c = client(1)
    fanout.deliver([c], "lost")
    fanout.forget(c.conn)
    fanout.flush()
    assert conn(c).writes == []


async def test_a_batch_of_worker_frames_flushes_at_its_end_not_in_a_loop_callback() -> None:
    fanout = Fanout()
    c = client(1)
    fanout.begin()  # a batch of frames begins: its end flushes
    fanout.deliver([c], "in the batch")
    await asyncio.sleep(0)
    assert conn(c).writes == []  # no callback was scheduled
    fanout.flush()
    assert len(conn(c).writes) == 1


async def test_no_client_no_write_and_nothing_counted() -> None:
    fanout = Fanout()
    fanout.deliver([], "to nobody")
    await asyncio.sleep(0)
    assert fanout.counters.messages_out == 0


def test_a_message_that_is_not_text_or_bytes_is_dropped_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fanout = Fanout()
    c = client(1)
    with caplog.at_level(logging.WARNING, logger="gateway.fanout"):
        fanout.deliver([c], 42)  # type: ignore[arg-type]
    assert fanout.counters.messages_out == 0 and "dropped a send of 42" in caplog.text
