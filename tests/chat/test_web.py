"""The web backend as a real process: HTTP API, SQLite file, pushes through the cluster."""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from .support import ChatClient, WebProcess, join_frame


def png(width: int = 2, height: int = 2, blue: int = 0) -> bytes:
    """A valid PNG (a red-green gradient), made here so the test needs no file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((255 * x // width, 255 * y // height, blue)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


@pytest.fixture(scope="module")
def web(chat, tmp_path_factory) -> Iterator[WebProcess]:
    db = tmp_path_factory.mktemp("web") / "chat.sqlite3"
    process = WebProcess("--listen", "127.0.0.1:0", "--register", chat.register_address,
                         "--db", str(db), "--ws-url", chat.ws)  # fmt: skip
    try:
        process.wait_ready()
        process.db = db  # type: ignore[attr-defined]
        yield process
    finally:
        code = process.stop()
    assert code == 0, process.logs()


class Browser:
    """An HTTP client with its own cookies (one logged-in user)."""

    def __init__(self, web: WebProcess) -> None:
        self.base = web.url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.user: dict[str, Any] = {}

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        async with self.http.request(method, self.base + path, **kwargs) as response:
            body = await response.json()
            assert response.status == expect, (response.status, body)
            return body

    async def login(self, nickname: str, avatar: str = "/static/avatars/2.svg") -> dict[str, Any]:
        body = await self.call("POST", "/api/login", json={"nickname": nickname, "avatar": avatar})
        self.user = body["data"]
        return self.user

    async def send(self, expect: int = 200, **body: Any) -> Any:
        return await self.call("POST", "/api/send", expect, json=body)

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browsers(web) -> AsyncIterator[list[Browser]]:
    made = [Browser(web) for _ in range(3)]
    yield made
    for browser in made:
        await browser.close()


def test_ready_line(web):
    assert len(web.stdout) == 1
    line = web.stdout[0]
    assert line.startswith('GW-READY {"role": "web", "listen": "127.0.0.1:')
    assert json.loads(line.removeprefix("GW-READY "))["listen"] != "127.0.0.1:0"


async def test_page_static_and_config(web, chat, browsers):
    http = browsers[0].http
    async with http.get(web.url + "/") as response:
        page = await response.text()
        assert response.status == 200 and "/static/chat.js" in page and "cdn" not in page.lower()
    for asset in ("/static/chat.js", "/static/chat.css", "/static/avatars/default.svg"):
        async with http.get(web.url + asset) as response:
            assert response.status == 200, asset
    config = await browsers[0].call("GET", "/api/config")
    assert config["data"]["ws_url"] == chat.ws
    assert "/static/avatars/1.svg" in config["data"]["avatars"]


async def test_send_wants_post_and_a_login(browsers):
    assert await browsers[0].call("GET", "/api/send", 405) == {
        "code": 100, "msg": "请用post方法请求接口", "data": None}  # fmt: skip
    body = await browsers[0].send(401, action_type="send_msg", group_id=100, content="x", msgtype=0)
    assert body["code"] == 401
    assert (await browsers[0].call("GET", "/api/me", 401))["msg"] == "请先登录"


async def test_login_sets_a_session_cookie(browsers):
    user = await browsers[0].login("Tinywan")
    assert user["nickname"] == "Tinywan" and user["avatar"] == "/static/avatars/2.svg"
    assert (await browsers[0].call("GET", "/api/me"))["data"] == user
    again = await browsers[1].login("Tinywan", "/static/avatars/5.svg")
    assert again["id"] == user["id"] and again["avatar"] == "/static/avatars/5.svg"
    await browsers[0].call("POST", "/api/logout")
    await browsers[0].call("GET", "/api/me", 401)
    for bad in ("", " " * 3, "x" * 17, "a\nb"):
        await browsers[2].call("POST", "/api/login", 400, json={"nickname": bad})
    await browsers[2].call("POST", "/api/login", 400, json={"nickname": "ok", "avatar": "/etc/x"})


async def test_room_login_and_messages_are_pushed_to_the_room_and_stored(web, chat, browsers):
    alice, bob, _ = browsers
    a = await alice.login("阿克苏")
    b = await bob.login("拉姆才让")
    in_room, elsewhere = await ChatClient.open(chat.ws), await ChatClient.open(chat.ws)
    await in_room.join((str(b["id"]), "拉姆才让"), 2, 100)
    await elsewhere.join(("999", "别处"), 2, 101)

    login = await alice.send(action_type="login", group_id=100, content="", msgtype=0)
    expected_login = {"action_type": "new_user_login", "username": "阿克苏",
                      "photo": a["avatar"], "uid": str(a["id"]), "group_id": 100}  # fmt: skip
    assert login["data"] == expected_login
    assert await in_room.recv() == expected_login

    sent = await alice.send(action_type="send_msg", group_id=100, content="大家好", msgtype=0)
    frame = sent["data"]
    assert frame == {"action_type": "new_msg", "msgtype": 0, "uid": str(a["id"]),
                     "photo": a["avatar"], "username": "阿克苏", "content": "大家好",
                     "group_id": 100, "to_user_id": None, "msg_id": frame["msg_id"],
                     "time": frame["time"]}  # fmt: skip
    assert await in_room.recv() == frame
    assert await elsewhere.ping_pong() == []  # pushed to the room, not to everyone

    history = (await bob.call("GET", "/api/rooms/100/messages"))["data"]
    assert history[-1] == frame
    with sqlite3.connect(web.db) as db:
        row = db.execute("SELECT room_id, from_uid, msgtype, content FROM messages WHERE id = ?",
                         (frame["msg_id"],)).fetchone()  # fmt: skip
    assert row == (100, a["id"], 0, "大家好")

    rooms = (await bob.call("GET", "/api/rooms"))["data"]
    counts = {room["id"]: room["online"] for room in rooms}
    assert rooms[0]["name"] == "开源技术小栈"
    assert counts[100] == 1 and counts[101] == 1 and counts[102] == 0
    members = (await bob.call("GET", "/api/rooms/100/members"))["data"]
    member = {"uid": str(b["id"]), "username": "拉姆才让", "photo": "/static/avatars/default.svg"}
    assert members == {"online": 1, "members": [member]}
    await in_room.close()
    await elsewhere.close()


async def test_private_message_reaches_both_users_only(chat, browsers):
    alice, bob, carol = browsers
    a = await alice.login("私聊甲")
    b = await bob.login("私聊乙")
    c = await carol.login("私聊丙")
    sockets = {}
    for user in (a, b, c):
        sockets[user["id"]] = await ChatClient.open(chat.ws)
        await sockets[user["id"]].join((str(user["id"]), user["nickname"]), 1, 0)

    sent = await alice.send(action_type="send_msg", group_id=0, to_user_id=b["id"],
                            content="悄悄话", msgtype=0)  # fmt: skip
    frame = sent["data"]
    assert (frame["to_user_id"], frame["group_id"], frame["uid"]) == (str(b["id"]), 0, str(a["id"]))
    assert await sockets[b["id"]].recv() == frame
    assert await sockets[a["id"]].recv() == frame  # the sender's other tabs see it too
    assert await sockets[c["id"]].ping_pong() == []

    seen_by_b = (await bob.call("GET", f"/api/private/{a['id']}/messages"))["data"]
    assert [m["content"] for m in seen_by_b] == ["悄悄话"]
    assert (await carol.call("GET", f"/api/private/{a['id']}/messages"))["data"] == []
    users = {u["id"]: u for u in (await carol.call("GET", "/api/users"))["data"]}
    assert users[a["id"]]["online"] is True and c["id"] not in users
    await alice.send(404, action_type="send_msg", to_user_id=987654, content="x", msgtype=0)
    await alice.send(404, action_type="send_msg", to_user_id=a["id"], content="x", msgtype=0)
    for ws in sockets.values():
        await ws.close()


async def test_image_upload_then_image_message(web, chat, browsers):
    alice = browsers[0]
    await alice.login("传图")
    listener = await ChatClient.open(chat.ws)
    await listener.join(("998", "看图"), 2, 102)
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="red.png", content_type="image/png")
    saved = (await alice.call("POST", "/api/upload", data=form))["data"]
    assert (
        saved["msgtype"] == 1
        and saved["url"].startswith("/uploads/")
        and saved["url"].endswith(".png")
    )
    async with alice.http.get(web.url + saved["url"]) as response:
        assert response.status == 200 and await response.read() == png()
    sent = await alice.send(action_type="send_msg", group_id=102, content=saved["url"], msgtype=1)
    assert (await listener.recv())["content"] == saved["url"]
    assert sent["data"]["msgtype"] == 1

    bad = aiohttp.FormData()
    bad.add_field("file", b"<svg onload=alert(1)>", filename="x.svg", content_type="image/svg+xml")
    await alice.call("POST", "/api/upload", 400, data=bad)
    await listener.close()


async def test_refusals(browsers):
    alice = browsers[0]
    await alice.login("出错")
    await alice.send(404, action_type="send_msg", group_id=555, content="x", msgtype=0)
    await alice.send(400, action_type="send_msg", group_id=100, content="x", msgtype=9)
    await alice.send(400, action_type="send_msg", group_id=100, content="javascript:x", msgtype=1)
    body = await alice.call("POST", "/api/send", 400, data="{oops",
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert body == {"code": 400, "msg": "无效的json数据", "data": None}
    room = (await alice.call("POST", "/api/rooms", json={"name": "新房间"}))["data"]
    assert room["name"] == "新房间" and room["id"] > 102
    assert (await alice.call("GET", f"/api/rooms/{room['id']}/messages"))["data"] == []


async def test_default_database_path_and_sigterm(chat, tmp_path):
    process = WebProcess("--listen", "127.0.0.1:0", "--register", chat.register_address,
                         cwd=tmp_path)  # fmt: skip
    try:
        process.wait_ready()
        assert (tmp_path / "data" / "chat.sqlite3").is_file()
        assert "chat web on http://" in process.logs()  # logs go to stderr, not stdout
    finally:
        assert process.stop() == 0
    assert len(process.stdout) == 1


async def test_web_and_protocol_clients_share_the_room(chat, browsers):
    """A client using the document's raw frames hears the web page's room messages."""
    alice = browsers[0]
    await alice.login("网页用户")
    raw = await ChatClient.open(chat.ws)
    await raw.send(join_frame(("10086", "阿克苏"), 2, 100))
    assert (await raw.recv())["msg"] == "success"
    sent = await alice.send(action_type="send_msg", group_id="100", content="hello", msgtype="0")
    assert await raw.recv() == sent["data"]
    await raw.close()
