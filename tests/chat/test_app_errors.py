"""The worker's on_message in-process, with a link that records what it sends: the
document's catch-all (``{code: 500}``), for errors no real frame should reach."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from business.context import Context
from common.frames import Command, Op
from examples.chat.worker import app

SPEAK = {
    "event": "speak",
    "mode": 2,
    "group_id": 100,
    "from_user_id": "1",
    "from_username": "u1",
    "to_user_id": "",
    "content": "hi",
}


class Recorder:
    """Stands for the link to the client's gateway."""

    def __init__(self) -> None:
        self.sent: list[Command] = []

    def send(self, frame: Command) -> None:
        self.sent.append(frame)

    def command(self, op: Op, args: list[Any]) -> None:  # (Link.command: the frame, encoded)
        self.sent.append(Command(op, args))


def handle(frame: Any) -> list[Command]:
    """Run on_message for one anonymous client; what it sent through its gateway."""
    link = Recorder()
    context = Context("c1", {}, "127.0.0.1:5000", "tcp://127.0.0.1:1", "ws://x", link)  # type: ignore[arg-type]
    with context:
        app.on_message("c1", json.dumps(frame))
    return link.sent


def test_an_unexpected_error_answers_500_and_is_logged_once_a_second(monkeypatch, caplog):
    def broken(client_id: str, request: Any, who: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "_dispatch", broken)
    clock = [100.0]
    monkeypatch.setattr(app, "quiet", app.Throttled(app.log, clock=lambda: clock[0]))
    with caplog.at_level(logging.ERROR, logger=app.log.name):
        for _ in range(50):
            sent = handle(SPEAK)
            assert [(c.op, c.args) for c in sent] == [
                (Op.SEND_TO_CLIENT, ["c1", '{"code":500,"msg":"boom","data":[]}'])
            ]  # the reply, and the connection kept (no CLOSE_CLIENT)
        clock[0] += 1.0
        handle(SPEAK)
    failed = [r for r in caplog.records if "on_message failed" in r.getMessage()]
    assert len(failed) == 2  # the first at once, then one after the interval...
    assert failed[0].exc_info is not None  # ...with the traceback
    assert "49 more like it" in failed[1].getMessage()


@pytest.mark.parametrize("error", [KeyError("x"), ValueError(), OverflowError("big")])
def test_any_exception_is_answered(monkeypatch, error):
    def broken(client_id: str, request: Any, who: Any) -> None:
        raise error

    monkeypatch.setattr(app, "_dispatch", broken)
    (command,) = handle(SPEAK)
    reply = json.loads(command.args[1])
    assert reply == {"code": 500, "msg": str(error) or type(error).__name__, "data": []}
