"""Requests other sites make a browser send are refused (issue 18, item 1): the backend as
a real process. What a browser sends is written out here by hand (``Origin``,
``Sec-Fetch-Site``); test_browser_security.py has Chromium send it."""

from __future__ import annotations

import re
import sqlite3

import aiohttp
import pytest

from examples.chat.web.routes import ROUTES

from .test_web import browsers, web

__all__ = ["browsers", "web"]  # fixtures

# every route that changes something, with a room in place of {room_id}
WRITES = sorted(
    route.path.replace("{room_id}", "101")
    for table in ROUTES
    for route in table
    if route.method not in ("GET", "HEAD")
)
REFUSED = {"code": 403, "msg": "拒绝跨站请求", "data": None}
STALE = {"code": 403, "msg": "页面已过期，请刷新后再试", "data": None}


def test_every_write_is_listed():
    assert set(WRITES) >= {
        "/api/send",
        "/api/login",
        "/api/register",
        "/api/logout",
        "/api/upload",
        "/api/token",
        "/api/rooms",
        "/api/rooms/101/join",
        "/api/rooms/101/leave",
        "/api/read",
        "/api/rooms/101/rename",
    }


def from_site(web, port: int, **headers: str) -> dict[str, str]:
    """What Chromium sends with a form another page of 127.0.0.1 posts."""
    return {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-site", **headers}


@pytest.mark.parametrize("path", WRITES)
async def test_a_write_from_another_origin_is_refused(web, browsers, path):
    victim = browsers[0]
    await victim.register(f"受害{len(path)}{path[-4:]}")
    token = await victim.csrf()
    for headers in (
        from_site(web, 9999),  # the issue's attack: another port of the same host
        {"Origin": "http://127.0.0.1:9999"},  # a browser that sends no Sec-Fetch-Site
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},  # a sandboxed frame
    ):
        for body in ({"json": {}}, {"data": "{}", "headers": {"Content-Type": "text/plain"}}):
            extra = body.pop("headers", {})  # type: ignore[arg-type]
            sent = {**headers, **extra, "X-CSRF-Token": token}  # even with the token
            async with victim.http.post(victim.base + path, headers=sent, **body) as response:
                assert (response.status, await response.json()) == (403, REFUSED), headers
    assert (await victim.call("GET", "/api/me"))["data"] == victim.user  # not logged out


async def test_the_issues_text_plain_post_stores_and_pushes_nothing(web, browsers):
    victim = browsers[0]
    user = await victim.register("纯文本受害者")
    forged = '{"action_type": "send_msg", "group_id": 100, "msgtype": 0, "content": "伪造的"}'
    for headers in (from_site(web, 9999), {}):  # {}: a browser that sends no Origin at all
        sent = {"Content-Type": "text/plain", **headers}
        async with victim.http.post(
            victim.base + "/api/send", data=forged, headers=sent
        ) as response:
            assert response.status == 403
            assert (await response.json()) == (REFUSED if headers else STALE)
    with sqlite3.connect(web.db) as db:
        stored = db.execute("SELECT count(*) FROM messages WHERE from_uid = ?", (user["id"],))
        assert stored.fetchone()[0] == 0
    # a line for the operator (one a second at most: the module's first is written)
    assert re.search(r"refused POST '/api/\S+' from 127\.0\.0\.1: ", web.logs())
    assert await victim.csrf() not in web.logs()  # the token is never logged


async def test_forms_and_empty_bodies_need_the_token_of_their_own_cookie(web, browsers):
    alice, mallory, _ = browsers
    await alice.register("有令牌")
    await mallory.register("别人的令牌")
    async with alice.http.post(alice.base + "/api/token") as response:  # no token: refused
        assert (response.status, await response.json()) == (403, STALE)
    theirs = {"X-CSRF-Token": await mallory.csrf()}  # a token, but of another cookie
    async with alice.http.post(alice.base + "/api/token", headers=theirs) as response:
        assert response.status == 403
    grant = await alice.call("POST", "/api/token")  # its own: granted
    assert grant["code"] == 0
    form = aiohttp.FormData({"name": "x"})
    async with alice.http.post(alice.base + "/api/rooms", data=form) as response:
        assert (response.status, await response.json()) == (403, STALE)


async def test_json_from_a_client_that_is_not_a_browser_needs_no_token(web):
    """curl and scripts send no Origin: they carry no one's cookies but their own."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        body = {"nickname": "脚本用户", "password": "correct horse"}
        async with http.post(web.url + "/api/register", json=body) as response:
            assert response.status == 200, await response.text()
        async with http.post(web.url + "/api/token", json={}) as response:
            assert response.status == 200
        same = {"Origin": web.url, "Sec-Fetch-Site": "same-origin"}  # as the page's own fetch
        async with http.post(web.url + "/api/logout", json={}, headers=same) as response:
            assert response.status == 200


async def test_a_new_browser_gets_its_cookie_and_token_from_the_config(web):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(web.url + "/api/config") as response:
            token = (await response.json())["data"]["csrf"]
            cookie = response.cookies["chat_csrf"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.get(web.url + "/api/config") as response:
            assert (await response.json())["data"]["csrf"] == token  # kept, not renewed
            assert "chat_csrf" not in response.cookies
