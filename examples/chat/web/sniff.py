"""What a file is, from its bytes (pure: no I/O; Pillow decodes images).

The client's declared content type and file name are never believed: an SVG with a
script, or HTML, declared ``image/png`` is neither of our types, and is refused.

- :func:`container` reads the first bytes' signature (the published magic numbers of
  PNG, JPEG, GIF, WebP, MP4/M4A (``ftyp``), WebM (EBML, doctype ``webm``), Ogg, MP3
  (an ID3 tag or an MPEG audio frame), AAC (ADTS) and WAV); the backend also checks it
  before serving a stored file, so a file whose bytes do not match its name is never
  served.
- :func:`identify` is what an upload is kept as: an image must also be opened by
  Pillow, as the format its signature says, with at most :data:`MAX_PIXELS` pixels, and
  decode whole (a truncated or corrupt image is refused). Pillow is only offered the
  four formats we keep, so no other decoder ever sees a client's bytes. Video and
  audio are not decoded here: the browser's media player does that, and they are
  served as media with ``nosniff``, which a browser never runs as a page.

Containers that hold either sound or pictures (MP4, WebM) are audio if the client
declared audio (``audio/...``, or a ``.m4a``/``.mp3``/... name), video otherwise; M4A's
own brand is audio whatever was declared, and an Ogg file is video if its first
stream is Theora. Either way it is served as a media type, never as anything a
browser would run.
"""

from __future__ import annotations

import io
from pathlib import PurePath

from PIL import Image, UnidentifiedImageError

from ..mediatypes import TYPES

MAX_PIXELS = 40_000_000  # of an image (8000 x 5000); decoding allocates 4 bytes each
HEAD = 64  # bytes of a file that container() reads
_PILLOW = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}
_EXTENSION = {(t.container, t.msgtype): ext for ext, t in TYPES.items()}
_IMAGE_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis")  # ftyp, not media
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"F4A ")
_AUDIO_NAMES = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".wav", ".weba", ".opus")


def container(head: bytes) -> str | None:
    """The container a file's first bytes (at least :data:`HEAD`, if it has them)
    show, as :data:`examples.chat.mediatypes.TYPES` names them; None if none of ours."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE"):
        return "webp" if head[8:12] == b"WEBP" else "wav"
    if head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS:
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"\x42\x82\x84webm" in head:  # DocType "webm"
        return "webm"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS: sync, layer 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # MPEG audio frame, layer I-III
            return "mp3"
    return None


def _declared_audio(content_type: str | None, filename: str | None) -> bool:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype:
        return ctype.startswith("audio/")
    return PurePath(filename or "").suffix.lower() in _AUDIO_NAMES


def _ogg_is_video(data: bytes) -> bool:
    """Ogg's first page: 27 header bytes, a segment table, then the first packet."""
    if len(data) < 27:
        return False
    start = 27 + data[26]
    return data[start : start + 7] == b"\x80theora"


def _decodes(data: bytes, kind: str) -> bool:
    """Pillow opens ``data`` as ``kind``, it has at most MAX_PIXELS, and it decodes."""
    try:
        with Image.open(io.BytesIO(data), formats=[_PILLOW[kind]]) as image:
            if image.width * image.height > MAX_PIXELS:
                return False
            image.load()
            return True
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return False


def identify(
    data: bytes, content_type: str | None = None, filename: str | None = None
) -> str | None:
    """The extension ``data`` is kept with (a key of ``TYPES``), or None if it is none
    of our types. ``content_type`` and ``filename`` (the client's) only choose between
    audio and video for a container that can be either."""
    kind = container(data[:HEAD])
    if kind is None:
        return None
    if kind in _PILLOW:
        return _EXTENSION[kind, 1] if _decodes(data, kind) else None
    audio = _declared_audio(content_type, filename)
    if kind == "mp4":
        audio = audio or data[8:12] in _AUDIO_BRANDS
    elif kind == "ogg":
        audio = not _ogg_is_video(data)
    elif kind in ("mp3", "aac", "wav"):
        audio = True
    return _EXTENSION[kind, 3 if audio else 2]
