"""Unread counts that last (issue 18, item 5), in Chromium: one user on a desktop
(1100x720) and on a phone (390x844), others writing through the HTTP API.

- badges come from the server: a reload keeps them, and messages that came while no
  page was open are counted when one opens;
- reading on one device clears the badge on the other at once (the server pushes the
  position to the user's pages through the cluster), the title's total too.
Screenshots: artifacts/chat-unread.png (the desktop, badges after a reload),
artifacts/chat-phone-unread.png (the phone, badges of what came while it was closed).
"""

from __future__ import annotations

from .browser import (
    DESKTOP,
    PASSWORD,
    PHONE,
    WAIT,
    Writer,
    browser,
    chromium,
    needs_chromium,
    open_page,
    shot,
    sign_in,
    site,
)

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures
ME = "读者"


async def device(browser, site_url: str, errors: list[str], viewport: dict):
    page = await open_page(browser, site_url, errors, viewport=viewport)
    await sign_in(page, ME, register=False, password=PASSWORD)
    return page


async def badges(page, room: str, contact: str, tab_rooms: str, tab_contacts: str) -> None:
    """The room's and the contact's badges and the tabs' totals ("" for none)."""
    from playwright.async_api import expect

    shown = {
        '#rooms li[data-room="102"] .badge': room,
        "#contacts li[data-uid] .badge": contact,
        "#rooms-badge": tab_rooms,
        "#contacts-badge": tab_contacts,
    }
    for selector, text in shown.items():
        if text:
            await expect(page.locator(selector)).to_have_text(text, timeout=WAIT)
        else:
            await expect(page.locator(selector)).to_be_hidden(timeout=WAIT)


async def test_badges_last_and_reading_anywhere_clears_them_everywhere(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    async with Writer(site.url) as me, Writer(site.url) as friend:
        await me.register(ME)
        await me.call("/api/rooms/102/join")
        await friend.register("写信的朋友")
        await friend.call("/api/rooms/102/join")
        desktop = await device(browser, site.url, errors, DESKTOP)
        phone = await device(browser, site.url, errors, PHONE)
        for n in range(2):
            await friend.say(f"102里的第{n}条", room=102)
        await friend.say("私聊一条", to=me.user["id"])
        for page in (desktop, phone):
            await badges(page, "2", "1", "2", "1")
        await expect(desktop).to_have_title("(3) 聊天室")

        # a reload keeps them: they are the server's
        await desktop.reload()
        await expect(desktop.locator("#conn")).to_have_attribute(
            "data-state", "online", timeout=WAIT
        )
        await badges(desktop, "2", "1", "2", "1")
        await shot(desktop, "chat-unread.png")

        # read on the phone: gone on the desktop at once, pushed (the desktop asks nothing)
        asked: list[str] = []
        desktop.on("request", lambda r: asked.append(r.url) if "/api/" in r.url else None)
        await phone.click('#rooms li[data-room="102"]')
        await expect(phone.locator("#messages li.msg")).to_have_count(2, timeout=WAIT)
        await badges(desktop, "", "1", "", "1")
        await expect(desktop).to_have_title("(1) 聊天室")
        assert asked == []
        await phone.click("#back")
        await badges(phone, "", "1", "", "1")

        # what comes while no page is open is counted when one opens
        for page in (desktop, phone):
            await page.context.close()
        for n in range(3):
            await friend.say(f"没人在线时{n}", room=102)
        await friend.say("你不在的时候", to=me.user["id"])
        phone = await device(browser, site.url, errors, PHONE)
        await badges(phone, "3", "2", "3", "2")
        await shot(phone, "chat-phone-unread.png")
        desktop = await device(browser, site.url, errors, DESKTOP)
        await badges(desktop, "3", "2", "3", "2")

        # the private conversation read on the desktop: cleared on the phone
        await desktop.click('.rail-tab[data-tab="contacts"]')
        await desktop.click(f'#contacts li[data-uid="{friend.user["id"]}"]')
        await expect(desktop.locator("#messages li.msg")).to_have_count(2, timeout=WAIT)
        await badges(phone, "3", "", "3", "")
        await badges(desktop, "3", "", "3", "")
        await expect(phone).to_have_title("(3) 聊天室")
    assert errors == []


async def test_unread_counting_in_the_page(site, browser):
    """conversations.js: the server's count up to its reading's ``latest``, plus the
    messages of others after it, each once; a late reading never undoes a newer one."""
    page = await (await browser.new_context()).new_page()
    await page.goto(site.url)
    result = await page.evaluate("""async () => {
      const c = await import("/static/conversations.js");
      const m = (id, uid = "2") => ({msg_id: id, uid, group_id: 100, to_user_id: null,
                                     content: "m" + id, msgtype: 0});
      const log = new c.Log();
      [m(3), m(5), m(6, "1"), m(8), m(9)].forEach((x) => log.add(x));
      log.notice("n");
      const count = (reading) => c.unreadOf(reading, log, "1");
      return {
        nothing: count(null),                                   // all of others'
        server: count({read: 2, unread: 4, latest: 8}),         // 4 + m9
        readFurther: count({read: 8, unread: 0, latest: 8}),    // m9
        allRead: count({read: 9, unread: 0, latest: 9}),
        aheadOfLog: count({read: 2, unread: 7, latest: 12}),    // the server knows more
        noLog: c.unreadOf({read: 1, unread: 2, latest: 3}, undefined, "1"),
        further: [c.isFurther({read: 5, latest: 9}, {read: 5, latest: 8}),
                  c.isFurther({read: 5, latest: 9}, null),
                  c.isFurther({read: 4, latest: 9}, {read: 5, latest: 9}),
                  c.isFurther({read: 5, latest: 8}, {read: 5, latest: 9})],
      };
    }""")
    assert result == {
        "nothing": 4,
        "server": 5,
        "readFurther": 1,
        "allRead": 0,
        "aheadOfLog": 7,
        "noLog": 2,
        "further": [True, True, False, False],
    }


async def test_a_read_the_server_failed_to_take_is_told_again(site, browser):
    """POST /api/read answered 503 once: the page tells it again a second later, so the
    server (and the user's other pages) learn it; a refusal would not be retried."""
    import asyncio

    from playwright.async_api import expect

    errors: list[str] = []
    async with Writer(site.url) as me, Writer(site.url) as friend:
        await me.register("重试的读者")
        await friend.register("写给重试的人")
        room = (await friend.call("/api/rooms", name="重试的房间"))["id"]  # its own: 2 messages
        await me.call(f"/api/rooms/{room}/join")
        for n in range(2):
            await friend.say(f"等你读的第{n}条", room=room)
        page = await open_page(browser, site.url, errors, viewport=DESKTOP)
        await sign_in(page, "重试的读者", register=False, password=PASSWORD)
        reads: list[int] = []

        async def fail_the_first(route) -> None:
            reads.append(len(reads))
            if len(reads) == 1:
                body = '{"code": 503, "msg": "暂时不可用", "data": null}'
                await route.fulfill(status=503, content_type="application/json", body=body)
            else:
                await route.continue_()

        await page.route("**/api/read", fail_the_first)
        await page.click(f'#rooms li[data-room="{room}"]')
        await expect(page.locator("#messages li.msg")).to_have_count(2, timeout=WAIT)
        await expect(page.locator(f'#rooms li[data-room="{room}"] .badge')).to_be_hidden()

        async def unread_on_the_server() -> int:
            async with me.http.get(site.url + "/api/rooms") as response:
                rooms = (await response.json())["data"]
            return next(r["unread"] for r in rooms if r["id"] == room)

        for _ in range(int(WAIT / 50)):  # polled: the retry comes ~1 s after the failure
            if await unread_on_the_server() == 0:
                break
            await asyncio.sleep(0.05)
        assert await unread_on_the_server() == 0 and len(reads) == 2
    assert [e for e in errors if "503" not in e] == []
