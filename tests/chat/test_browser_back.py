"""The browser's back button inside the chat (issue 18, item 7), in Chromium, desktop
and 390x844: a room, a private chat and the members sheet are history entries, and
back returns to the lists, never to the site the user came from, until the lists are
left with one more back, as any page is.

The user arrives from another site (a page on another port), so a back that left the
chat would land there and the test would see it.
Screenshots: artifacts/chat-back.png, artifacts/chat-phone-back.png (the lists after
going back from the members sheet and the room).
"""

from __future__ import annotations

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


async def back(page) -> None:
    await page.go_back(wait_until="commit", timeout=WAIT)


async def shows_lists(page, site_url: str) -> None:
    """The lists screen of the chat (a conversation closed, the URL without a hash)."""
    from playwright.async_api import expect

    await expect(page.locator("#app")).to_have_attribute("data-view", "list", timeout=WAIT)
    await expect(page.locator("#chat-title")).to_have_text("选择一个房间开始聊天")
    assert page.url == site_url + "/"


async def shows(page, site_url: str, hash_: str, title: str) -> None:
    """A conversation screen at ``hash_``."""
    from playwright.async_api import expect

    await expect(page.locator("#app")).to_have_attribute("data-view", "chat", timeout=WAIT)
    await expect(page.locator("#chat-title")).to_have_text(title, timeout=WAIT)
    assert page.url == f"{site_url}/{hash_}"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_back_returns_to_the_lists_not_to_the_previous_site(site, browser, viewport):
    from playwright.async_api import expect

    phone = viewport is PHONE
    errors: list[str] = []
    name = "回退手机" if phone else "回退桌面"
    async with Writer(site.url) as friend, Stranger() as previous:
        await friend.register(f"{name}的朋友")
        friend_id = friend.user["id"]
        previous.pages["/before"] = "<!doctype html><title>before</title><p>another site</p>"
        context = await browser.new_context(viewport=viewport, locale="zh-CN")
        page = await context.new_page()
        watch(page, site.url, errors)
        await page.goto(previous.url + "/before")
        await page.goto(site.url)
        await sign_in(page, name)

        # a room, then its members sheet: two steps, each undone by back
        if phone:
            await expect(page.locator("#app")).to_have_attribute("data-view", "list")
        await page.click('#rooms li[data-room="100"]')
        await shows(page, site.url, "#room/100", "开源技术小栈")
        await page.click("#members-toggle")
        await expect(page.locator("#members")).to_be_visible()
        assert page.url == site.url + "/#room/100/members"
        await back(page)
        await expect(page.locator("#members")).to_be_hidden()
        await shows(page, site.url, "#room/100", "开源技术小栈")
        await back(page)
        await shows_lists(page, site.url)
        await shot(page, "chat-phone-back.png" if phone else "chat-back.png")

        # a private chat: back is the lists; the page's own back button is the same step
        await page.click('.rail-tab[data-tab="contacts"]')
        await page.click(f'#contacts li[data-uid="{friend_id}"]')
        await shows(page, site.url, f"#user/{friend_id}", f"{name}的朋友")
        await say(page, "回退之前说一句")
        await back(page)
        await shows_lists(page, site.url)
        await page.go_forward(wait_until="commit", timeout=WAIT)
        await shows(page, site.url, f"#user/{friend_id}", f"{name}的朋友")
        if phone:
            await page.click("#back")
        else:  # no back button on a desktop: it goes back by the browser's
            await expect(page.locator("#back")).to_be_hidden()
            await back(page)
        await shows_lists(page, site.url)

        # one conversation to another replaces it: back does not go through every chat
        await page.click('.rail-tab[data-tab="rooms"]')
        await page.click('#rooms li[data-room="100"]')
        await shows(page, site.url, "#room/100", "开源技术小栈")
        if phone:  # the lists are hidden: the members sheet leads to the private chat
            await page.click("#members-toggle")
            await page.click(f'#member-list li[data-uid="{friend_id}"]')
        else:  # the lists are beside the room
            await page.click('.rail-tab[data-tab="contacts"]')
            await page.click(f'#contacts li[data-uid="{friend_id}"]')
        await shows(page, site.url, f"#user/{friend_id}", f"{name}的朋友")

        # a reload keeps the conversation, and its history entries
        await page.reload()
        await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
        await shows(page, site.url, f"#user/{friend_id}", f"{name}的朋友")
        await expect(page.locator("#messages li.msg.mine .bubble")).to_have_text("回退之前说一句")
        await back(page)
        if phone:  # the chat replaced the sheet: back is the room it was opened over
            await shows(page, site.url, "#room/100", "开源技术小栈")
            await expect(page.locator("#members")).to_be_hidden()
            await back(page)
        await shows_lists(page, site.url)

        # from the lists, back leaves the chat as from any page
        await back(page)
        await expect(page.locator("p")).to_have_text("another site", timeout=WAIT)
        assert page.url == previous.url + "/before"
    assert errors == []
