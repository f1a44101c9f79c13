"""The page on a phone (390x844, Chromium) against a real cluster and backend.

One screen at a time: the room list with tabs at the bottom, a conversation with a
back button, contacts and private chats, "我" with the logout; the members panel is
a sheet over the conversation, never a column squeezing the messages.
Screenshots: artifacts/chat-phone-rooms.png, chat-phone-chat.png,
chat-phone-members.png, chat-phone-private.png.
"""

from __future__ import annotations

from .browser import (
    PHONE,
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

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures


async def box(page, selector: str) -> dict:
    found = await page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


async def test_phone_navigation(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    async with Writer(site.url) as friend:
        await friend.register("桌面朋友")
        friend_id = friend.user["id"]
        page = await open_page(browser, site.url, errors, viewport=PHONE)
        await sign_in(page, "手机用户")
        me = await page.evaluate("window.__chat.me.id")

        # the list screen: rooms, the tab bar at the bottom, no conversation
        await expect(page.locator("#app")).to_have_attribute("data-view", "list")
        await expect(page.locator(".chat")).to_be_hidden()
        rooms, tabs = await box(page, "#rooms"), await box(page, ".rail")
        assert rooms["width"] == PHONE["width"] and tabs["width"] == PHONE["width"]
        assert tabs["y"] + tabs["height"] == PHONE["height"]  # pinned to the bottom
        await friend.say("欢迎用手机的朋友", room=100)
        await expect(page.locator('#rooms li[data-room="100"] .badge')).to_have_text(
            "1", timeout=WAIT
        )
        await shot(page, "chat-phone-rooms.png")

        # a conversation: full screen, a back button, the list and tabs gone
        await page.click('#rooms li[data-room="100"]')
        await expect(page.locator("#app")).to_have_attribute("data-view", "chat")
        await expect(page.locator(".list")).to_be_hidden()
        await expect(page.locator(".rail")).to_be_hidden()
        await expect(page.locator("#back")).to_be_visible()
        await say(page, "手机上发的一条比较长的消息，看看会不会一个字一行")
        bubble = await box(page, "#messages li.msg.mine .bubble")
        assert bubble["width"] > 150 and bubble["height"] < 80  # a line or two, not a column
        await shot(page, "chat-phone-chat.png")

        # members: a sheet over the conversation, the messages keep their width
        width = (await box(page, "#messages"))["width"]
        await page.click("#members-toggle")
        await expect(page.locator("#member-list li", has_text="桌面朋友")).to_have_count(
            1, timeout=WAIT
        )
        sheet = await box(page, "#members")
        assert sheet["width"] == PHONE["width"]
        assert (await box(page, "#messages"))["width"] == width == PHONE["width"]
        await shot(page, "chat-phone-members.png")
        await page.click("#members-close")
        await expect(page.locator("#members")).to_be_hidden()

        # back to the list, then contacts and a private chat; the badge of a reply
        await page.click("#back")
        await expect(page.locator("#app")).to_have_attribute("data-view", "list")
        await page.click('.rail-tab[data-tab="contacts"]')
        await expect(page.locator("#list-title")).to_have_text("私聊")
        await page.click(f'#contacts li[data-uid="{friend_id}"]')
        await expect(page.locator("#chat-title")).to_have_text("桌面朋友")
        await say(page, "私聊你一下")
        await page.click("#back")
        await friend.say("收到手机的私聊", to=me)
        await expect(page.locator("#contacts-badge")).to_have_text("1", timeout=WAIT)
        await expect(page.locator(f'#contacts li[data-uid="{friend_id}"] .item-sub')).to_have_text(
            "收到手机的私聊"
        )
        await page.click(f'#contacts li[data-uid="{friend_id}"]')
        await expect(page.locator("#messages li.msg .bubble")).to_have_text(
            ["私聊你一下", "收到手机的私聊"]
        )
        await shot(page, "chat-phone-private.png")

        # "我": who I am and the logout
        await page.click("#back")
        await page.click('.rail-tab[data-tab="me"]')
        await expect(page.locator("#me-name")).to_have_text("手机用户")
        await page.click("#logout-me")
        await expect(page.locator("#login")).to_be_visible()
        card = await box(page, ".login-card")
        assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]
    assert errors == []
