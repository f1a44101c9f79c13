"""The chat page in a real headless Chromium (Debian's), against a real cluster and backend.

Two users log in (one picks an avatar, one uploads one), enter room 100, exchange a
text and an image, one sends the other a private message, and one connection is
dropped and comes back. Screenshots go to artifacts/chat-browser.png (阿克苏's
window, in the room) and artifacts/chat-browser-private.png (拉姆才让's, in the
private conversation).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT, UNIT

from .support import WebProcess
from .test_web import png

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = ROOT / "artifacts"
WAIT = 15_000 * UNIT  # ms

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed "
        "(/usr/bin/chromium missing; `make browser` installs it)",
    ),
]


@pytest.fixture(scope="module")
def web(chat, tmp_path_factory) -> Iterator[WebProcess]:
    db = tmp_path_factory.mktemp("browser") / "chat.sqlite3"
    process = WebProcess("--listen", "127.0.0.1:0", "--register", chat.register_address,
                         "--db", str(db), "--ws-url", chat.ws)  # fmt: skip
    try:
        process.wait_ready()
        yield process
    finally:
        code = process.stop()
    assert code == 0, process.logs()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_page(browser, url: str, errors: list[str]):
    context = await browser.new_context(viewport={"width": 1100, "height": 720}, locale="zh-CN")
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{url}: {exc}"))
    await page.goto(url)
    return page


async def test_two_users_chat_in_a_real_browser(web, browser, tmp_path):
    from playwright.async_api import expect

    errors: list[str] = []
    avatar = tmp_path / "me.png"
    avatar.write_bytes(png(48, 48, blue=200))
    picture = tmp_path / "picture.png"
    picture.write_bytes(png(160, 100))

    # 阿克苏 picks an avatar; 拉姆才让 uploads one
    akesu = await open_page(browser, web.url, errors)
    await akesu.fill("#nickname", "阿克苏")
    await akesu.click('#avatar-choices [data-avatar="/static/avatars/3.svg"]')
    await akesu.click("#login-button")
    await expect(akesu.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    await expect(akesu.locator("#chat-title")).to_have_text("开源技术小栈")
    await expect(akesu.locator("#me-avatar")).to_have_attribute("src", "/static/avatars/3.svg")

    lamu = await open_page(browser, web.url, errors)
    await lamu.fill("#nickname", "拉姆才让")
    await lamu.set_input_files("#avatar-file", str(avatar))
    await lamu.click("#login-button")
    await expect(lamu.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    lamu_avatar = await lamu.locator("#me-avatar").get_attribute("src")
    assert lamu_avatar and lamu_avatar.startswith("/uploads/")

    # 阿克苏 is told who came in, and both see two people online in room 100
    await expect(akesu.locator(".notice", has_text="拉姆才让 进入了房间")).to_be_visible(
        timeout=WAIT
    )
    for page in (akesu, lamu):
        await expect(page.locator("#chat-sub")).to_have_text("2 人在线", timeout=WAIT)
        await expect(page.locator('#rooms li[data-room="100"] .count')).to_have_text("2 人在线")

    # text: 阿克苏 -> room
    await akesu.fill("#input", "大家好，我是阿克苏")
    await akesu.press("#input", "Enter")
    mine = akesu.locator("#messages li.msg.mine", has_text="大家好，我是阿克苏")
    await expect(mine).to_have_count(1, timeout=WAIT)
    theirs = lamu.locator("#messages li.msg:not(.mine)", has_text="大家好，我是阿克苏")
    await expect(theirs).to_have_count(1, timeout=WAIT)
    await expect(theirs.locator(".name")).to_have_text("阿克苏")
    await expect(theirs.locator("img.avatar")).to_have_attribute("src", "/static/avatars/3.svg")
    await expect(theirs.locator("time")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))

    # image: 拉姆才让 -> room (uploaded), shown and loaded on both sides
    await lamu.set_input_files("#media-file", str(picture))
    for page in (akesu, lamu):
        image = page.locator("#messages li.msg img.pic")
        await expect(image).to_have_count(1, timeout=WAIT)
        await expect(image).to_have_attribute("src", re.compile(r"^/uploads/\w+\.png$"))
        await page.wait_for_function(
            "() => document.querySelector('#messages img.pic').naturalWidth === 160", timeout=WAIT
        )
    await expect(akesu.locator("#messages li.msg:not(.mine) .name").last).to_have_text("拉姆才让")

    # private: 阿克苏 -> 拉姆才让 only
    await akesu.click('.rail-tab[data-tab="contacts"]')
    await akesu.click('#contacts li:has-text("拉姆才让")')
    await expect(akesu.locator("#chat-title")).to_have_text("拉姆才让")
    await akesu.fill("#input", "悄悄话：只有你能看到")
    await akesu.press("#input", "Enter")
    await expect(lamu.locator("#contacts-badge")).to_have_text("1", timeout=WAIT)
    await expect(lamu.locator("#messages")).not_to_contain_text("悄悄话")  # not in the room
    await lamu.click('.rail-tab[data-tab="contacts"]')
    await lamu.click('#contacts li:has-text("阿克苏")')
    private = lamu.locator("#messages li.msg:not(.mine)", has_text="悄悄话：只有你能看到")
    await expect(private).to_have_count(1, timeout=WAIT)
    await expect(lamu.locator("#contacts-badge")).to_be_hidden()

    # the connection drops: the page reconnects, rebinds its uid and rejoins its room
    connects = await lamu.evaluate("window.__chat.connects")
    await lamu.evaluate("window.__chat.ws.close(4000)")
    await lamu.wait_for_function(f"window.__chat.connects > {connects}", timeout=WAIT)
    await expect(lamu.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    await akesu.fill("#input", "重连以后还能收到吗？")
    await akesu.press("#input", "Enter")
    await expect(lamu.locator("#messages li.msg", has_text="重连以后还能收到吗？")).to_have_count(
        1, timeout=WAIT
    )
    await lamu.fill("#input", "能收到！")
    await lamu.press("#input", "Enter")
    await expect(akesu.locator("#messages li.msg", has_text="能收到！")).to_have_count(
        1, timeout=WAIT
    )

    # back in the room, 阿克苏 still hears it after 拉姆才让's reconnection
    await akesu.click('.rail-tab[data-tab="rooms"]')
    await akesu.click('#rooms li[data-room="100"]')
    await lamu.click('.rail-tab[data-tab="rooms"]')
    await lamu.click('#rooms li[data-room="100"]')
    await lamu.fill("#input", "我回来了")
    await lamu.press("#input", "Enter")
    await expect(akesu.locator("#messages li.msg", has_text="我回来了")).to_have_count(
        1, timeout=WAIT
    )
    await expect(akesu.locator("#messages li.msg img.pic")).to_have_count(1)  # history kept
    await expect(akesu.locator("#messages")).not_to_contain_text("悄悄话")

    await expect(akesu.locator("#chat-sub")).to_have_text("2 人在线", timeout=WAIT)
    notices = await akesu.locator("#messages .notice").all_inner_texts()
    assert notices[:2] == ["阿克苏 进入了房间", "拉姆才让 进入了房间"]
    assert "拉姆才让 离开了房间" in notices  # the dropped connection, then back:
    assert notices[-1] == "拉姆才让 进入了房间"
    ARTIFACTS.mkdir(exist_ok=True)
    await akesu.screenshot(path=str(ARTIFACTS / "chat-browser.png"))
    await lamu.click('.rail-tab[data-tab="contacts"]')
    await lamu.click('#contacts li:has-text("阿克苏")')
    await expect(lamu.locator("#messages li.msg", has_text="能收到！")).to_have_count(1)
    await lamu.screenshot(path=str(ARTIFACTS / "chat-browser-private.png"))
    assert len(await akesu.screenshot()) > 10_000  # a real picture, not a blank page
    assert errors == []


# The document's own JavaScript (Part 3, group chat), run in the page against the gateway.
DOCUMENT_JOIN = """([name, userId, to]) => new Promise((resolve) => {
  window.received = [];
  var ws = new WebSocket(WS_URL);
  window.ws = ws;
  ws.onopen = function(evt) {
     let $_content = {"event": "join", "mode": 2, "group_id": 100, "from_user_id": userId,
                      "from_username": name, "to_user_id": to, "content": "加入会话"};
     ws.send(JSON.stringify($_content));
  };
  ws.onmessage = function(evt) {
    console.log("【" + name + "】接受消息: " + evt.data);
    window.received.push(JSON.parse(evt.data));
    resolve();
  };
})"""
DOCUMENT_SPEAK = """([name, userId, to, content]) => {
  let $_content = {"event": "speak", "mode": 2, "group_id": 100, "from_user_id": userId,
                   "from_username": name, "to_user_id": to, "content": content};
  ws.send(JSON.stringify($_content));
}"""


async def test_the_documents_group_chat_snippets_in_a_browser(chat, web, browser):
    users = [
        ("阿克苏", "10086", "10000"),
        ("拉姆才让", "10000", "10086"),
        ("無尘", "2023", "10000"),
    ]
    pages, logs = [], []
    for name, user_id, to in users:
        page = await (await browser.new_context()).new_page()
        page.on("console", lambda message: logs.append(message.text))
        await page.goto(web.url)
        await page.evaluate(DOCUMENT_JOIN.replace("WS_URL", repr(chat.ws)), [name, user_id, to])
        pages.append(page)
    for page, (name, user_id, to) in zip(pages, users, strict=True):
        joined = (await page.evaluate("window.received"))[0]
        assert joined == {"code": 0, "msg": "success", "data": {
            "event": "join", "mode": 2, "group_id": 100, "from_user_id": user_id,
            "from_username": name, "to_user_id": to, "content": "加入会话"}}  # fmt: skip
    await pages[0].evaluate(DOCUMENT_SPEAK, ["阿克苏", "10086", "10000", "【群组消息】:我是阿克苏"])
    for page in pages:
        await page.wait_for_function("window.received.length === 2", timeout=WAIT)
        said = (await page.evaluate("window.received"))[1]
        assert said["msg"] == "阿克苏[群聊说]:【群组消息】:我是阿克苏"
        assert said["data"]["content"] == "【群组消息】:我是阿克苏"
    assert any(
        line.startswith("【拉姆才让】接受消息: {") and "阿克苏[群聊说]" in line for line in logs
    )
