"""Helpers of the browser tests: Debian's Chromium driven by Playwright, against a real
cluster (gateway verifying tokens) and web backend started once per test module.

Screenshots go to ``artifacts/`` (gitignored); every helper waits on a condition of
the page, never on time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.harness import ROOT, UNIT

from .support import WebProcess, start_web

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"
WAIT = 15_000 * UNIT  # ms
PASSWORD = "secret-123"
DESKTOP = {"width": 1100, "height": 720}
PHONE = {"width": 390, "height": 844}

needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed "
        "(/usr/bin/chromium missing; `make browser` installs it)",
    ),
    # one Chromium per module (its event loop too); each test gets fresh contexts
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest.fixture(scope="module")
def site(chat, tmp_path_factory) -> Iterator[WebProcess]:
    """The web backend of this module's cluster, on a fresh database."""
    db = tmp_path_factory.mktemp("browser") / "chat.sqlite3"
    process = start_web(chat, db)
    process.db = db  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0, process.logs()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


class Browser:
    """The module's Chromium for one test: the contexts it opens (each with its own
    cookies, i.e. its own user) are closed when the test ends, so no page of one test
    is still connected during the next."""

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium
        self.contexts: list[Any] = []

    async def new_context(self, **options: Any) -> Any:
        context = await self.chromium.new_context(**options)
        self.contexts.append(context)
        return context

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(chromium: Any) -> AsyncIterator[Browser]:
    session = Browser(chromium)
    try:
        yield session
    finally:
        await session.close()


def watch(page: Any, url: str, errors: list[str]) -> None:
    """Collect in ``errors`` the page's uncaught script errors and every Content Security
    Policy violation Chromium reports (a page that needs inline script, or loads
    anything from elsewhere, fails its test)."""
    page.on("pageerror", lambda exc: errors.append(f"{url}: {exc}"))

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            errors.append(f"{url}: {message.text}")

    page.on("console", console)


async def open_page(browser: Browser, url: str, errors: list[str], viewport: Any = None) -> Any:
    """A new browser context (its own cookies) with one page at ``url``; uncaught
    script errors and CSP violations are collected in ``errors``."""
    context = await browser.new_context(viewport=viewport or DESKTOP, locale="zh-CN")
    page = await context.new_page()
    watch(page, url, errors)
    await page.goto(url)
    return page


async def sign_in(
    page: Any,
    nickname: str,
    *,
    register: bool = True,
    password: str = PASSWORD,
    avatar: str | None = None,
    online: bool = True,
) -> None:
    """Fill the login card (the register tab unless ``register`` is false) and submit."""
    from playwright.async_api import expect

    await page.click("#mode-register" if register else "#mode-login")
    await page.fill("#nickname", nickname)
    await page.fill("#password", password)
    if avatar:
        await page.click(f'#avatar-choices [data-avatar="{avatar}"]')
    await page.click("#login-button")
    if online:
        await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)


async def say(page: Any, text: str) -> None:
    """Type a message in the open conversation and wait until it is shown as ours."""
    from playwright.async_api import expect

    await page.fill("#input", text)
    await page.press("#input", "Enter")
    mine = page.locator("#messages li.msg.mine", has_text=text)
    await expect(mine).to_have_count(1, timeout=WAIT)


async def shot(page: Any, name: str) -> Path:
    """A screenshot under artifacts/, checked to be a real picture (not a blank page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    data = await page.screenshot(path=str(path))
    assert len(data) > 8_000, f"{name}: {len(data)} bytes, a blank page?"
    return path


class Writer:
    """Another user, writing through the HTTP API."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.user: dict = {}

    async def call(self, path: str, **body) -> dict:
        async with self.http.post(self.base + path, json=body) as response:
            reply = await response.json()
            assert response.status == 200, reply
            return reply["data"]

    async def register(self, nickname: str) -> None:
        self.user = await self.call("/api/register", nickname=nickname, password=PASSWORD)

    async def say(self, content: str, room: int | None = None, to: int | None = None) -> dict:
        target = {"group_id": room} if room else {"group_id": 0, "to_user_id": to}
        return await self.call(
            "/api/send", action_type="send_msg", msgtype=0, content=content, **target
        )

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> Writer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Stranger:
    """Another site: an aiohttp server on another port of 127.0.0.1 (port 0) that serves
    the pages it is given (``pages[path] = html``) and records every request it gets
    (``requests``: path and query; ``headers``: each one's headers)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.runner: Any = None
        self.url = ""

    async def _any(self, request: Any) -> Any:
        from aiohttp import web

        self.requests.append(request.path_qs)
        self.headers.append(dict(request.headers))
        page = self.pages.get(request.path)
        if page is None:
            return web.Response(status=404, text="nothing here")
        return web.Response(text=page, content_type="text/html")

    async def __aenter__(self) -> Stranger:
        from aiohttp import web

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()
