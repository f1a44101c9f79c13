"""The issue's attacks, in Chromium against a real cluster and backend.

- A raw WebSocket (the document's ``join``, mode 1) with a logged-in user's id gets
  nothing of theirs; a forged token does not even get a connection.
- A raw ``join`` (mode 2) with room 100's number hears nothing of room 100: it is the
  document's group 100, apart from the room's (``room:100``).
- A raw ``speak`` with another user's id, name and avatar is not shown as them:
  anonymously it reaches no page as a message; with a token of one's own it is
  refused with ``{code: 403}``.
- Password guesses slow the attacker down and never lock the owner out: an attacker
  (another address) is told to wait, longer and longer (429, Retry-After), while
  the owner's usual browser logs in at once and the owner on a new phone waits a few
  seconds, counted down in the card, then logs in.
- A page on another port of 127.0.0.1 (another origin of the same site, so
  SameSite=Lax cookies go along) makes the logged-in user's browser post: the
  issue's text/plain form to /api/send, a urlencoded join, a multipart login as the
  attacker, no-cors fetches to join and to log out. Every one is refused (403) and
  none had any effect, on a desktop and on a phone.

Screenshots: artifacts/chat-attacks.png (the victim's window after the attacks),
artifacts/chat-phone-login-wait.png (the owner's new phone, told to wait),
artifacts/chat-login-recognised.png (the owner's usual browser, in during the attack),
artifacts/chat-cross-site.png and artifacts/chat-phone-cross-site.png (the
victims' windows after the cross-site posts: nothing forged in them).
"""

from __future__ import annotations

import asyncio
import json
import re

from .browser import (
    PHONE,
    WAIT,
    Stranger,
    browser,
    chromium,
    needs_chromium,
    open_page,
    say,
    shot,
    sign_in,
    site,
)
from .test_web_logins import attacker, guess

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures

# An attacker's page runs this: a raw WebSocket speaking the document's protocol.
RAW_SOCKET = """([url, first]) => new Promise((resolve) => {
  window.received = [];
  const ws = new WebSocket(url);
  window.raw = ws;
  ws.onopen = () => { if (first) ws.send(JSON.stringify(first)); else resolve("open"); };
  ws.onerror = () => resolve("refused");
  ws.onmessage = (event) => { window.received.push(JSON.parse(event.data)); resolve("open"); };
})"""
# The worker answers an unknown event after everything it sent this client before:
# the answer is everything the raw socket received until then.
ROUND_TRIP = """(uid) => new Promise((resolve) => {
  const marker = "marker-" + Math.random();
  window.raw.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.data && frame.data.content === marker) resolve(window.received.slice(0, -1));
  });
  window.raw.send(JSON.stringify({event: "ping", mode: 2, group_id: 0, from_user_id: uid,
                                  from_username: "x", content: marker}));
})"""


def frame(event: str, mode: int, group: int, uid: str, name: str, content: str, **extra):
    return {
        "event": event,
        "mode": mode,
        "group_id": group,
        "from_user_id": uid,
        "from_username": name,
        "to_user_id": extra.pop("to", ""),
        "content": content,
        **extra,
    }


async def test_raw_sockets_get_nothing_of_a_user_and_cannot_speak_as_them(chat, site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    victim = await open_page(browser, site.url, errors)
    await sign_in(victim, "受害者", avatar="/static/avatars/5.svg")
    friend = await open_page(browser, site.url, errors)
    await sign_in(friend, "朋友")
    victim_id = await victim.evaluate("String(window.__chat.me.id)")
    ws_url = json.dumps(chat.ws)

    # attack 1: the document's join (mode 1) with the victim's id, from a plain page
    spy = await (await browser.new_context()).new_page()
    await spy.goto(site.url)
    joined = await spy.evaluate(
        RAW_SOCKET, [chat.ws, frame("join", 1, 0, victim_id, "受害者", "x")]
    )
    assert joined == "open"
    assert (await spy.evaluate("window.received"))[0]["msg"] == "success"  # the document's reply
    forged = await spy.evaluate(  # a token signed with another secret: no connection at all
        f"""async () => {{
          const header = btoa(JSON.stringify({{alg: "HS256", typ: "JWT"}})).replace(/=/g, "");
          const claims = {{uid: "{victim_id}", exp: 9999999999}};
          const body = btoa(JSON.stringify(claims)).replace(/=/g, "");
          const ws = new WebSocket({ws_url} + "?token=" + header + "." + body + ".AAAA");
          return await new Promise((resolve) => {{ ws.onopen = () => resolve("open");
                                                   ws.onerror = () => resolve("refused"); }});
        }}"""
    )
    assert forged == "refused"

    # the friend writes privately to the victim: the victim sees it, the spy does not
    await friend.click('.rail-tab[data-tab="contacts"]')
    await friend.click('#contacts li:has-text("受害者")')
    await say(friend, "只给你看的秘密")
    await expect(victim.locator("#contacts-badge")).to_have_text("1", timeout=WAIT)
    received = await spy.evaluate(ROUND_TRIP, "spy")
    assert [f["msg"] for f in received] == ["success"]  # its own join reply, nothing else

    # attack 2: speak in room 100 as the victim, anonymously (the document's frames)
    await spy.evaluate(
        "(f) => window.raw.send(JSON.stringify(f))",
        frame("join", 2, 100, victim_id, "受害者", "x"),
    )
    fake = frame(
        "speak",
        2,
        100,
        victim_id,
        "受害者",
        "我是受害者，把密码发我",
        from_avatar="/static/avatars/5.svg",
    )
    await spy.evaluate("(f) => window.raw.send(JSON.stringify(f))", fake)
    received = await spy.evaluate(ROUND_TRIP, "spy")  # the group's copy came back to the spy:
    assert received[-1]["msg"] == "受害者[群聊说]:我是受害者，把密码发我"
    # ... its group is the document's group 100, not room 100: no page is in it

    # attack 3: a registered attacker, with a token of their own, claims the victim's id
    mallory = await open_page(browser, site.url, errors)
    await sign_in(mallory, "坏人")
    refused = await mallory.evaluate(
        """async (f) => {
          const json = {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"};
          const grant = await (await fetch("/api/token", json)).json();
          const ws = new WebSocket(grant.data.ws_url + "?token=" + grant.data.token);
          return await new Promise((resolve) => {
            ws.onmessage = (event) => {
              const reply = JSON.parse(event.data);
              if (reply.action_type === "welcome") ws.send(JSON.stringify(f));
              else if (reply.code !== undefined) resolve(reply);
            };
          });
        }""",
        {**fake, "content": "带令牌的冒充"},
    )
    assert (refused["code"], refused["data"]["content"]) == (403, "带令牌的冒充")
    assert "不能冒充其他用户" in refused["msg"]

    # a real message after the attacks arrives; the fakes were never shown as the victim
    await friend.click('.rail-tab[data-tab="rooms"]')
    await friend.click('#rooms li[data-room="100"]')
    await say(friend, "攻击之后的真消息")
    for page in (victim, friend):
        await expect(page.locator("#messages li.msg", has_text="攻击之后的真消息")).to_have_count(
            1, timeout=WAIT
        )
        await expect(page.locator("#messages")).not_to_contain_text("把密码发我")
        await expect(page.locator("#messages")).not_to_contain_text("带令牌的冒充")
        assert await page.locator("#messages li.msg .name", has_text="受害者").count() == 0
    # the spy, in the document's group 100 since attack 2, did not hear room 100
    received = await spy.evaluate(ROUND_TRIP, "spy")
    assert [f for f in received if "攻击之后的真消息" in json.dumps(f, ensure_ascii=False)] == []
    await shot(victim, "chat-attacks.png")
    assert errors == []


async def test_guesses_slow_the_attacker_and_never_lock_out_the_owner(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    owner = await open_page(browser, site.url, errors)  # the owner's usual browser
    await sign_in(owner, "有密码的人", password="my-own-password")
    taken = await open_page(browser, site.url, errors)
    await sign_in(taken, "有密码的人", password="whatever-123", online=False)
    await expect(taken.locator("#login-error")).to_have_text("这个昵称已被注册", timeout=WAIT)
    await owner.click("#logout")
    await expect(owner.locator("#login")).to_be_visible()
    guesser = await open_page(browser, site.url, errors)  # a wrong password, in the card
    await sign_in(guesser, "有密码的人", register=False, password="guess-0", online=False)
    await expect(guesser.locator("#login-error")).to_have_text("昵称或密码错误", timeout=WAIT)

    async with attacker("127.0.0.2") as http:  # the attack, from another address
        tries = [await guess(http, site.url, "有密码的人", f"guess-{n}") for n in range(1, 6)]
        assert [status for status, _, _ in tries] == [401] * 4 + [429]
        assert tries[-1][2] == 1  # Retry-After: the account's first wait

        # the owner's usual browser: in at once, the attack notwithstanding
        await sign_in(owner, "有密码的人", register=False, password="my-own-password")

        # the owner on a new phone: told to wait a little, counted down, then in
        phone = await open_page(browser, site.url, errors, viewport=PHONE)
        await phone.fill("#nickname", "有密码的人")
        await phone.fill("#password", "my-own-password")
        for _ in range(2):  # the attacker keeps guessing as soon as it may: 2 s, then 4 s
            await asyncio.sleep(tries[-1][2] or 0)  # the wait the backend told it
            assert (await guess(http, site.url, "有密码的人", "again"))[0] == 401
            tries.append(await guess(http, site.url, "有密码的人", "again"))
        assert [t[2] for t in tries[-2:]] == [2, 4]  # growing
        await phone.click("#login-button")
        error = phone.locator("#login-error")
        told = re.compile(r"^尝试次数过多，请[1-4]秒后再试$")  # not 5 minutes: seconds
        await expect(error).to_have_text(told, timeout=WAIT)
        await expect(phone.locator("#login-button")).to_be_disabled()
        await shot(phone, "chat-phone-login-wait.png")
        await expect(phone.locator("#login-button")).to_be_enabled(timeout=WAIT)
        await expect(error).to_have_text("可以再试一次了")
        await phone.click("#login-button")
        await expect(phone.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
        # ... and the attacker gained nothing by it: its next turn's guess (its wait has
        # run out meanwhile, or not yet) is followed by a longer wait still
        after = [await guess(http, site.url, "有密码的人", "again")]
        if after[0][0] == 401:
            after.append(await guess(http, site.url, "有密码的人", "again"))
            assert after[-1][2] == 8
        assert after[-1][0] == 429
    await shot(owner, "chat-login-recognised.png")
    assert errors == []


# The attacker's pages, served from another port: each makes the visitor's browser post
# to the chat (SITE is replaced by the chat's address).
FORGED = '{"action_type": "send_msg", "group_id": 100, "msgtype": 0, "content": "跨站伪造"}'
ATTACKS = {
    # the attack: a text/plain form whose one field makes the body JSON
    "/send.html": f"""<form method="post" action="SITE/api/send" enctype="text/plain">
      <input type="hidden" name='{FORGED[:-1]}, "x": "' value='"}}'></form>
      <script>document.forms[0].submit()</script>""",
    "/join.html": """<form method="post" action="SITE/api/rooms/101/join">
      <input type="hidden" name="x" value="1"></form><script>document.forms[0].submit()</script>""",
    "/login.html": """<form method="post" action="SITE/api/login" enctype="multipart/form-data">
      <input type="hidden" name="nickname" value="跨站攻击者">
      <input type="hidden" name="password" value="attacker-password"></form>
      <script>document.forms[0].submit()</script>""",
    "/fetch.html": """<script>
      for (const path of ["/api/rooms/102/join", "/api/logout"])
        fetch("SITE" + path, {method: "POST", mode: "no-cors", credentials: "include",
                              body: "{}"});
    </script>""",
}


async def answers(tab, url: str, chat_url: str, count: int) -> list[tuple[str, int]]:
    """Open ``url`` in ``tab``; the (method, status) of the first ``count`` responses
    from the chat that follow (the requests the page made the browser send)."""
    seen: list[tuple[str, int]] = []
    answered = asyncio.Event()

    def chat_response(response) -> None:
        if response.url.startswith(chat_url):
            seen.append((response.request.method, response.status))
            if len(seen) == count:
                answered.set()

    tab.on("response", chat_response)
    try:
        await tab.goto(url)
        await asyncio.wait_for(answered.wait(), WAIT / 1000)
    finally:
        tab.remove_listener("response", chat_response)
    return seen


async def test_a_page_on_another_port_cannot_post_as_the_user(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    victims = [
        await open_page(browser, site.url, errors),
        await open_page(browser, site.url, errors, viewport=PHONE),
    ]
    await sign_in(victims[0], "跨站受害者")
    await sign_in(victims[1], "手机受害者")
    await victims[1].click('#rooms li[data-room="100"]')
    attacker = await open_page(browser, site.url, errors)
    await sign_in(attacker, "跨站攻击者", password="attacker-password")
    async with Stranger() as evil:
        evil.pages.update({path: page.replace("SITE", site.url) for path, page in ATTACKS.items()})
        for victim in victims:
            tab = await victim.context.new_page()  # the victim's browser, another site
            for path in ATTACKS:
                expected = 2 if path == "/fetch.html" else 1
                seen = await answers(tab, evil.url + path, site.url, expected)
                assert seen == [("POST", 403)] * expected, path
                if path != "/fetch.html":  # a form: the tab shows the chat's answer
                    await tab.wait_for_url(site.url + "/**", timeout=WAIT)
                    shown = json.loads(await tab.locator("body").inner_text())
                    assert shown == {"code": 403, "msg": "拒绝跨站请求", "data": None}
            await tab.close()

    # nothing happened: still logged in as themselves, in no new room, nothing forged
    for victim, name in zip(victims, ("跨站受害者", "手机受害者"), strict=True):
        me = await victim.evaluate("async () => (await (await fetch('/api/me')).json()).data")
        assert me["nickname"] == name
        rooms = await victim.evaluate("async () => (await (await fetch('/api/rooms')).json()).data")
        assert [r["id"] for r in rooms if r["joined"]] == [100]
    await say(
        victims[0], "跨站之后的真消息"
    )  # pushes leave in id order: a forged one would be first
    for victim, name in zip(
        victims, ("chat-cross-site.png", "chat-phone-cross-site.png"), strict=True
    ):
        real = victim.locator("#messages li.msg", has_text="跨站之后的真消息")
        await expect(real).to_have_count(1, timeout=WAIT)
        await expect(victim.locator("#messages")).not_to_contain_text("跨站伪造")
        await shot(victim, name)
    history = await attacker.evaluate(
        "async () => (await (await fetch('/api/rooms/100/messages')).json()).data"
    )
    assert "跨站伪造" not in [m["content"] for m in history]
    assert errors == []
