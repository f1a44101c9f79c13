"""examples.chat.web.media: uploads identified a few at once, and the memory they hold
bounded (no sockets, no threads)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from examples.chat.web import media
from examples.chat.web.payloads import BadRequest


class Part:
    """A multipart file part, as aiohttp hands it over."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.headers = {"Content-Type": "image/png"}
        self.filename = "x.png"

    async def read_chunk(self, size: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


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
    hold = media.Held().hold()
    reads = [asyncio.create_task(media.read(Part(b"png"), hold, decodes)) for _ in range(6)]  # type: ignore[arg-type]
    for _ in range(20):  # every task as far as it can go
        await asyncio.sleep(0)
    assert (running, peak) == (2, 2)
    release.set()
    uploads = await asyncio.wait_for(asyncio.gather(*reads), 5)
    assert [u.extension for u in uploads] == [".png"] * 6 and peak == 2


def test_requests_hold_memory_up_to_the_limit_together_and_give_it_back_whole() -> None:
    held = media.Held(100)
    first, second = held.hold(), held.hold()
    assert first.take(60) and first.take(30) and held.bytes == 90
    assert not second.take(11)  # past the limit: nothing taken
    assert (held.bytes, second.bytes) == (90, 0)
    assert second.take(10) and held.bytes == 100
    first.close()
    assert (held.bytes, first.bytes) == (10, 0)
    first.close()  # closed twice: nothing given back twice
    assert held.bytes == 10
    assert second.take(90) and not second.take(1)
    second.close()
    assert held.bytes == 0


async def test_an_upload_past_the_memory_for_uploads_is_refused_as_it_is_read() -> None:
    """503 with Retry-After at the chunk that would go past the limit; what the
    request took stays taken until it ends (the middleware closes its hold)."""
    held = media.Held(100)
    other = held.hold()
    assert other.take(50)
    hold = held.hold()
    with pytest.raises(BadRequest) as refused:
        await media.receive(Part(b"a" * 30, b"b" * 30), hold, limit=1000)  # type: ignore[arg-type]
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "2"}
    assert refused.value.msg == media.BUSY and f"请{media.BUSY_SECONDS}秒后" in media.BUSY
    assert (hold.bytes, held.bytes) == (30, 80)
    hold.close()
    other.close()
    received = await media.receive(Part(b"a" * 60, b"b" * 40), held.hold(), limit=100)  # type: ignore[arg-type]
    assert received.data == b"a" * 60 + b"b" * 40 and held.bytes == 100


async def test_an_upload_past_its_own_limit_is_413_before_it_takes_memory_for_it() -> None:
    held = media.Held(1000)
    hold = held.hold()
    with pytest.raises(BadRequest) as refused:
        await media.receive(Part(b"a" * 60, b"b" * 60), hold, limit=100)  # type: ignore[arg-type]
    assert refused.value.status == 413 and (hold.bytes, held.bytes) == (60, 60)


async def test_a_file_that_stops_coming_is_408_and_its_share_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Stalled(Part):
        async def read_chunk(self, size: int) -> bytes:
            if self.chunks:
                return self.chunks.pop(0)
            await asyncio.Event().wait()  # the client sends no more, nor goes
            return b""

    monkeypatch.setattr(media, "READ_TIMEOUT", 0.05)
    held = media.Held(1000)
    hold = held.hold()
    with pytest.raises(BadRequest) as refused:
        await media.receive(Stalled(b"a" * 100), hold)  # type: ignore[arg-type]
    assert refused.value.status == 408 and held.bytes == 100
    hold.close()  # (the request ends: the middleware's)
    assert held.bytes == 0
