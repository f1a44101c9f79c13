"""The page's connection is clients/js/gateway-client.js, in Chromium, desktop and phone.

- The page's connection object is the library's ``GatewayClient`` (the module the
  backend serves at /static/gateway-client.js), and it is open.
- Its ``reconnecting`` event drives the page's connection badge: /api/token fails twice
  (503), the library retries with backoff, and each scheduled retry shows "已断开，N 秒后
  重连" (N from the event's delay) before the next attempt; the third token connects.
- A session that ended stops it: offline, the badge says so (the library's "paused");
  back online, /api/token answers 401, the page throws ``StopReconnecting``, the
  client is closed for good and the login card is shown.

The drain (1012) is test_browser_drain.py's, the recovery after a gap
test_browser_sync.py's.
"""

from __future__ import annotations

import json

import pytest

from .browser import DESKTOP, PHONE, WAIT, browser, chromium, needs_chromium, sign_in, site, watch

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures

FAILED_TOKENS = 2
RECORD_BADGE = """() => {  // every (state, text) the connection badge shows, in order
    window.__badge = [];
    const conn = document.querySelector("#conn");
    const record = () => {
        const now = [conn.dataset.state, conn.textContent];
        const last = window.__badge.at(-1);
        if (!last || last[0] !== now[0] || last[1] !== now[1]) window.__badge.push(now);
    };
    new MutationObserver(record).observe(conn, {
        attributes: true, attributeFilter: ["data-state"], childList: true, characterData: true,
        subtree: true,
    });
}"""
IS_THE_LIBRARY = """async () => {
    const { GatewayClient } = await import("/static/gateway-client.js");
    const client = window.__chat.link.client;
    return [client instanceof GatewayClient, client.state];
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_the_page_connects_through_the_library(site, browser, viewport):
    from playwright.async_api import expect

    errors: list[str] = []
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    page = await context.new_page()
    watch(page, site.url, errors)
    statuses: list[int] = []

    async def flaky(route) -> None:
        if len(statuses) < FAILED_TOKENS:
            statuses.append(503)
            body = {"code": 503, "msg": "服务器暂时无法处理（503），请稍后再试", "data": None}
            await route.fulfill(status=503, content_type="application/json", body=json.dumps(body))
            return
        response = await route.fetch()
        statuses.append(response.status)
        await route.fulfill(response=response)

    await page.route("**/api/token", flaky)
    await page.goto(site.url)
    await page.evaluate(RECORD_BADGE)
    await sign_in(page, f"用库的人{viewport['width']}")
    assert await page.evaluate(IS_THE_LIBRARY) == [True, "open"]
    assert statuses == [503, 503, 200]
    retry = ["offline", "已断开，1 秒后重连"]  # retries 1 and 2: delays under 0.5 s and 1 s
    connecting = ["connecting", "连接中…"]
    assert await page.evaluate("window.__badge") == [
        connecting,
        retry,
        connecting,
        retry,
        connecting,
        ["online", "在线"],
    ]

    # the session ends elsewhere; the page notices when it next needs a token
    await page.evaluate("window.__client = window.__chat.link.client")
    ended = await context.request.post(site.url + "/api/logout", data={})
    assert ended.ok, await ended.text()
    conn = page.locator("#conn")
    await context.set_offline(True)
    await expect(conn).to_have_attribute("data-state", "offline", timeout=WAIT)
    await expect(conn).to_have_text("网络已断开")
    assert await page.evaluate("window.__client.state") == "paused"
    await context.set_offline(False)
    await expect(page.locator("#login")).to_be_visible(timeout=WAIT)
    assert statuses == [503, 503, 200, 401]
    stopped = await page.evaluate("[window.__client.state, window.__client.stopped.reason]")
    assert stopped == ["closed", "logged out"]
    assert await page.evaluate("window.__chat.link") is None
    assert errors == []
