"""What an upload is, from its bytes (examples/chat/web/sniff.py, mediatypes.py): pure."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from examples.chat import mediatypes
from examples.chat.web import sniff


def image(fmt: str, size: tuple[int, int] = (32, 20)) -> bytes:
    """A real image made by Pillow (a gradient, so JPEG and WebP have content)."""
    picture = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def ogg(first_packet: bytes) -> bytes:
    """One Ogg page whose only segment is ``first_packet``."""
    return b"OggS" + bytes(22) + bytes([1, len(first_packet)]) + first_packet


EBML_WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + bytes(40)
MP4 = struct.pack(">I", 24) + b"ftypisom" + bytes(4) + b"isomiso2" + bytes(40)
M4A = struct.pack(">I", 24) + b"ftypM4A " + bytes(4) + b"M4A mp42" + bytes(40)
HEIC = struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(40)
WAV = b"RIFF" + struct.pack("<I", 100) + b"WAVEfmt " + bytes(60)
MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(60)
MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(60)
AAC = b"\xff\xf1\x50\x80" + bytes(60)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.mark.parametrize(
    ("fmt", "extension"), [("PNG", ".png"), ("JPEG", ".jpg"), ("GIF", ".gif"), ("WEBP", ".webp")]
)
def test_images_are_what_their_bytes_are_whatever_was_declared(fmt, extension):
    data = image(fmt)
    assert sniff.identify(data, "image/png", "x.png") == extension
    assert sniff.identify(data, "video/mp4", "x.mp4") == extension  # the claim is ignored
    assert sniff.identify(data) == extension


@pytest.mark.parametrize(
    "data",
    [
        SVG,
        HTML,
        b"GIF89a<script>alert(1)</script>" + bytes(60),
        b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
        HEIC,
        b"plain text",
        b"",
        bytes(100),
    ],
    ids=["svg", "html", "gif-header-html", "png-header-html", "heic", "text", "empty", "zeros"],
)
def test_scripts_and_other_files_are_none_of_ours(data):
    for declared in ("image/png", "image/svg+xml", "text/html", "video/mp4", None):
        assert sniff.identify(data, declared, "a.png") is None


def test_an_image_must_decode_whole():
    whole = image("PNG", (64, 64))
    assert sniff.identify(whole) == ".png"
    assert sniff.identify(whole[: len(whole) // 2]) is None  # truncated
    jpeg = image("JPEG", (64, 64))
    assert sniff.identify(jpeg[:200]) is None


def test_too_many_pixels_is_refused_before_decoding():
    # a PNG of 10000 x 5000 of one colour is a few kB; decoded it would be 50M pixels
    out = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(out, "PNG")
    big = out.getvalue()
    assert len(big) < 200_000
    assert sniff.identify(big) is None
    out = io.BytesIO()
    Image.new("1", (8_000, 5_000)).save(out, "PNG")
    assert sniff.identify(out.getvalue()) == ".png"  # 40M pixels is fine


@pytest.mark.parametrize(
    ("data", "declared", "extension"),
    [
        (MP4, "video/mp4", ".mp4"),
        (MP4, "audio/mp4", ".m4a"),
        (MP4, None, ".mp4"),
        (M4A, "video/mp4", ".m4a"),  # M4A's own brand: audio whatever was said
        (EBML_WEBM, "video/webm", ".webm"),
        (EBML_WEBM, "audio/webm", ".weba"),
        (ogg(b"\x80theora" + bytes(30)), "audio/ogg", ".ogv"),
        (ogg(b"\x01vorbis" + bytes(30)), "video/ogg", ".ogg"),
        (ogg(b"OpusHead" + bytes(30)), None, ".ogg"),
        (WAV, "video/mp4", ".wav"),
        (MP3_ID3, None, ".mp3"),
        (MP3_FRAME, "audio/mpeg", ".mp3"),
        (AAC, "audio/aac", ".aac"),
    ],
)
def test_video_and_audio_by_their_container(data, declared, extension):
    assert sniff.identify(data, declared) == extension
    assert mediatypes.TYPES[extension].container == sniff.container(data[: sniff.HEAD])


def test_audio_by_file_name_when_no_type_was_declared():
    assert sniff.identify(EBML_WEBM, None, "voice.weba") == ".weba"
    assert sniff.identify(EBML_WEBM, "", "clip.webm") == ".webm"


def test_matroska_that_is_not_webm_is_refused():
    assert sniff.identify(EBML_WEBM.replace(b"webm", b"mkvx")) is None


def test_every_type_has_one_extension_and_a_container_sniff_knows():
    seen = {(t.container, t.msgtype) for t in mediatypes.TYPES.values()}
    assert len(seen) == len(mediatypes.TYPES)
    samples = {
        "png": image("PNG"),
        "jpeg": image("JPEG"),
        "gif": image("GIF"),
        "webp": image("WEBP"),
        "mp4": MP4,
        "webm": EBML_WEBM,
        "ogg": ogg(b"x"),
        "mp3": MP3_ID3,
        "aac": AAC,
        "wav": WAV,
    }
    assert {t.container for t in mediatypes.TYPES.values()} == set(samples)
    for name, data in samples.items():
        assert sniff.container(data[: sniff.HEAD]) == name


@pytest.mark.parametrize(
    ("url", "msgtype"),
    [
        ("/uploads/0123456789abcdef01234567.png", 1),
        ("/uploads/0123456789abcdef01234567.webm", 2),
        ("/uploads/0123456789abcdef01234567.weba", 3),
        ("/uploads/0123456789abcdef01234567.mp3", 3),
    ],
)
def test_our_upload_urls(url, msgtype):
    found = mediatypes.upload_url(url)
    assert found is not None and found.msgtype == msgtype


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/x.png",
        "http://127.0.0.1:9/x.png",
        "//evil.example/x.png",
        "/uploads/../chat.sqlite3",
        "/uploads/0123456789abcdef01234567.svg",
        "/uploads/0123456789abcdef01234567.html",
        "/uploads/0123456789ABCDEF01234567.png",
        "/uploads/0123456789abcdef0123456.png",
        "/uploads/0123456789abcdef01234567.png?x=1",
        "/uploads/0123456789abcdef01234567.png/",
        " /uploads/0123456789abcdef01234567.png",
        "https://evil.example/uploads/0123456789abcdef01234567.png",
        "",
        None,
        7,
    ],
)
def test_anything_else_is_not_ours(url):
    assert mediatypes.upload_url(url) is None
    assert not mediatypes.is_own_avatar(url)


def test_own_avatars():
    assert all(mediatypes.is_own_avatar(a) for a in mediatypes.STOCK_AVATARS)
    assert mediatypes.is_own_avatar(mediatypes.DEFAULT_AVATAR)
    assert mediatypes.is_own_avatar("/uploads/0123456789abcdef01234567.jpg")
    assert not mediatypes.is_own_avatar("/uploads/0123456789abcdef01234567.mp4")  # not an image
    assert not mediatypes.is_own_avatar("/static/avatars/9.svg")
    assert not mediatypes.is_own_avatar("/static/main.js")
