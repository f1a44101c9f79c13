"""Reads like a chat (issue 18, item 9), in Chromium, desktop and 390x844:

- a sender's consecutive messages (within five minutes, the same day, nothing between)
  share one avatar and name; a pause, another sender or another day starts a group;
- a separator before each day's first message: "星期X" (days ago), "昨天", "今天";
- links: http and https URLs are <a> elements opening a new tab with
  rel="noopener noreferrer" (the other site gets no Referer, the new tab no opener);
  javascript:, HTML and everything else stay text, exactly as sent.
Older days are written into the room's rows directly (the API stamps messages with the
time they are sent); the rest is sent through the page and the API.
Screenshots: artifacts/chat-reading.png, artifacts/chat-phone-reading.png.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from .browser import (
    DESKTOP,
    PHONE,
    WAIT,
    Stranger,
    Writer,
    browser,
    chromium,
    needs_chromium,
    say,
    shot,
    sign_in,
    site,
    watch,
)

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures
ZONE = "Asia/Shanghai"  # the pages' time zone, and the one the expected days are in
WEEKDAYS = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]


def noon(days_ago: int) -> float:
    """Noon of a day in the pages' zone, as a Unix time."""
    today = datetime.now(ZoneInfo(ZONE)).date() - timedelta(days=days_ago)
    return datetime(today.year, today.month, today.day, 12, tzinfo=ZoneInfo(ZONE)).timestamp()


def write_rows(db, room: int, rows: list[tuple[int, float, str]]) -> None:
    """Messages (sender, time, text) of another day, as the backend stores them."""
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO messages (room_id, from_uid, to_uid, msgtype, content, created_at)"
            " VALUES (?, ?, NULL, 0, ?, ?)",
            [(room, uid, text, at) for uid, at, text in rows],
        )
    conn.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_groups_days_and_safe_links(site, browser, viewport):
    from playwright.async_api import expect

    phone = viewport is PHONE
    tag = "机" if phone else "桌"
    errors: list[str] = []
    async with Writer(site.url) as a, Writer(site.url) as b, Stranger() as elsewhere:
        elsewhere.pages["/linked"] = "<!doctype html><title>linked</title><p>elsewhere</p>"
        await a.register(f"甲{tag}")
        await b.register(f"乙{tag}")
        room = (await a.call("/api/rooms", name=f"阅读室{tag}"))["id"]
        await b.call(f"/api/rooms/{room}/join")
        ua, ub = a.user["id"], b.user["id"]
        three, one, today = noon(3), noon(1), noon(0)
        write_rows(
            site.db,
            room,
            [
                (ua, three, "三天前一"),
                (ua, three + 60, "三天前二"),  # one group
                (ua, one, "昨天甲"),
                (ub, one + 30, "昨天乙"),  # two senders
                (ua, today, "今天一"),
                (ua, today + 20, "今天二"),  # one group
                (ua, today + 400, "停了一会儿"),
                (ub, today + 420, "乙来了"),  # a pause, another
                (ua, today + 440, "甲又说"),
            ],
        )

        context = await browser.new_context(viewport=viewport, locale="zh-CN", timezone_id=ZONE)
        page = await context.new_page()
        watch(page, site.url, errors)
        await page.goto(site.url)
        await sign_in(page, f"乙{tag}", register=False)
        await page.click(f'#rooms li[data-room="{room}"]')
        messages = page.locator("#messages li.msg")
        await expect(messages).to_have_count(9, timeout=WAIT)
        day3 = datetime.fromtimestamp(three, ZoneInfo(ZONE)).weekday()
        await expect(page.locator("#messages li.day")).to_have_text(
            [WEEKDAYS[day3], "昨天", "今天"]
        )
        continued = await messages.evaluate_all(
            "(items) => items.map((li) => li.classList.contains('continued'))"
        )
        assert continued == [False, True, False, False, False, True, False, False, False]
        for index, first in enumerate(continued):  # a group's first carries avatar and name
            item = messages.nth(index)
            await expect(item.locator("img.avatar")).to_have_count(0 if first else 1)
            await expect(item.locator(".name")).to_have_count(0 if first else 1)
        await expect(messages.nth(0).locator(".name")).to_have_text(f"甲{tag}")
        order = await page.locator("#messages li.day, #messages li.msg .bubble").all_inner_texts()
        assert order == [
            WEEKDAYS[day3],
            "三天前一",
            "三天前二",
            "昨天",
            "昨天甲",
            "昨天乙",
            "今天",
            "今天一",
            "今天二",
            "停了一会儿",
            "乙来了",
            "甲又说",
        ]

        # live, as they come: my two messages in a row are one group
        target = f"{elsewhere.url}/linked?x=1&y=2"
        text = (
            f"看看{target}。还有 javascript:alert(1) 和 <img src=x onerror=alert(1)>"
            " 以及(https://python.org/docs) 和 data:text/html,hi"
            " 和 http://例子.com"
        )
        await say(page, text)
        await say(page, "再说一句")
        await expect(messages).to_have_count(11)
        tail = await messages.evaluate_all(
            "(items) => items.slice(-2).map((li) => li.classList.contains('continued'))"
        )
        assert tail == [False, True]
        await expect(messages.nth(10).locator("img.avatar")).to_have_count(0)

        # the links: http(s) only, as text nodes and <a> elements, the text as sent
        bubble = page.locator("#messages li.msg .bubble", has_text="javascript")
        await expect(bubble).to_have_text(text)
        links = bubble.locator("a")
        await expect(links).to_have_count(2)
        assert [await links.nth(i).get_attribute("href") for i in range(2)] == [
            target,
            "https://python.org/docs",
        ]
        assert await links.all_inner_texts() == [target, "https://python.org/docs"]
        for i in range(2):
            await expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer")
            await expect(links.nth(i)).to_have_attribute("target", "_blank")
        assert await bubble.locator("img").count() == 0
        await shot(page, "chat-phone-reading.png" if phone else "chat-reading.png")

        # followed: a new tab, with no opener, and the other site gets no Referer
        async with context.expect_page(timeout=WAIT) as opened:
            await page.locator("#messages .bubble a").first.click()
        tab = await opened.value
        await expect(tab.locator("p")).to_have_text("elsewhere", timeout=WAIT)
        assert await tab.evaluate("window.opener") is None
        assert "/linked?x=1&y=2" in elsewhere.requests
        sent = elsewhere.headers[elsewhere.requests.index("/linked?x=1&y=2")]
        assert "Referer" not in sent
        await tab.close()
        assert page.url.startswith(site.url)  # the chat stayed where it was
    assert errors == []


async def test_reading_rules_in_the_page(site, browser):
    """layout.js, the page's rules: groups, day labels, links."""
    page = await (await browser.new_context(timezone_id=ZONE)).new_page()
    await page.goto(site.url)
    result = await page.evaluate("""async () => {
      const l = await import("/static/layout.js");
      const now = new Date(2024, 2, 6, 15, 0).getTime() / 1000;   // Wednesday 6 March 2024
      const at = (d, h, m = 0) => new Date(2024, 2, d, h, m).getTime() / 1000;
      const m = (id, uid, time) => ({msg_id: id, uid, time});
      const items = [m(1, "1", at(6, 9)), m(2, "1", at(6, 9, 4)), m(3, "1", at(6, 9, 10)),
                     {notice: "n", time: at(6, 9, 11)}, m(4, "1", at(6, 9, 12)),
                     m(5, "2", at(6, 9, 13)), m(6, "1", at(6, 9, 14))];
      const rows = l.rowsOf(items, now).map((r) => r.day ?? (r.continued ? "+" : "new"));
      const days = [at(6, 1), at(5, 23), at(4, 12), at(0, 12), at(-1, 12)]  // at(0): 29 Feb
        .map((t) => l.dayLabel(t, now));
      days.push(l.dayLabel(new Date(2023, 11, 9, 12).getTime() / 1000, now));
      const parts = (t) => l.linkParts(t).map((p) => p.href ? `[${p.href}|${p.text}]` : p.text);
      return {rows, days, links: [
        parts("见https://a.com/x?y=1，好"),
        parts("(see http://b.org/a_(b)) and https://c.net."),
        parts("javascript:alert(1) JAVASCRIPT://x data:text/html,x vbscript:x ftp://f.com"),
        parts("HTTPS://Example.COM/Path <https://d.io/>"),
        parts("http:// 和 https://[::1 和 http://例子.中国"),
      ]};
    }""")
    assert result["rows"] == ["今天", "new", "+", "new", "new", "new", "new", "new"]
    assert result["days"] == ["今天", "昨天", "星期一", "星期四", "2月28日", "2023年12月9日"]
    assert result["links"] == [
        ["见", "[https://a.com/x?y=1|https://a.com/x?y=1]", "，好"],
        [
            "(see ",
            "[http://b.org/a_(b)|http://b.org/a_(b)]",
            ") and ",
            "[https://c.net/|https://c.net]",
            ".",
        ],
        ["javascript:alert(1) JAVASCRIPT://x data:text/html,x vbscript:x ftp://f.com"],
        [
            "[https://example.com/Path|HTTPS://Example.COM/Path]",
            " <",
            "[https://d.io/|https://d.io/]",
            ">",
        ],
        ["http:// 和 https://[::1 和 http://例子.中国"],
    ]
