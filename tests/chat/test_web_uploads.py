"""Uploads typed by their bytes and served so that nothing in them runs (the backend as a
real process, a real SQLite file)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import time
from collections.abc import AsyncIterator

import aiohttp

from examples.chat.web import media
from tests.harness import UNIT

from .support import WebProcess
from .test_sniff import HTML, SVG, image
from .test_web import Browser, browsers, png, web

__all__ = ["browsers", "web"]  # fixtures

UPLOAD_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


def form(data: bytes, filename: str, content_type: str, field: str = "file") -> aiohttp.FormData:
    made = aiohttp.FormData()
    made.add_field(field, io.BytesIO(data), filename=filename, content_type=content_type)
    return made


async def test_scripts_declared_as_images_are_refused_and_nothing_is_stored(web, browsers):
    alice = browsers[0]
    await alice.register("传脚本")
    uploads = web.db.parent / "uploads"
    before = sorted(uploads.iterdir())
    files = ((SVG, "cat.png"), (HTML, "cat.png"), (SVG, "cat.svg"), (b"x" * 100, "a.mp4"))
    for data, name in files:
        for declared in ("image/png", "image/svg+xml", "text/html", "video/mp4"):
            body = await alice.call("POST", "/api/upload", 400, data=form(data, name, declared))
            assert body["code"] == 400 and body["msg"].startswith("文件格式不支持"), body
    avatar = aiohttp.FormData({"nickname": "脚本头像", "password": "correct horse"})
    avatar.add_field("avatar_file", SVG, filename="me.png", content_type="image/png")
    assert (await browsers[1].call("POST", "/api/register", 400, data=avatar))["msg"].startswith(
        "文件格式不支持"
    )
    assert sorted(uploads.iterdir()) == before


async def test_the_bytes_decide_the_type_it_is_served_with(web, browsers):
    alice = browsers[0]
    await alice.register("真格式")
    jpeg = image("JPEG", (40, 30))
    saved = (await alice.call("POST", "/api/upload", data=form(jpeg, "x.png", "image/png")))["data"]
    assert saved["msgtype"] == 1 and saved["url"].endswith(".jpg")  # declared png, it is a jpeg
    async with alice.http.get(web.url + saved["url"]) as response:
        assert response.status == 200 and await response.read() == jpeg
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == UPLOAD_CSP
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    video = b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2" + bytes(200)
    clip = (await alice.call("POST", "/api/upload", data=form(video, "v.bin", "audio/mp4")))["data"]
    assert clip["msgtype"] == 3 and clip["url"].endswith(".m4a")
    async with alice.http.get(web.url + clip["url"]) as response:
        assert response.headers["Content-Type"] == "audio/mp4"


async def test_an_avatar_must_be_an_image(browsers):
    audio = aiohttp.FormData({"nickname": "声音头像", "password": "correct horse"})
    audio.add_field(
        "avatar_file", b"ID3\x04" + bytes(100), filename="a.png", content_type="image/png"
    )
    refused = await browsers[0].call("POST", "/api/register", 400, data=audio)
    assert refused["msg"] == "头像必须是图片"


async def test_only_stored_files_that_are_what_their_name_says_are_served(web, browsers):
    alice = browsers[0]
    uploads = web.db.parent / "uploads"
    # as an older release stored them: typed by the client's claim
    (uploads / "aaaaaaaaaaaaaaaaaaaaaaaa.png").write_bytes(HTML)
    (uploads / "bbbbbbbbbbbbbbbbbbbbbbbb.png").write_bytes(png())
    (uploads / "notes.txt").write_bytes(b"hello")
    async with alice.http.get(web.url + "/uploads/bbbbbbbbbbbbbbbbbbbbbbbb.png") as response:
        assert response.status == 200 and response.headers["Content-Type"] == "image/png"
    refused = [
        "aaaaaaaaaaaaaaaaaaaaaaaa.png",
        "notes.txt",
        "cccccccccccccccccccccccc.png",
        "bbbbbbbbbbbbbbbbbbbbbbbb.svg",
        "..%2Fchat.sqlite3",
        "%2E%2E/chat.sqlite3",
    ]
    for name in refused:
        async with alice.http.get(web.url + "/uploads/" + name) as response:
            assert response.status == 404, name
            assert await response.read() != HTML


async def test_a_refused_upload_leaves_no_traceback(web, browsers):
    alice = browsers[0]
    await alice.register("坏图")
    before = web.logs().count("Traceback")
    truncated = png(64, 64)[:60]
    await alice.call("POST", "/api/upload", 400, data=form(truncated, "t.png", "image/png"))
    big = form(b"\x89PNG" + bytes(9 << 20), "b.png", "image/png")
    too_big = await alice.call("POST", "/api/upload", 413, data=big)
    assert too_big["msg"] == "文件太大：不能超过 8 MB"
    assert web.logs().count("Traceback") == before


async def test_media_messages_are_our_own_uploads_only(web, chat, browsers):
    alice = browsers[0]
    await alice.register("只发本站")
    listener, _ = await alice.socket(chat)
    photo = await alice.call("POST", "/api/upload", data=form(png(), "p.png", "image/png"))
    url = photo["data"]["url"]
    message = {"action_type": "send_msg", "group_id": 100}
    for outside in ("https://example.com/a.png", "http://127.0.0.1:9/x.png", "//example.com/x"):
        refused = await alice.send(400, **message, msgtype=1, content=outside)
        assert refused == {"code": 400, "msg": "只能发送本站上传的文件", "data": None}
    missing = "/uploads/" + "f" * 24 + ".png"  # our shape, but nothing was uploaded
    assert (await alice.send(400, **message, msgtype=1, content=missing))["msg"] == (
        "文件不存在，请重新上传"
    )
    wrong = await alice.send(400, **message, msgtype=2, content=url)
    assert wrong["msg"] == "文件类型与消息类型不符"
    sent = (await alice.send(**message, msgtype=1, content=url))["data"]
    assert await listener.next("new_msg") == sent  # the refused ones were never pushed
    history = (await alice.call("GET", "/api/rooms/100/messages"))["data"]
    assert [m["content"] for m in history if m["uid"] == str(alice.user["id"])] == [url]
    await listener.close()


async def test_outside_media_an_older_release_stored_is_listed_as_text(web, browsers):
    alice = browsers[0]
    user = await alice.register("旧消息")
    with sqlite3.connect(web.db) as db:  # as a release that took any http(s) URL stored it
        db.execute(
            "INSERT INTO messages (room_id, from_uid, to_uid, msgtype, content, created_at)"
            " VALUES (100, ?, NULL, 1, 'https://example.com/tracker.png', 1.0)",
            (user["id"],),
        )
    history = (await alice.call("GET", "/api/rooms/100/messages"))["data"]
    old = [m for m in history if m["content"] == "https://example.com/tracker.png"]
    assert [m["msgtype"] for m in old] == [0]


VIDEO_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2"  # an mp4, by its bytes


async def test_uploads_held_at_once_are_bounded_and_given_back_however_they_end(chat, tmp_path):
    """--upload-memory 8: two uploads that each have 5 MB read and wait for their last
    bytes would hold 10 MB: one is refused as it is read (503, Retry-After, said in the
    log), the other still waits, held; once its client is gone (a line in the log, no
    traceback), a file of almost the whole 8 MB is taken (everything the two held was
    given back)."""
    listen, register = ("--listen", "127.0.0.1:0"), ("--register", chat.register_address)
    db = ("--db", str(tmp_path / "chat.sqlite3"))
    process = WebProcess(*listen, *register, *db, "--upload-memory", "8")
    process.wait_ready()
    alice = Browser(process)
    last_bytes = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield VIDEO_HEAD + bytes((5 << 20) - len(VIDEO_HEAD))
        await last_bytes.wait()  # never, in this test: its client goes first
        yield bytes(100)

    async def post(file: object) -> tuple[int, dict[str, str], dict[str, object]]:
        data = aiohttp.FormData()
        data.add_field("file", file, filename="v.mp4", content_type="video/mp4")
        headers = {"X-CSRF-Token": await alice.csrf()}
        async with alice.http.post(process.url + "/api/upload", data=data, headers=headers) as r:
            return r.status, dict(r.headers), await r.json()

    try:
        await alice.register("大文件")
        uploads = {asyncio.create_task(post(slow())) for _ in range(2)}
        done, waiting = await asyncio.wait(
            uploads, timeout=10 * UNIT, return_when=asyncio.FIRST_COMPLETED
        )
        assert len(done) == 1 and len(waiting) == 1, (done, waiting)
        status, headers, body = done.pop().result()
        assert (status, headers["Retry-After"], body["msg"]) == (503, "2", media.BUSY), body
        process.wait_log("refused an upload: ")
        assert "--upload-memory 8" in process.logs()
        held = waiting.pop()
        assert not held.done()
        held.cancel()  # its client gone: the backend's read of it fails
        with contextlib.suppress(asyncio.CancelledError):
            await held
        # the backend sees the client gone as it gets to it: until then, 503
        deadline = time.monotonic() + 10 * UNIT
        almost_all = VIDEO_HEAD + bytes((8 << 20) - (64 << 10))
        while True:
            status, _, body = await post(io.BytesIO(almost_all))
            if status != 503 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert status == 200 and body["data"]["msgtype"] == 2, body  # type: ignore[index]
        logs = process.logs()
        assert "a client went away during its POST /api/upload" in logs
        assert "Traceback" not in logs
    finally:
        await alice.close()
        assert process.stop() == 0
