"""Bad input to the chat's web backend (a real process): a clear 400 and nothing else,
never a 500, a traceback, a line per request, or a header's secret in the log."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp

from tests.harness import UNIT, closed_within

from .support import WebProcess
from .test_web import PASSWORD, browsers, web

__all__ = ["browsers", "web"]  # fixtures

BAD_FORM = "表单数据无法解析"


async def raw_status(url: str, request: bytes) -> int:
    """Send ``request`` as it is; the status the server answers (0: none)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10 * UNIT)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(line.split()[1]) if line.startswith(b"HTTP/") else 0


async def test_malformed_requests_are_a_line_a_second_and_never_show_a_header(web) -> None:
    secret = "chat_token=f00dfeedf00dfeedf00dfeedf00dfeed"
    malformed = [
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        f"GET / HTTP/1.1\r\nHost: x\r\nCookie: {secret}; lang=\x01zh\r\n\r\n".encode(),
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for _ in range(10):
        for request in malformed:
            assert await raw_status(web.url, request) == 400
    async with aiohttp.ClientSession() as http, http.get(web.url + "/api/config") as answer:
        assert answer.status == 200  # and everyone else is served
    logs = web.logs()
    assert "Traceback" not in logs and "Error handling request" not in logs
    assert secret not in logs and "f00dfeed" not in logs
    lines = [line for line in logs.splitlines() if "answered a malformed HTTP request" in line]
    assert 1 <= len(lines) <= 3, lines  # 30 requests: a line a second at most


async def test_bodies_no_handler_can_take_are_a_clear_400(web, browsers) -> None:
    alice = browsers[0]
    await alice.register("坏数据")
    before = web.logs().count("Traceback")
    json = {"Content-Type": "application/json"}
    lone = b'{"action_type": "send_msg", "group_id": 100, "msgtype": 0, "content": "\\ud800"}'
    nested = b"[" * 100_000
    for path, body in (("/api/send", lone), ("/api/send", nested), ("/api/rooms", nested)):
        refused = await alice.call("POST", path, 400, data=body, headers=json)
        assert refused["msg"] == "无效的json数据", (path, refused)
    password = b'{"nickname": "surrogate", "password": "password-\\ud800-123456"}'
    refused = await browsers[1].call("POST", "/api/register", 400, data=password, headers=json)
    assert refused["msg"] == "无效的json数据"
    # the charset a JSON body claims: JSON is UTF-8, whatever it says
    odd = {"Content-Type": "application/json; charset=x-nonexistent"}
    fine = b'{"action_type": "send_msg", "group_id": 100, "msgtype": 0, "content": "\xe4\xbd\xa0"}'
    sent = await alice.call("POST", "/api/send", data=fine, headers=odd)
    assert sent["data"]["content"] == "你"
    # forms that are not forms
    multipart = {"Content-Type": "multipart/form-data; boundary=xyz"}
    garbage = b"--xyz\r\nContent-Disposition: form-data; name=nickname\r\n\r\nab"  # cut short
    for path in ("/api/register", "/api/login", "/api/upload"):
        for body in (b"no boundary here at all", garbage):
            refused = await alice.call("POST", path, 400, data=body, headers=multipart)
            assert refused["msg"] == BAD_FORM, (path, body, refused)
    not_utf8 = (
        b"--xyz\r\nContent-Disposition: form-data; name=nickname\r\n\r\n\xff\xfe\r\n"
        b"--xyz\r\nContent-Disposition: form-data; name=password\r\n\r\n"
        + PASSWORD.encode()
        + b"\r\n--xyz--\r\n"
    )
    refused = await browsers[1].call("POST", "/api/login", 400, data=not_utf8, headers=multipart)
    assert refused["msg"] == BAD_FORM
    two = (
        b"--xyz\r\nContent-Disposition: form-data; name=avatar_file; filename=a.png\r\n\r\nx\r\n"
        b"--xyz\r\nContent-Disposition: form-data; name=avatar_file; filename=b.png\r\n\r\ny\r\n"
        b"--xyz--\r\n"
    )  # each would hold its bytes to the request's end
    refused = await browsers[1].call("POST", "/api/register", 400, data=two, headers=multipart)
    assert refused["msg"] == "只能上传一个头像"
    bogus = {"Content-Type": "application/x-www-form-urlencoded; charset=x-bogus"}
    refused = await browsers[1].call("POST", "/api/login", 400, data=b"nickname=a", headers=bogus)
    assert refused["msg"] == BAD_FORM
    # a room's name is text, not whatever turns into text
    for name in ({"a": "b"}, 1, True, ["x"]):
        refused = await alice.call("POST", "/api/rooms", 400, json={"name": name})
        assert refused["msg"].startswith("房间名需要"), (name, refused)
    await alice.call("POST", "/api/rooms", 400, data=b'{"name": 1e400}', headers=json)
    rooms = [room["name"] for room in (await alice.call("GET", "/api/rooms"))["data"]]
    assert not {"{'a': 'b'}", "inf", "1", "True", "['x']"} & set(rooms)
    assert web.logs().count("Traceback") == before


async def test_silent_and_dripping_connections_are_closed(chat, tmp_path) -> None:
    """--idle-timeout: a connection with no complete request in that time is closed,
    whether it sends nothing or drips a request head a byte at a time (slowloris)."""
    listen, register = ("--listen", "127.0.0.1:0"), ("--register", chat.register_address)
    db = ("--db", str(tmp_path / "chat.sqlite3"))
    process = WebProcess(*listen, *register, *db, "--idle-timeout", "1")
    process.wait_ready()
    try:
        silent = await closed_within(process.url, 10 * UNIT)
        dripping = await closed_within(
            process.url, 10 * UNIT, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100
        )
        assert 0.9 < silent < 5 * UNIT and 0.9 < dripping < 5 * UNIT, (silent, dripping)
        async with aiohttp.ClientSession() as http, http.get(process.url + "/") as answer:
            assert answer.status == 200  # the page, as ever
    finally:
        assert process.stop() == 0


async def test_an_address_holds_a_few_connections_at_most(chat, tmp_path) -> None:
    """--max-connections-per-ip 3: three silent sockets are held, a fourth is closed as
    it is accepted (said in the log); once one of the three goes, a page is served."""
    listen, register = ("--listen", "127.0.0.1:0"), ("--register", chat.register_address)
    db = ("--db", str(tmp_path / "chat.sqlite3"))
    process = WebProcess(*listen, *register, *db, "--max-connections-per-ip", "3")
    process.wait_ready()
    parts = urlsplit(process.url)
    held = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(3)]
    try:
        assert await closed_within(process.url, 5 * UNIT) < 2 * UNIT  # the fourth
        process.wait_log("refused a connection from 127.0.0.1: it holds 3 already")
        _, writer = held.pop()
        writer.close()
        await writer.wait_closed()
        deadline = asyncio.get_running_loop().time() + 10 * UNIT
        while True:  # (until the backend has seen that one go)
            try:
                async with aiohttp.ClientSession() as http, http.get(process.url + "/") as page:
                    assert page.status == 200
                    break
            except aiohttp.ClientConnectionError:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
    finally:
        for _, writer in held:
            writer.close()
        assert process.stop() == 0
