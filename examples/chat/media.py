"""Uploaded files (avatars, images, video, voice): checked, named, saved, served.

Files are saved under the upload folder with a random name and an extension taken
from a fixed list (never the client's name), and served from ``/uploads/``. SVG
and HTML are not accepted: they could carry scripts into the page's origin. An
avatar sent with a registration is only stored once the account exists
(:func:`read` now, :func:`store` later), so refused requests write nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader

from .frames import BadRequest

MAX_UPLOAD = 8 << 20  # bytes
MAX_AVATAR = 1 << 20
EXTENSIONS: dict[int, dict[str, str]] = {  # msgtype -> content type -> extension
    1: {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"},
    2: {"video/mp4": ".mp4", "video/webm": ".webm", "video/ogg": ".ogv"},
    3: {"audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/wav": ".wav", "audio/x-wav": ".wav",
        "audio/webm": ".webm", "audio/mp4": ".m4a", "audio/aac": ".aac"},
}  # fmt: skip
_BY_SUFFIX = {
    ext: (msgtype, ctype) for msgtype, m in EXTENSIONS.items() for ctype, ext in m.items()
}
_BY_SUFFIX[".jpeg"] = (1, "image/jpeg")


def kind_of(content_type: str | None, filename: str | None) -> tuple[int, str]:
    """(msgtype, extension) of an upload, by content type, else by file name."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    for msgtype, types in EXTENSIONS.items():
        if ctype in types:
            return msgtype, types[ctype]
    suffix = Path(filename or "").suffix.lower()
    if suffix in _BY_SUFFIX:
        msgtype, ctype = _BY_SUFFIX[suffix]
        return msgtype, EXTENSIONS[msgtype][ctype]
    raise BadRequest(f"unsupported file type {ctype or suffix or '?'}")


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked file held in memory until it is stored (bounded by the read limit)."""

    msgtype: int
    extension: str
    data: bytes


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


async def read(part: BodyPartReader, limit: int = MAX_UPLOAD) -> Upload:
    """Read one multipart file (at most ``limit`` bytes) and check its type."""
    msgtype, extension = kind_of(part.headers.get("Content-Type"), part.filename)
    data = bytearray()
    while chunk := await part.read_chunk(64 << 10):
        data += chunk
        if len(data) > limit:
            raise BadRequest(f"file larger than {limit >> 20} MB", status=413)
    if not data:
        raise BadRequest("empty file")
    return Upload(msgtype, extension, bytes(data))


async def store(upload: Upload, folder: Path) -> str:
    """Save a read file under a random name (by a thread: the event loop never waits on
    the disk); returns its URL path."""
    name = secrets.token_hex(12) + upload.extension
    await asyncio.to_thread(_write, folder, name, upload.data)
    return f"/uploads/{name}"


async def save(part: BodyPartReader, folder: Path, limit: int = MAX_UPLOAD) -> tuple[int, str]:
    """Read one multipart file and save it in ``folder``: (msgtype, URL path)."""
    upload = await read(part, limit)
    return upload.msgtype, await store(upload, folder)
