"""common.httplog: aiohttp's error lines, a malformed request's without its bytes."""

from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage, InvalidHeader

from common.httplog import RequestErrors
from common.logs import Throttled

SECRET = "chat_token=0123456789abcdef-session"


def error(exc: BaseException) -> logging.LogRecord:
    """The record aiohttp's server writes for a request it could not handle."""
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("10.0.0.7",),
        (type(exc), exc, None),
    )


def test_a_malformed_request_is_one_line_a_second_without_its_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    ours = logging.getLogger("test.httplog")
    errors = RequestErrors(Throttled(ours, clock=lambda: now[0]))
    caplog.set_level(logging.INFO, "test.httplog")
    bad = InvalidHeader(f"Cookie: {SECRET}\x01".encode())
    assert SECRET in str(bad)  # what aiohttp's own line would have shown
    assert not errors.filter(error(bad))  # aiohttp's line (and its traceback) dropped
    for _ in range(5):
        assert not errors.filter(error(BadHttpMessage("Invalid chunk size")))
    now[0] = 1.5
    errors.filter(error(BadHttpMessage("Invalid chunk size")))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "answered a malformed HTTP request from 10.0.0.7: 400 (InvalidHeader)",
        "answered a malformed HTTP request from 10.0.0.7: 400 (BadHttpMessage)"
        " (and 5 more like it in the last 2s)",
    ]
    assert not any(r.exc_info for r in caplog.records)


def test_a_bug_keeps_its_traceback_at_most_once_a_second() -> None:
    now = [0.0]
    errors = RequestErrors(Throttled(logging.getLogger("test.httplog"), clock=lambda: now[0]))
    first = error(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert errors.filter(first) and first.exc_info is not None
    assert not errors.filter(error(ValueError("again")))
    assert not errors.filter(error(ValueError("again")))
    now[0] = 2.0
    later = error(ValueError("later"))
    assert errors.filter(later)
    assert later.getMessage() == (
        "Error handling request from 10.0.0.7 (and 2 more like it in the last 2s)"
    )
    other = logging.LogRecord("aiohttp.server", logging.WARNING, "", 1, "something else", (), None)
    assert errors.filter(other) and errors.filter(other)  # aiohttp's other lines: as they are
