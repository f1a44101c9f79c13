"""examples.chat.web.media: uploads identified a few at once (no sockets, no threads)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from examples.chat.web import media


class Part:
    """A multipart file part, as aiohttp hands it over."""

    def __init__(self, data: bytes) -> None:
        self.chunks = [data]
        self.headers = {"Content-Type": "image/png"}
        self.filename = "x.png"

    async def read_chunk(self, size: int) -> bytes:
        return self.chunks.pop() if self.chunks else b""


async def test_uploads_are_identified_a_few_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image of MAX_PIXELS takes ~120 MB to decode: six uploads at once are
    identified two at a time (the semaphore given), the others wait their turn."""
    running, peak, release = 0, 0, asyncio.Event()

    async def identify(function: Any, *args: Any) -> str:  # asyncio.to_thread, held
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return ".png"

    monkeypatch.setattr(asyncio, "to_thread", identify)
    decodes = asyncio.Semaphore(2)
    reads = [asyncio.create_task(media.read(Part(b"png"), decodes)) for _ in range(6)]  # type: ignore[arg-type]
    for _ in range(20):  # every task as far as it can go
        await asyncio.sleep(0)
    assert (running, peak) == (2, 2)
    release.set()
    uploads = await asyncio.wait_for(asyncio.gather(*reads), 5)
    assert [u.extension for u in uploads] == [".png"] * 6 and peak == 2
