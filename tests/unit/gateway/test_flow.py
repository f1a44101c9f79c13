"""gateway.flow: what the dispatcher asks of a client's connection."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from common.frames import EventKind
from gateway.clients import Client
from gateway.fanout import Fanout
from gateway.flow import ClientFlow


class Conn:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def write_frames(self, items: list[Any]) -> int:
        self.calls.append(("write", len(items)))
        return 0

    def close(self, code: int, reason: str) -> None:
        self.calls.append(("close", code, reason))


def test_pause_and_resume_are_the_connections_reads() -> None:
    client = Client("c1", "r", Conn())  # type: ignore[arg-type]
    flow = ClientFlow(Fanout(), 10)
    flow.pause_reading(client)
    flow.resume_reading(client)
    assert client.conn.calls == ["pause", "resume"]  # type: ignore[attr-defined]


def test_a_refused_client_is_closed_1013_after_what_was_queued_and_it_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fanout = Fanout()
    client = Client("c1", "r", Conn())  # type: ignore[arg-type]
    fanout.begin()  # (no loop callback: flushed by hand)
    fanout.deliver([client], "queued before")
    flow = ClientFlow(fanout, 10)
    with caplog.at_level(logging.WARNING, logger="gateway.edge"):
        flow.refuse(client, EventKind.MESSAGE, 7)
    assert client.conn.calls == [("write", 1), ("close", 1013, "no business worker")]  # type: ignore[attr-defined]
    assert "no business worker and 10 events waiting" in caplog.text
    assert "(7 refused events so far)" in caplog.text


def test_a_refused_close_event_closes_nothing() -> None:
    client = Client("c1", "r", Conn())  # type: ignore[arg-type]
    ClientFlow(Fanout(), 10).refuse(client, EventKind.CLOSE, 1)  # the client is gone already
    assert client.conn.calls == []  # type: ignore[attr-defined]
