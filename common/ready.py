"""The ready line: how a process tells whoever started it that it serves, and where.

Every role (and the chat's web backend, the bench's baseline) prints exactly one line
on stdout once it serves::

    GW-READY {"role": "gateway", "websocket": "127.0.0.1:40123", ...}

with the addresses it actually bound (port 0 becomes the real port). The supervisor,
the tests and the bench start a process and wait for that line; anything else the
process prints on stdout before it is passed through. This module is the one
place that writes and reads it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

PREFIX = "GW-READY "


def line(role: str, info: dict[str, Any]) -> str:
    """The ready line (with its newline) for ``role`` and what it reports."""
    return PREFIX + json.dumps({"role": role, **info}) + "\n"


def print_ready(role: str, info: dict[str, Any], stream: TextIO | None = None) -> None:
    """Print the ready line and flush: call once, when serving."""
    out = sys.stdout if stream is None else stream
    out.write(line(role, info))
    out.flush()


def parse(text: str) -> dict[str, Any] | None:
    """What a ready line reports, or None if ``text`` is not a ready line."""
    if not text.startswith(PREFIX):
        return None
    info = json.loads(text[len(PREFIX) :])
    if not isinstance(info, dict):
        raise ValueError(f"a ready line reports an object: {text!r}")
    return info


def wait(lines: Iterable[str], echo: Callable[[str], object] | None = None) -> dict[str, Any]:
    """Read lines until the ready line; return what it reports.

    Other lines go to ``echo``. Raises EOFError if the lines end first.
    """
    for text in lines:
        info = parse(text)
        if info is not None:
            return info
        if echo is not None:
            echo(text)
    raise EOFError("no ready line")


async def wait_async(
    stream: asyncio.StreamReader, echo: Callable[[str], object] | None = None
) -> dict[str, Any]:
    """:func:`wait` for a child's stdout pipe (asyncio). Raises EOFError at its end."""
    while True:
        raw = await stream.readline()
        if not raw:
            raise EOFError("no ready line")
        text = raw.decode(errors="replace")
        info = parse(text)
        if info is not None:
            return info
        if echo is not None:
            echo(text)
