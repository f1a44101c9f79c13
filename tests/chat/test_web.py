"""The web backend as a real process: HTTP API, SQLite file, pushes through the cluster."""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from common.up import up as up_command
from examples.chat import web as web_module
from examples.chat.web import tokens
from tests.harness import ANY_PORTS, ROOT

from .support import AUTH_SECRET, ChatClient, WebProcess, join_frame, start_web

PASSWORD = "correct horse"


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
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def web(chat, tmp_path_factory) -> Iterator[WebProcess]:
    db = tmp_path_factory.mktemp("web") / "chat.sqlite3"
    process = start_web(chat, db)
    try:
        process.db = db  # type: ignore[attr-defined]
        yield process
    finally:
        code = process.stop()
    assert code == 0, process.logs()


class Browser:
    """An HTTP client with its own cookies (one logged-in user). Its calls other than GET
    carry the CSRF token that ``/api/config`` gives with its cookie, as the page's do
    (forms and empty bodies need it: examples/chat/web/origin.py)."""

    def __init__(self, web: WebProcess) -> None:
        self.base = web.url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.user: dict[str, Any] = {}
        self.token = ""

    async def csrf(self) -> str:
        """The token of this client's ``chat_csrf`` cookie (a new one if it has none)."""
        if not self.token or not any(c.key == "chat_csrf" for c in self.http.cookie_jar):
            async with self.http.get(self.base + "/api/config") as response:
                self.token = (await response.json())["data"]["csrf"]
        return self.token

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        if method != "GET":
            kwargs["headers"] = {"X-CSRF-Token": await self.csrf(), **kwargs.get("headers", {})}
        async with self.http.request(method, self.base + path, **kwargs) as response:
            body = await response.json()
            assert response.status == expect, (response.status, body)
            return body

    async def register(
        self, nickname: str, avatar: str = "/static/avatars/2.svg"
    ) -> dict[str, Any]:
        body = await self.call(
            "POST",
            "/api/register",
            json={"nickname": nickname, "password": PASSWORD, "avatar": avatar},
        )
        self.user = body["data"]
        return self.user

    async def send(self, expect: int = 200, **body: Any) -> Any:
        return await self.call("POST", "/api/send", expect, json=body)

    async def socket(self, chat) -> tuple[ChatClient, dict[str, Any]]:
        """The page's WebSocket: a token from the backend, then the welcome."""
        grant = (await self.call("POST", "/api/token"))["data"]
        client = await ChatClient.open(chat.ws_with(grant["token"]))
        welcome = await client.recv()
        assert welcome["action_type"] == "welcome"
        return client, welcome

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
    assert AUTH_SECRET not in web.logs()


async def test_page_static_and_config(web, chat, browsers):
    http = browsers[0].http
    async with http.get(web.url + "/") as response:
        page = await response.text()
        assert response.status == 200 and "/static/main.js" in page and "cdn" not in page.lower()
        policy = response.headers["Content-Security-Policy"]
        gateway = chat.ws.rstrip("/")
        assert f"connect-src 'self' {gateway};" in policy and "script-src 'self';" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # nothing inline for the CSP to refuse: no script without src, handler or style
    assert re.search(r"<script(?![^>]*\ssrc=)", page) is None
    assert re.search(r"<[^>]*\s(on\w+|style)\s*=", page) is None and "<style" not in page
    for asset in (
        "/static/main.js",
        "/static/socket.js",
        "/static/conversations.js",
        "/static/chat.css",
        "/static/avatars/default.svg",
    ):
        async with http.get(web.url + asset) as response:
            assert response.status == 200, asset
    config = await browsers[0].call("GET", "/api/config")
    assert config["data"]["ws_url"] == chat.ws
    assert "/static/avatars/1.svg" in config["data"]["avatars"]


async def test_the_page_connects_through_the_one_javascript_client(web, browsers):
    """clients/js/gateway-client.js is served as /static/gateway-client.js, from where it
    lives: no copy in static/, and no page module opens a WebSocket of its own."""
    library = ROOT / "clients" / "js" / "gateway-client.js"
    async with browsers[0].http.get(web.url + "/static/gateway-client.js") as response:
        assert response.status == 200
        assert response.content_type in ("text/javascript", "application/javascript")
        assert "script-src 'self';" in response.headers["Content-Security-Policy"]
        assert await response.read() == library.read_bytes()
    static = ROOT / "examples" / "chat" / "static"
    assert not (static / "gateway-client.js").exists()
    modules = {path.name: path.read_text() for path in static.glob("*.js")}
    assert "socket.js" in modules and 'from "./gateway-client.js"' in modules["socket.js"]
    assert [name for name, text in modules.items() if "WebSocket(" in text] == []


async def test_send_wants_post_and_a_login(browsers):
    assert await browsers[0].call("GET", "/api/send", 405) == {
        "code": 100,
        "msg": "请用post方法请求接口",
        "data": None,
    }
    body = await browsers[0].send(401, action_type="send_msg", group_id=100, content="x", msgtype=0)
    assert body["code"] == 401
    assert (await browsers[0].call("GET", "/api/me", 401))["msg"] == "请先登录"
    assert (await browsers[0].call("POST", "/api/token", 401))["code"] == 401


async def test_register_then_login_with_the_password(web, browsers):
    first, second, third = browsers
    user = await first.register("Tinywan")
    assert user["nickname"] == "Tinywan" and user["avatar"] == "/static/avatars/2.svg"
    assert (await first.call("GET", "/api/me"))["data"] == user
    cookie = next(c for c in first.http.cookie_jar if c.key == "chat_token")
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    taken = await second.call(
        "POST", "/api/register", 409, json={"nickname": "tinywan", "password": PASSWORD}
    )
    assert taken == {"code": 409, "msg": "这个昵称已被注册", "data": None}
    uploads = web.db.parent / "uploads"
    before = sorted(uploads.iterdir())
    form = aiohttp.FormData({"nickname": "Tinywan", "password": PASSWORD})
    form.add_field("avatar_file", png(), filename="a.png", content_type="image/png")
    await second.call("POST", "/api/register", 409, data=form)
    assert sorted(uploads.iterdir()) == before  # a refused request stores no file
    wrong = await second.call(
        "POST", "/api/login", 401, json={"nickname": "Tinywan", "password": "guess-1"}
    )
    assert wrong == {"code": 401, "msg": "昵称或密码错误", "data": None}
    await second.call("GET", "/api/me", 401)
    # a form post, as the page sends it; no avatar given: the account keeps its own
    form = aiohttp.FormData({"nickname": "Tinywan", "password": PASSWORD})
    again = (await second.call("POST", "/api/login", data=form))["data"]
    assert again == user
    await first.call("POST", "/api/logout")
    await first.call("GET", "/api/me", 401)
    assert (await second.call("GET", "/api/me"))["data"] == user  # other sessions live on
    refused = [
        {"nickname": "", "password": PASSWORD},
        {"nickname": "x" * 17, "password": PASSWORD},
        {"nickname": "a\nb", "password": PASSWORD},
        {"nickname": "ok", "password": "12345"},
        {"nickname": "ok", "password": PASSWORD, "avatar": "/etc/x"},
    ]
    for bad in refused:
        await third.call("POST", "/api/register", 400, json=bad)
    with sqlite3.connect(web.db) as db:
        stored = db.execute("SELECT password_hash FROM users WHERE nickname = 'Tinywan'").fetchone()
    assert stored[0].startswith("scrypt$") and PASSWORD not in stored[0]
    assert PASSWORD not in web.logs()


async def test_token_carries_the_identity_and_rooms(browsers):
    alice = browsers[0]
    user = await alice.register("令牌")
    grant = (await alice.call("POST", "/api/token"))["data"]
    claims = tokens.verify(AUTH_SECRET, grant["token"])
    assert (claims["uid"], claims["nickname"], claims["avatar"]) == (
        str(user["id"]),
        "令牌",
        "/static/avatars/2.svg",
    )
    assert claims["rooms"] == grant["rooms"] == [100]  # new users are in the default room
    assert 0 < claims["exp"] - claims["iat"] <= 600 and grant["expires_in"] == 300


async def test_rooms_membership_and_pushes(chat, browsers):
    alice, bob, _ = browsers
    a = await alice.register("房主")
    b = await bob.register("房客")
    a_ws, _ = await alice.socket(chat)
    b_ws, b_welcome = await bob.socket(chat)
    came = await a_ws.next("presence")  # 房客 came online in room 100
    assert (came["state"], came["uid"], came["group_ids"]) == ("online", str(b["id"]), [100])
    rooms = {r["id"]: r for r in (await alice.call("GET", "/api/rooms"))["data"]}
    assert rooms[100]["joined"] and not rooms[101]["joined"] and rooms[100]["online"] >= 2
    await alice.send(403, action_type="send_msg", group_id=101, content="x", msgtype=0)

    await bob.call("POST", "/api/rooms/101/join")
    assert (await b_ws.next()) == {
        "action_type": "room_member",
        "event": "join",
        "uid": str(b["id"]),
        "username": "房客",
        "photo": b["avatar"],
        "group_id": 101,
    }
    await alice.call("POST", "/api/rooms/101/join")
    joined = await b_ws.next()
    assert (joined["event"], joined["uid"]) == ("join", str(a["id"]))
    assert (await a_ws.next())["uid"] == str(a["id"])  # her own tab hears it too
    sent = await alice.send(action_type="send_msg", group_id=101, content="在101", msgtype=0)
    assert await b_ws.next() == sent["data"]  # the connection joined 101's group, no reconnect

    await bob.call("POST", "/api/rooms/101/leave")
    left = await b_ws.next()
    assert (left["action_type"], left["event"]) == ("room_member", "leave")
    await alice.send(action_type="send_msg", group_id=101, content="走了吗", msgtype=0)
    assert await b_ws.quiet(str(b["id"])) == []
    grant = (await bob.call("POST", "/api/token"))["data"]
    assert grant["rooms"] == [100]
    assert b_welcome["group_ids"] == [100]
    await a_ws.close()
    await b_ws.close()


async def test_online_counts_and_members_are_people(chat, browsers):
    alice, bob, _ = browsers
    a = await alice.register("两个标签")
    b = await bob.register("一个标签")
    await alice.call("POST", "/api/rooms", json={"name": "人数房"})
    room = next(r for r in (await alice.call("GET", "/api/rooms"))["data"] if r["name"] == "人数房")
    await bob.call("POST", f"/api/rooms/{room['id']}/join")
    tabs = [(await alice.socket(chat))[0] for _ in range(2)]
    raw = await ChatClient.open(chat.ws)  # an anonymous protocol client in the same group
    await raw.join((str(a["id"]), "两个标签"), 2, room["id"])
    listed = {r["id"]: r for r in (await bob.call("GET", "/api/rooms"))["data"]}
    assert listed[room["id"]]["online"] == 1  # two tabs and a raw socket: one person
    assert listed[room["id"]]["members"] == 2
    members = (await bob.call("GET", f"/api/rooms/{room['id']}/members"))["data"]
    assert members == {
        "online": 1,
        "members": [
            {"uid": str(a["id"]), "username": "两个标签", "photo": a["avatar"], "online": True},
            {"uid": str(b["id"]), "username": "一个标签", "photo": b["avatar"], "online": False},
        ],
    }
    for ws in (*tabs, raw):
        await ws.close()


async def test_history_pages_and_updates_by_id(browsers):
    alice, bob, _ = browsers
    a = await alice.register("历史甲")
    await bob.register("历史乙")
    start = (await alice.call("GET", "/api/updates"))["data"]
    assert start["messages"] == [] and start["more"] is False
    sent = [
        (await alice.send(action_type="send_msg", group_id=100, content=f"m{n}", msgtype=0))["data"]
        for n in range(5)
    ]
    private = (
        await bob.send(action_type="send_msg", to_user_id=a["id"], content="悄悄", msgtype=0)
    )["data"]
    page = (await alice.call("GET", "/api/rooms/100/messages?limit=2"))["data"]
    assert [m["content"] for m in page] == ["m3", "m4"]
    older = await alice.call("GET", f"/api/rooms/100/messages?limit=2&before={page[0]['msg_id']}")
    assert [m["content"] for m in older["data"]] == ["m1", "m2"]
    await alice.call("GET", "/api/rooms/100/messages?before=x", 400)
    missed = (await alice.call("GET", f"/api/updates?after={start['cursor']}&limit=4"))["data"]
    assert [m["msg_id"] for m in missed["messages"]] == [m["msg_id"] for m in sent[:4]]
    assert missed["more"] is True and missed["cursor"] == sent[3]["msg_id"]
    rest = (await alice.call("GET", f"/api/updates?after={missed['cursor']}"))["data"]
    assert [m["content"] for m in rest["messages"]] == ["m4", "悄悄"]
    assert rest["more"] is False and rest["cursor"] >= private["msg_id"]
    theirs = (await bob.call("GET", f"/api/updates?after={start['cursor']}"))["data"]["messages"]
    assert "悄悄" in [m["content"] for m in theirs]  # bob sees his own private message
    contacts = {u["nickname"]: u for u in (await alice.call("GET", "/api/users"))["data"]}
    assert contacts["历史乙"]["last"]["content"] == "悄悄"


async def test_private_message_reaches_both_users_only(chat, browsers):
    alice, bob, carol = browsers
    a = await alice.register("私聊甲")
    b = await bob.register("私聊乙")
    c = await carol.register("私聊丙")
    sockets = {}
    for browser, user in ((alice, a), (bob, b), (carol, c)):
        sockets[user["id"]], _ = await browser.socket(chat)
    spy = await ChatClient.open(chat.ws)  # the attack: a raw join with b's id
    await spy.join((str(b["id"]), "私聊乙"), 1, 0)

    sent = await alice.send(
        action_type="send_msg", group_id=0, to_user_id=b["id"], content="悄悄话", msgtype=0
    )
    frame = sent["data"]
    assert (frame["to_user_id"], frame["group_id"], frame["uid"]) == (str(b["id"]), 0, str(a["id"]))
    assert await sockets[b["id"]].next() == frame
    assert await sockets[a["id"]].next() == frame  # the sender's other tabs see it too
    assert await sockets[c["id"]].quiet(str(c["id"])) == []
    assert await spy.ping_pong() == []

    seen_by_b = (await bob.call("GET", f"/api/private/{a['id']}/messages"))["data"]
    assert [m["content"] for m in seen_by_b] == ["悄悄话"]
    assert (await carol.call("GET", f"/api/private/{a['id']}/messages"))["data"] == []
    users = {u["id"]: u for u in (await carol.call("GET", "/api/users"))["data"]}
    assert users[a["id"]]["online"] is True and c["id"] not in users
    nobody = await alice.send(
        404, action_type="send_msg", to_user_id=987654, content="x", msgtype=0
    )
    assert nobody["msg"] == "用户不存在"
    myself = await alice.send(
        400, action_type="send_msg", to_user_id=a["id"], content="x", msgtype=0
    )
    assert myself["msg"] == "不能给自己发私聊消息"  # not "no such user": she exists
    history = await alice.call("GET", f"/api/private/{a['id']}/messages", 400)
    assert history["msg"] == myself["msg"]
    for ws in (*sockets.values(), spy):
        await ws.close()


async def test_image_upload_then_image_message(web, chat, browsers):
    alice = browsers[0]
    await alice.register("传图")
    await alice.call("POST", "/api/rooms/102/join")
    listener, _ = await alice.socket(chat)  # her page: in room 102's group from its token
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="red.png", content_type="image/png")
    saved = (await alice.call("POST", "/api/upload", data=form))["data"]
    assert saved["msgtype"] == 1 and saved["url"].startswith("/uploads/")
    assert saved["url"].endswith(".png")
    async with alice.http.get(web.url + saved["url"]) as response:
        assert response.status == 200 and await response.read() == png()
    sent = await alice.send(action_type="send_msg", group_id=102, content=saved["url"], msgtype=1)
    assert (await listener.next("new_msg"))["content"] == saved["url"]
    assert sent["data"]["msgtype"] == 1

    bad = aiohttp.FormData()
    bad.add_field("file", b"<svg onload=alert(1)>", filename="x.svg", content_type="image/svg+xml")
    await alice.call("POST", "/api/upload", 400, data=bad)
    await listener.close()


async def test_refusals(browsers):
    alice = browsers[0]
    await alice.register("出错")
    await alice.send(404, action_type="send_msg", group_id=555, content="x", msgtype=0)
    await alice.send(400, action_type="send_msg", group_id=100, content="x", msgtype=9)
    await alice.send(400, action_type="send_msg", group_id=100, content="javascript:x", msgtype=1)
    body = await alice.call(
        "POST", "/api/send", 400, data="{oops", headers={"Content-Type": "application/json"}
    )
    assert body == {"code": 400, "msg": "无效的json数据", "data": None}
    room = (await alice.call("POST", "/api/rooms", json={"name": "新房间"}))["data"]
    assert room["name"] == "新房间" and room["id"] > 102 and room["joined"] is True
    assert (await alice.call("GET", f"/api/rooms/{room['id']}/messages"))["data"] == []
    await alice.call("POST", "/api/rooms/99999/join", 404)
    await alice.call("GET", "/api/private/abc/messages", 404)


# Past SQLite's INTEGER (2**63 - 1, OverflowError) and past Python's int() of a string
# (4,300 digits, ValueError): both once answered 500 with a traceback in the log.
OUT_OF_RANGE = [str(2**63), "9" * 20, "1" * 5000]


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=["2**63", "20 digits", "5000 digits"])
async def test_ids_out_of_range_are_refused_in_the_apis_format(web, browsers, value):
    alice = browsers[0]
    await alice.register(f"大数{len(value)}")
    other = (await browsers[1].register(f"另一个大数{len(value)}"))["id"]  # not alice herself
    before = web.logs().count("Traceback")
    for path, name in [
        (f"/api/updates?after={value}", "after"),
        (f"/api/rooms/100/messages?before={value}", "before"),
        (f"/api/rooms/100/messages?limit={value}", "limit"),
        (f"/api/private/{other}/messages?before={value}", "before"),
    ]:
        assert await alice.call("GET", path, 400) == {
            "code": 400,
            "msg": f"{name}必须是非负整数",
            "data": None,
        }
    for method, path, what in [
        ("GET", f"/api/rooms/{value}/messages", "房间"),
        ("GET", f"/api/rooms/{value}/members", "房间"),
        ("POST", f"/api/rooms/{value}/join", "房间"),
        ("POST", f"/api/rooms/{value}/leave", "房间"),
        ("GET", f"/api/private/{value}/messages", "用户"),
    ]:
        assert await alice.call(method, path, 404) == {
            "code": 404,
            "msg": f"{what}不存在",
            "data": None,
        }
    for field in ("group_id", "to_user_id"):
        for given in (value, int(value)) if len(value) < 4300 else (value,):
            body = await alice.send(
                400, action_type="send_msg", content="x", msgtype=0, **{field: given}
            )
            assert body == {"code": 400, "msg": f"{field}必须是非负整数", "data": None}
    assert web.logs().count("Traceback") == before


async def test_the_largest_id_is_an_id(browsers):
    alice = browsers[0]
    await alice.register("最大的数")
    top = str(2**63 - 1)
    found = (await alice.call("GET", f"/api/updates?after={top}"))["data"]
    assert (found["messages"], found["cursor"], found["more"]) == ([], 2**63 - 1, False)
    assert (await alice.call("GET", f"/api/rooms/100/messages?before={top}"))["code"] == 0
    assert (await alice.call("GET", f"/api/rooms/{top}/messages", 404))["code"] == 404
    assert (await alice.call("GET", f"/api/private/{top}/messages", 404))["msg"] == "用户不存在"
    await alice.send(404, action_type="send_msg", to_user_id=top, content="x", msgtype=0)


async def test_default_database_path_and_sigterm(chat, tmp_path):
    process = WebProcess(
        "--listen", "127.0.0.1:0", "--register", chat.register_address, cwd=tmp_path
    )
    try:
        process.wait_ready()
        assert (tmp_path / "data" / "chat.sqlite3").is_file()
        assert "chat web on http://" in process.logs()  # logs go to stderr, not stdout
    finally:
        assert process.stop() == 0
    assert len(process.stdout) == 1


def _command_lines(pid: int) -> list[str]:
    """The command lines of a process and of its children (as ``ps`` shows them)."""
    found = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:  # the field after the state: the parent's pid
            found.append(int(stat.parent.name))
    return [Path(f"/proc/{p}/cmdline").read_text(errors="replace") for p in found]


async def test_gw_up_hands_the_backend_its_auth_secret_in_the_environment(gw, tmp_path):
    """What web.py's docstring and the README say of ``make run``: the backend started by
    ``gw up --with`` reads GW_AUTH_SECRET from the environment it inherits (there is no
    placeholder for it), so its tokens open the gateway's door, and no process has the
    secret on its command line (which ``ps`` shows every user)."""
    up_help = next(p.help for p in up_command.params if p.name == "with_commands") or ""
    placeholders = set(re.findall(r"\{(\w+)\}", up_help))
    assert placeholders >= {"register", "websocket"}
    assert set(re.findall(r"\{(\w+)\}", web_module.__doc__ or "")) <= placeholders
    backend = (
        f"python -m examples.chat.web --listen 127.0.0.1:0 --register {{register}} "
        f"--ws-url ws://{{websocket}} --db {tmp_path / 'chat.sqlite3'}"
    )
    cluster = gw.start(
        "up",
        "--app",
        "examples.chat.worker.app",
        "--auth-optional",
        *ANY_PORTS,
        "--workers",
        "1",
        "--heartbeat",
        "0.2",
        "--with",
        backend,
        env={"GW_AUTH_SECRET": AUTH_SECRET},
    )
    processes = cluster.info["processes"]
    site = next(p for p in processes if p.get("role") == "web")
    gateway = next(p for p in processes if p.get("role") == "gateway")
    command_lines = _command_lines(cluster.proc.pid)
    assert len(command_lines) == 1 + len(processes)  # gw up and every child
    assert [line for line in command_lines if AUTH_SECRET in line] == []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        register = {"nickname": "环境变量", "password": PASSWORD}
        async with http.post(f"http://{site['listen']}/api/register", json=register) as response:
            assert response.status == 200, await response.text()
        async with http.post(f"http://{site['listen']}/api/token", json={}) as response:
            assert response.status == 200, await response.text()
            grant = (await response.json())["data"]
    assert tokens.verify(AUTH_SECRET, grant["token"])["nickname"] == "环境变量"
    client = await ChatClient.open(f"ws://{gateway['websocket']}/?token={grant['token']}")
    assert (await client.recv())["action_type"] == "welcome"  # the gateway took the token
    await client.close()


def test_no_auth_secret_is_a_usage_error(chat, tmp_path):
    process = WebProcess(
        "--listen", "127.0.0.1:0", "--register", chat.register_address, cwd=tmp_path, auth=False
    )
    assert process.proc.wait(timeout=30) == 2
    assert "--auth-secret" in process.logs()
    process.stop()


async def test_a_raw_join_never_hears_a_room(chat, browsers):
    """Membership is the server's. The document's raw ``join`` (mode 2) with a room's id
    puts a connection in the protocol's own group of that number, never in the room:
    neither an anonymous client nor a user who left the room hears what its members
    post, while a member's page does. (This test replaces one that asserted the
    opposite, a raw client hearing the room: the reviewer's hole.)"""
    member, leaver, _ = browsers
    await member.register("留在100")
    gone = await leaver.register("离开100")
    member_ws, _ = await member.socket(chat)
    leaver_ws, _ = await leaver.socket(chat)  # in room 100's group from its token
    await leaver.call("POST", "/api/rooms/100/leave")
    assert (await leaver_ws.next("room_member"))["event"] == "leave"  # told while inside
    rejoin = join_frame((str(gone["id"]), "离开100"), 2, 100)
    await leaver_ws.send(rejoin)
    reply = await leaver_ws.next()
    assert (reply["code"], reply["msg"], reply["data"]["group_id"]) == (0, "success", 100)
    anonymous = await ChatClient.open(chat.ws)
    await anonymous.join(("10086", "阿克苏"), 2, 100)  # the document's reply, as ever

    sent = (await member.send(action_type="send_msg", group_id=100, content="只给成员", msgtype=0))[
        "data"
    ]
    # document 000's "I am here": a member's is heard, one who left is refused
    await leaver.send(403, action_type="login", group_id=100)
    await member.send(action_type="login", group_id=100)
    assert await member_ws.next("new_msg") == sent
    heard = await member_ws.next("new_user_login")
    assert (heard["group_id"], heard["uid"]) == (100, str(member.user["id"]))  # not the leaver's
    assert await anonymous.quiet() == []
    assert await leaver_ws.quiet(str(gone["id"])) == []
    for ws in (member_ws, leaver_ws, anonymous):
        await ws.close()


async def test_an_address_opens_a_few_accounts_an_hour_and_no_more(chat, tmp_path):
    """Each account costs a password hash: past --register-limit an hour, an address is
    answered 429 with Retry-After (in a line of the log, never the password), before
    any hashing; a taken nickname costs nothing; another address and logins go on."""
    db = str(tmp_path / "chat.sqlite3")
    listen, register = ("--listen", "127.0.0.1:0"), ("--register", chat.register_address)
    process = WebProcess(*listen, *register, "--db", db, "--register-limit", "3")
    process.wait_ready()
    url = f"http://{process.info['listen']}/api/register"

    async def register(nickname: str, source: str = "127.0.0.1") -> aiohttp.ClientResponse:
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            form = {"nickname": nickname, "password": PASSWORD}
            async with http.post(url, json=form) as response:
                await response.read()
                return response

    try:
        assert [(await register(f"新人{n}")).status for n in range(3)] == [200] * 3
        assert (await register("新人0")).status == 409  # taken: refused before the limit
        refused = await register("第四个")
        assert refused.status == 429 and refused.headers["Retry-After"] == "1200"
        body = json.loads(await refused.text())
        assert body["code"] == 429 and body["msg"] == "这个地址注册的账号太多，请1200秒后再试"
        assert (await register("另一个地址", source="127.0.0.2")).status == 200
        async with aiohttp.ClientSession() as http:  # the accounts made still log in
            login = {"nickname": "新人1", "password": PASSWORD}
            async with http.post(url.replace("register", "login"), json=login) as response:
                assert response.status == 200
        logs = process.logs()
        assert logs.count("refused a new account from 127.0.0.1: over --register-limit") == 1
        assert PASSWORD not in logs
    finally:
        assert process.stop() == 0


async def test_a_user_owns_a_few_rooms_and_uploads_a_few_files_an_hour(chat, tmp_path):
    """--room-limit: rooms a user owns (each is in every user's list), 403 past it, a
    room of a name that exists still joined, another user still creates; --upload-limit:
    files a user uploads an hour, 429 with Retry-After past it, another user unaffected."""
    db = str(tmp_path / "chat.sqlite3")
    listen, register = ("--listen", "127.0.0.1:0"), ("--register", chat.register_address)
    limits = ("--room-limit", "2", "--upload-limit", "2")
    process = WebProcess(*listen, *register, "--db", db, *limits)
    process.wait_ready()
    alice, bob = Browser(process), Browser(process)

    def picture() -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("file", png(), filename="p.png", content_type="image/png")
        return form

    try:
        await alice.register("房主")
        await bob.register("另一个人")
        for name in ("第一间", "第二间"):
            assert (await alice.call("POST", "/api/rooms", json={"name": name}))["code"] == 0
        refused = await alice.call("POST", "/api/rooms", 403, json={"name": "第三间"})
        assert refused["msg"] == "你创建的房间已达上限（2个）"
        again = await alice.call("POST", "/api/rooms", json={"name": "第一间"})  # exists: joined
        assert again["data"]["joined"] is True
        assert (await bob.call("POST", "/api/rooms", json={"name": "第三间"}))["code"] == 0
        names = [r["name"] for r in (await bob.call("GET", "/api/rooms"))["data"]]
        assert names.count("第三间") == 1 and "第二间" in names

        for _ in range(2):
            await alice.call("POST", "/api/upload", data=picture())
        async with alice.http.post(
            process.url + "/api/upload",
            data=picture(),
            headers={"X-CSRF-Token": await alice.csrf()},
        ) as response:
            body = await response.json()
            assert response.status == 429 and response.headers["Retry-After"] == "1800"
        assert body["msg"] == "上传太频繁，请1800秒后再试"
        await bob.call("POST", "/api/upload", data=picture())
        assert "over --upload-limit" in process.logs()
    finally:
        await alice.close()
        await bob.close()
        assert process.stop() == 0


async def test_an_avatar_is_looked_at_only_once_the_request_is_let_in(browsers):
    """A taken nickname is refused before its avatar file is decoded (409, not the 400
    of a file that is no image); let in, the same file is refused as no image."""
    first, second = browsers[0], browsers[1]
    await first.register("头像之前")

    def form(nickname: str) -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("nickname", nickname)
        data.add_field("password", PASSWORD)
        data.add_field("avatar_file", b"<svg onload=alert(1)>", filename="a.png")
        return data

    taken = await second.call("POST", "/api/register", 409, data=form("头像之前"))
    assert taken["msg"] == "这个昵称已被注册"
    refused = await second.call("POST", "/api/register", 400, data=form("头像之后"))
    assert refused["msg"].startswith("文件格式不支持")


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(chat, tmp_path):
    """--trusted-proxies: the client named by the proxy's X-Forwarded-For is counted
    (one account each here), not the proxy; a header from anyone else is a claim,
    ignored; a bad list is refused before anything starts."""
    db = str(tmp_path / "chat.sqlite3")
    listen, register = ("--listen", "127.0.0.1:0"), ("--register", chat.register_address)
    args = ("--db", db, "--register-limit", "1", "--trusted-proxies", "127.0.0.0/8")
    process = WebProcess(*listen, *register, *args)
    process.wait_ready()
    url = f"http://{process.info['listen']}/api/register"

    async def register_as(nickname: str, forwarded: str) -> int:
        async with aiohttp.ClientSession() as http:
            form = {"nickname": nickname, "password": PASSWORD}
            headers = {"X-Forwarded-For": forwarded}
            async with http.post(url, json=form, headers=headers) as response:
                return response.status

    try:
        assert await register_as("代理后的甲", "198.51.100.1") == 200
        assert await register_as("代理后的乙", "198.51.100.2") == 200  # another client
        assert await register_as("代理后的丙", "198.51.100.1") == 429  # the first again
        assert "refused a new account from 198.51.100.1" in process.logs()
    finally:
        assert process.stop() == 0
    bad = WebProcess(*listen, *register, "--db", db, "--trusted-proxies", "10.0.0.300")
    assert bad.proc.wait(timeout=30) == 2
    assert "--trusted-proxies: not an address or a network: '10.0.0.300'" in bad.logs()
    bad.stop()
