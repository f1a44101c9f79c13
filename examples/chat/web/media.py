"""Uploaded files (avatars, images, video, voice): checked, named, saved, served.

A file is kept only if its bytes are one of our types (:mod:`examples.chat.web.sniff`:
signatures, and images decoded by Pillow); what the client declared is not believed.
It is saved under a random name whose extension says what the bytes are
(:mod:`examples.chat.mediatypes`), and served from ``/uploads/<name>`` by
:func:`serve`, which answers only names of that shape, checks again that the file's
first bytes match its name (a file stored by an older release, typed by its claim,
is not served if they do not), and sends:

- ``Content-Type`` from the name, i.e. from the bytes;
- ``X-Content-Type-Options: nosniff``: the browser never guesses another type;
- ``Content-Security-Policy: default-src 'none'; img-src 'self'; media-src 'self';
  sandbox``: opened on its own, a file runs no script and reaches nothing else;
- ``Cross-Origin-Resource-Policy: same-origin``: other sites cannot embed it.

An avatar sent with a registration or a login is only looked at once the request is
let in (:func:`receive` first; :func:`identify` after the limits and the password),
and stored once it succeeds (:func:`store`), so refused requests decode and write
nothing.

Files are identified on a thread, a few at once (the ``decodes`` semaphore, one per
core, two at most: :data:`examples.chat.web.state.DECODES`): an image of :data:`sniff.MAX_PIXELS`
takes ~120 MB and half a second to decode from a 130 KB PNG, so uploads at once
must not add up; the others wait their turn, and the event loop serves everyone
meanwhile. What waits is bounded too: the bytes of every upload held in memory at
once (read, waiting, decoding, being written) count against one :class:`Held`
(``--upload-memory``); an upload that would go past it is refused as it is read, with
503 and ``Retry-After``, rather than queued without end.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, web

from common.logs import Throttled

from ..mediatypes import TYPES, UPLOADS, upload_name
from . import sniff
from .payloads import BAD_FORM, BadRequest

MAX_UPLOAD = 8 << 20  # bytes
MAX_AVATAR = 1 << 20
HELD = 64 << 20  # bytes of uploads held at once, every request together (--upload-memory)
BUSY_SECONDS = 2  # Retry-After of an upload refused for memory: uploads take a second or so
READ_TIMEOUT = 120.0  # s to read one file (8 MB at 0.5 Mbit/s); past it, 408: its share goes
SLOW = "上传太慢，已超时，请重试"
UNSUPPORTED = "文件格式不支持：只能上传图片、视频或音频"
BUSY = "服务器正在处理太多文件，请2秒后再试"  # (BUSY_SECONDS)
NOT_FOUND = "文件不存在"
UPLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "public, max-age=31536000, immutable",  # a name is never reused
}


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked file held in memory until it is stored (bounded by the read limit)."""

    msgtype: int
    extension: str
    data: bytes


quiet = Throttled(logging.getLogger(__name__))


class Held:
    """The bytes of uploads the process holds in memory, every request together: at
    most ``limit``. Requests take their share through a :class:`Hold` each."""

    __slots__ = ("bytes", "limit")

    def __init__(self, limit: int = HELD) -> None:
        self.limit = limit
        self.bytes = 0

    def hold(self) -> Hold:
        return Hold(self)


class Hold:
    """One request's share of :class:`Held`: taken as its files are read, given back
    whole by :meth:`close` (when the request ends, however it ends)."""

    __slots__ = ("bytes", "held")

    def __init__(self, held: Held) -> None:
        self.held = held
        self.bytes = 0

    def take(self, count: int) -> bool:
        """``count`` more bytes, unless that would go past the limit (none taken then)."""
        held = self.held
        if held.bytes + count > held.limit:
            return False
        held.bytes += count
        self.bytes += count
        return True

    def close(self) -> None:
        self.held.bytes -= self.bytes
        self.bytes = 0


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


@dataclass(frozen=True, slots=True)
class Received:
    """A multipart file's bytes, not looked at yet, and what the client said of them."""

    data: bytes
    declared: str | None  # its Content-Type
    filename: str | None


async def _chunk(part: BodyPartReader) -> bytes:
    try:
        return await part.read_chunk(64 << 10)
    except ValueError:  # the part does not end as multipart ends (garbage, cut short)
        raise BadRequest(BAD_FORM) from None


async def receive(part: BodyPartReader, hold: Hold, limit: int = MAX_UPLOAD) -> Received:
    """Read one multipart file (at most ``limit`` bytes) into ``hold``, not looking at
    it yet: 413 past ``limit``, 503 (``Retry-After``) past the process's memory for
    uploads, 408 if it takes longer than :data:`READ_TIMEOUT` (a stalled client must not
    hold its share of that memory)."""
    data = bytearray()
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            while chunk := await _chunk(part):
                _take(hold, data, chunk, limit)
    except TimeoutError:  # a client that stops sending holds its share no longer
        raise BadRequest(SLOW, status=408) from None
    if not data:
        raise BadRequest("文件是空的")
    return Received(bytes(data), part.headers.get("Content-Type"), part.filename)


def _take(hold: Hold, data: bytearray, chunk: bytes, limit: int) -> None:
    """One more chunk of a file into ``data``: 413 past ``limit``, 503 past the memory."""
    if len(data) + len(chunk) > limit:
        raise BadRequest(f"文件太大：不能超过 {limit >> 20} MB", status=413)
    if not hold.take(len(chunk)):
        quiet.warning(
            "held",
            "refused an upload: %d MB of uploads held (--upload-memory %d)",
            hold.held.bytes >> 20,
            hold.held.limit >> 20,
        )
        raise BadRequest(BUSY, status=503, headers={"Retry-After": str(BUSY_SECONDS)})
    data += chunk


async def identify(received: Received, decodes: asyncio.Semaphore) -> Upload:
    """What a received file is (while holding ``decodes``); 400 if none of our types."""
    # decoding an image takes a while: on a thread, so the event loop never waits on it
    async with decodes:
        extension = await asyncio.to_thread(
            sniff.identify, received.data, received.declared, received.filename
        )
    if extension is None:
        raise BadRequest(UNSUPPORTED)
    return Upload(TYPES[extension].msgtype, extension, received.data)


async def read(
    part: BodyPartReader, hold: Hold, decodes: asyncio.Semaphore, limit: int = MAX_UPLOAD
) -> Upload:
    """Read one multipart file (at most ``limit`` bytes) and find what it is."""
    return await identify(await receive(part, hold, limit), decodes)


async def store(upload: Upload, folder: Path) -> str:
    """Save a read file under a random name (by a thread: the event loop never waits on
    the disk); returns its URL path."""
    name = secrets.token_hex(12) + upload.extension
    await asyncio.to_thread(_write, folder, name, upload.data)
    return UPLOADS + name


async def save(
    part: BodyPartReader,
    hold: Hold,
    decodes: asyncio.Semaphore,
    folder: Path,
    limit: int = MAX_UPLOAD,
) -> tuple[int, str]:
    """Read one multipart file and save it in ``folder``: (msgtype, URL path)."""
    upload = await read(part, hold, decodes, limit)
    return upload.msgtype, await store(upload, folder)


def exists(folder: Path, url: str) -> bool:
    """Whether ``url`` (already known to be an upload URL) names a stored file."""
    return (folder / url.removeprefix(UPLOADS)).is_file()


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as file:
            return file.read(sniff.HEAD)
    except OSError:  # missing, or a folder
        return None


async def serve(request: web.Request, folder: Path) -> web.FileResponse:
    """``GET /uploads/{name}``: a stored file, typed by its bytes (404 otherwise)."""
    name = request.match_info["name"]
    kind = upload_name(name)
    if kind is None:
        raise BadRequest(NOT_FOUND, status=404)
    head = await asyncio.to_thread(_head, folder / name)
    if head is None or sniff.container(head) != kind.container:
        raise BadRequest(NOT_FOUND, status=404)
    return web.FileResponse(
        folder / name, headers={"Content-Type": kind.content_type, **UPLOAD_HEADERS}
    )
