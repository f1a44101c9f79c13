"""Password guesses slow the attacker down, never lock the owner out (issue 18, item 4):
the backend as a real process. The attacker connects from 127.0.0.2 (or .3), another
address of the loopback range, so that its address is not the owner's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from examples.chat.web.throttle import ACCOUNT

from .test_web import PASSWORD, browsers, web

__all__ = ["browsers", "web"]  # fixtures


@asynccontextmanager
async def attacker(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose connections come from ``address`` (a loopback address)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


async def guess(
    http: aiohttp.ClientSession, url: str, nickname: str, password: str
) -> tuple[int, dict, int | None]:
    """(status, body, Retry-After) of one login (JSON: a script sends no Origin)."""
    async with http.post(
        url + "/api/login", json={"nickname": nickname, "password": password}
    ) as response:
        after = response.headers.get("Retry-After")
        return response.status, await response.json(), None if after is None else int(after)


async def test_an_attack_slows_the_attacker_and_never_the_owner(web, browsers):
    usual, new_browser, _ = browsers
    await usual.register("被攻击的人")  # the owner's usual browser: recognised from now on
    device = next(c for c in usual.http.cookie_jar if c.key == "chat_device")
    assert device["httponly"] and device["samesite"] == "Strict" and device["path"] == "/api/login"
    await usual.call("POST", "/api/logout")
    async with attacker("127.0.0.2") as http:
        for n in range(5):
            status, body, _ = await guess(http, web.url, "被攻击的人", f"guess-{n}")
            assert (status, body["msg"]) == (401, "昵称或密码错误")
        status, body, after = await guess(http, web.url, "被攻击的人", "guess-5")
        assert (status, body["code"]) == (429, 429) and body["msg"].startswith("尝试次数过多")
        assert after is not None and 1 <= after <= ACCOUNT.longest

        # the owner's usual browser: in at once, while the attacker still waits
        back = await usual.call(
            "POST", "/api/login", json={"nickname": "被攻击的人", "password": PASSWORD}
        )
        assert back["data"]["nickname"] == "被攻击的人"
        assert (await guess(http, web.url, "被攻击的人", "guess-6"))[0] == 429

        # the owner on a new browser: delayed at most what the account's wait says
        login = {"nickname": "被攻击的人", "password": PASSWORD}
        async with new_browser.http.post(web.url + "/api/login", json=login) as response:
            status = response.status
            after = int(response.headers.get("Retry-After", "0"))
        if status == 429:  # (the wait may have run out already on a slow machine)
            assert 1 <= after <= ACCOUNT.longest
            await asyncio.sleep(after)  # what the backend said to wait, no more
            status = (await new_browser.call("POST", "/api/login", json=login))["code"]
        assert status in (0, 200)


async def test_one_address_guessing_many_accounts_is_slowed_down(web, browsers):
    await browsers[0].register("地址受害者")
    async with attacker("127.0.0.3") as http:
        for n in range(10):  # one guess at each of ten accounts: no account waits
            status, _, _ = await guess(http, web.url, f"地址受害者{n}", "wrong-password")
            assert status == 401
        status, _, after = await guess(http, web.url, "地址受害者", "wrong-password")
        assert status == 429 and after == 1  # the address's first wait
    # from another address the account is not held back
    wrong = {"nickname": "地址受害者", "password": "nope-123"}
    assert (await browsers[1].call("POST", "/api/login", 401, json=wrong))["code"] == 401


async def test_a_recognised_browser_is_held_back_by_its_own_failures(web, browsers):
    usual = browsers[0]
    await usual.register("自己输错")
    login = {"nickname": "自己输错", "password": "wrong-password"}
    for _ in range(5):
        await usual.call("POST", "/api/login", 401, json=login)
    async with usual.http.post(web.url + "/api/login", json=login) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "1"
    async with attacker("127.0.0.4") as http:  # the account's waits are untouched
        assert (await guess(http, web.url, "自己输错", "other-guess"))[0] == 401
