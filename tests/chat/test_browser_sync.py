"""What a page hears and recovers, in Chromium against a real cluster and backend.

- Recovery: the page's network goes away (its socket is dropped, reconnection fails)
  while others write in its room, in another of its rooms and privately; when the
  network is back it fetches what it missed by message id: everything, in order.
- Every room: a message to another room the user belongs to shows a badge; after
  leaving that room, its messages no longer reach the page; a room joined while the
  page connects (after its token was issued) is heard too.
- Presence by person: two tabs are one person online; closing one says nothing,
  closing the last says "离开了房间" once. A private contact who shares no room with
  the page is seen coming and going too (the dot in the contact list).
- History: older messages load on scrolling up, a page at a time, to the first one.

The other people write through the HTTP API (what their pages would post).
Screenshots: artifacts/chat-recovered.png, artifacts/chat-badges.png,
artifacts/chat-history.png.
"""

from __future__ import annotations

import asyncio

from .browser import (
    DESKTOP,
    WAIT,
    Writer,
    browser,
    chromium,
    needs_chromium,
    open_page,
    say,
    shot,
    sign_in,
    site,
)
from .support import ChatClient

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures


async def test_a_page_recovers_what_it_missed_while_offline(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_page(browser, site.url, errors)
    await sign_in(page, "断线者")
    me = await page.evaluate("window.__chat.me.id")
    await page.click('#discover li[data-room="101"] .join')
    await page.click('#rooms li[data-room="100"]')  # at once: the join may still be on its way
    await expect(page.locator('#rooms li[data-room="101"]')).to_have_count(1)  # joined
    assert await page.evaluate("window.__chat.conv.id") == 100  # the join did not take us away
    writer = Writer(site.url)
    try:
        await writer.register("写信人")
        await writer.call("/api/rooms/101/join")
        await writer.say("断线前", room=100)
        await expect(page.locator("#messages li.msg", has_text="断线前")).to_have_count(
            1, timeout=WAIT
        )
        connects = await page.evaluate("window.__chat.link.connects")
        await page.context.set_offline(True)  # the page drops its socket; retries fail
        await expect(page.locator("#conn")).not_to_have_attribute("data-state", "online")
        missed = [await writer.say(f"断线中{n}", room=100) for n in range(3)]
        await writer.say("另一个房间", room=101)
        await writer.say("私下说", to=me)
        await page.context.set_offline(False)
        await page.wait_for_function(
            f"() => window.__chat.link.connects > {connects}", timeout=WAIT
        )
        await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
        shown = page.locator("#messages li.msg .bubble")
        await expect(shown).to_have_text(["断线前", "断线中0", "断线中1", "断线中2"], timeout=WAIT)
        ids = await page.locator("#messages li.msg").evaluate_all(
            "(items) => items.map((li) => Number(li.dataset.msgId))"
        )
        assert ids[1:] == [m["msg_id"] for m in missed]
        await expect(page.locator('#rooms li[data-room="101"] .badge')).to_have_text("1")
        await expect(page.locator("#contacts-badge")).to_have_text("1")
        assert await page.evaluate("window.__chat.recovered") == 5  # none came live
        await shot(page, "chat-recovered.png")
        await page.click('#rooms li[data-room="101"]')
        await expect(page.locator("#messages li.msg", has_text="另一个房间")).to_have_count(1)
    finally:
        await writer.close()
    assert errors == []


async def test_every_room_is_heard_until_left(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_page(browser, site.url, errors)
    await sign_in(page, "多房间")
    await page.click('#discover li[data-room="102"] .join')
    await expect(page.locator('#rooms li[data-room="102"]')).to_have_count(1)
    await page.click('#rooms li[data-room="100"]')
    writer = Writer(site.url)
    try:
        await writer.register("房间里的人")
        await writer.call("/api/rooms/102/join")
        for n in range(2):
            await writer.say(f"102的消息{n}", room=102)
        badge = page.locator('#rooms li[data-room="102"] .badge')
        await expect(badge).to_have_text("2", timeout=WAIT)
        await expect(page.locator("#rooms-badge")).to_have_text("2")
        await expect(page.locator('#rooms li[data-room="102"] .item-sub')).to_have_text(
            "房间里的人: 102的消息1"
        )
        await shot(page, "chat-badges.png")
        await page.click('#rooms li[data-room="102"]')
        await expect(page.locator("#messages li.msg")).to_have_count(2)
        await expect(badge).to_have_count(0)
        await page.click("#leave-room")
        await expect(page.locator('#discover li[data-room="102"]')).to_have_count(1, timeout=WAIT)
        await expect(page.locator("#join-bar")).to_be_visible()
        await page.click('#rooms li[data-room="100"]')
        # written in this order, pushed in this order: 102's would come first
        await writer.say("离开以后的102", room=102)
        await say(page, "我在100")
        await writer.say("100里的回复", room=100)
        await expect(page.locator("#messages li.msg", has_text="100里的回复")).to_have_count(
            1, timeout=WAIT
        )
        logged = await page.evaluate(
            "window.__chat.logs.get('r102').messages.map((m) => m.content)"
        )
        assert logged == ["102的消息0", "102的消息1"]
    finally:
        await writer.close()
    assert errors == []


async def test_a_room_joined_while_connecting_is_heard(site, browser):
    """A token lists the rooms of the moment it is issued, and only the server puts a
    connection in a room's group: a room joined between the token and the welcome is
    missing from the welcome, so the page comes back at once with a fresh token."""
    from playwright.async_api import expect

    errors: list[str] = []
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    grants: list[list[int]] = []

    async def joined_meanwhile(route) -> None:
        response = await route.fetch()  # a token for the rooms of now
        grants.append((await response.json())["data"]["rooms"])
        if len(grants) == 1:  # ... and then another room is joined (in another tab)
            joined = await context.request.post(site.url + "/api/rooms/101/join", data={})
            assert joined.ok, await joined.text()
        await route.fulfill(response=response)

    await page.route("**/api/token", joined_meanwhile)
    await page.goto(site.url)
    await sign_in(page, "连接时加入")
    assert grants[:2] == [[100], [100, 101]]
    await page.click('#rooms li[data-room="100"]')
    writer = Writer(site.url)
    try:
        await writer.register("在101说话")
        await writer.call("/api/rooms/101/join")
        await writer.say("101的新消息", room=101)
        badge = page.locator('#rooms li[data-room="101"] .badge')
        await expect(badge).to_have_text("1", timeout=WAIT)  # live: no reconnection since
        assert await page.evaluate("window.__chat.recovered") == 0
    finally:
        await writer.close()
    assert errors == []


async def test_presence_counts_people_and_tells_only_real_arrivals_and_departures(
    chat, site, browser
):
    from playwright.async_api import expect

    errors: list[str] = []
    watcher = await open_page(browser, site.url, errors)
    await sign_in(watcher, "看门人")
    tab = await open_page(browser, site.url, errors)
    await sign_in(tab, "双开")
    other_tab = await tab.context.new_page()  # same cookies: the same person
    await other_tab.goto(site.url)
    await expect(other_tab.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    user = await tab.evaluate("String(window.__chat.me.id)")
    await expect(watcher.locator(".notice", has_text="双开 进入了房间")).to_have_count(
        1, timeout=WAIT
    )
    await expect(watcher.locator("#chat-sub")).to_have_text("2 人在线", timeout=WAIT)
    await watcher.click("#members-toggle")
    await expect(watcher.locator("#member-list li.on")).to_have_count(2, timeout=WAIT)
    await other_tab.close()  # one of two tabs: nothing to say
    await asyncio.to_thread(chat.worker.wait_log, f"user {user} still here")
    await tab.close()  # the last one: said once, after the grace
    await expect(watcher.locator(".notice", has_text="双开 离开了房间")).to_have_count(
        1, timeout=WAIT
    )
    await expect(watcher.locator("#chat-sub")).to_have_text("1 人在线", timeout=WAIT)
    notices = await watcher.locator("#messages .notice").all_inner_texts()
    assert [n for n in notices if "双开" in n] == ["双开 进入了房间", "双开 离开了房间"]
    assert not [n for n in notices if "看门人" in n]  # never about yourself
    assert errors == []


async def test_a_private_contact_sharing_no_room_is_seen_coming_and_going(chat, site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_page(browser, site.url, errors)
    await sign_in(page, "只有私聊")
    me = await page.evaluate("window.__chat.me.id")
    await page.click('#rooms li[data-room="100"]')
    await page.click("#leave-room")  # in no room now
    await expect(page.locator('#rooms li[data-room="100"]')).to_have_count(0, timeout=WAIT)
    async with Writer(site.url) as friend:
        await friend.register("没有共同房间的朋友")
        await friend.call("/api/rooms/100/leave")
        await friend.say("在吗", to=me)  # the first private message between them
        dot = page.locator(f'#contacts li[data-uid="{friend.user["id"]}"] .dot')
        await expect(dot).to_have_class("dot", timeout=WAIT)  # listed, offline
        token = (await friend.call("/api/token"))["token"]
        socket = await ChatClient.open(chat.ws_with(token))  # the friend's page comes
        await expect(dot).to_have_class("dot on", timeout=WAIT)
        await socket.ws.close()  # and goes: said after the grace period
        await expect(dot).to_have_class("dot", timeout=WAIT)
    assert errors == []


async def test_older_messages_load_on_scrolling_up(site, browser):
    from playwright.async_api import expect

    writer = Writer(site.url)
    try:
        await writer.register("话痨")
        room = await writer.call("/api/rooms", name="历史很长")
        for n in range(1, 121):
            await writer.say(f"第{n}条", room=room["id"])
    finally:
        await writer.close()
    errors: list[str] = []
    page = await open_page(browser, site.url, errors)
    await sign_in(page, "翻历史")
    await page.click(f'#discover li[data-room="{room["id"]}"] .join')
    bubbles = page.locator("#messages li.msg .bubble")
    await expect(bubbles).to_have_count(50, timeout=WAIT)
    await expect(bubbles.last).to_have_text("第120条")
    for count in (100, 120):
        await page.locator("#messages").evaluate("(list) => { list.scrollTop = 0; }")
        await expect(bubbles).to_have_count(count, timeout=WAIT)
    await expect(page.locator("#messages .history-end")).to_have_text("没有更早的消息了")
    texts = await bubbles.all_inner_texts()
    assert texts == [f"第{n}条" for n in range(1, 121)]
    await page.locator("#messages").evaluate("(list) => { list.scrollTop = 0; }")
    await shot(page, "chat-history.png")
    assert errors == []
