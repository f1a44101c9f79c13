"""The issue's attacks, in Chromium against a real cluster and backend.

- A raw WebSocket (the document's ``join``, mode 1) with a logged-in user's id gets
  nothing of theirs; a forged token does not even get a connection.
- A raw ``join`` (mode 2) with room 100's number hears nothing of room 100: it is the
  document's group 100, apart from the room's (``room:100``).
- A raw ``speak`` with another user's id, name and avatar is not shown as them:
  anonymously it reaches no page as a message; with a token of one's own it is
  refused with ``{code: 403}``.
- A wrong password is refused, repeated failures are throttled, the right one works.

Screenshot: artifacts/chat-attacks.png (the victim's window after the attacks).
"""

from __future__ import annotations

import json

from .browser import WAIT, browser, chromium, needs_chromium, open_page, say, shot, sign_in, site

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
    return {"event": event, "mode": mode, "group_id": group, "from_user_id": uid,
            "from_username": name, "to_user_id": extra.pop("to", ""), "content": content,
            **extra}  # fmt: skip


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
    fake = frame("speak", 2, 100, victim_id, "受害者", "我是受害者，把密码发我",
                 from_avatar="/static/avatars/5.svg")  # fmt: skip
    await spy.evaluate("(f) => window.raw.send(JSON.stringify(f))", fake)
    received = await spy.evaluate(ROUND_TRIP, "spy")  # the group's copy came back to the spy:
    assert received[-1]["msg"] == "受害者[群聊说]:我是受害者，把密码发我"
    # ... its group is the document's group 100, not room 100: no page is in it

    # attack 3: a registered attacker, with a token of their own, claims the victim's id
    mallory = await open_page(browser, site.url, errors)
    await sign_in(mallory, "坏人")
    refused = await mallory.evaluate(
        """async (f) => {
          const grant = await (await fetch("/api/token", {method: "POST"})).json();
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


async def test_a_wrong_password_is_refused_and_repeated_failures_wait(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    owner = await open_page(browser, site.url, errors)
    await sign_in(owner, "有密码的人", password="my-own-password")
    guesser = await open_page(browser, site.url, errors)
    for attempt in range(5):
        await sign_in(guesser, "有密码的人", register=False, password=f"guess-{attempt}",
                      online=False)  # fmt: skip
        await expect(guesser.locator("#login-error")).to_have_text("昵称或密码错误", timeout=WAIT)
        await expect(guesser.locator("#app")).to_be_hidden()
    taken = await open_page(browser, site.url, errors)
    await sign_in(taken, "有密码的人", password="whatever-123", online=False)
    await expect(taken.locator("#login-error")).to_have_text("这个昵称已被注册", timeout=WAIT)
    # throttled now, even with the right password
    await sign_in(guesser, "有密码的人", register=False, password="my-own-password", online=False)
    await expect(guesser.locator("#login-error")).to_contain_text("尝试次数过多", timeout=WAIT)
    await expect(guesser.locator("#app")).to_be_hidden()
    # the owner, from their own session, is not affected
    await owner.reload()
    await expect(owner.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    assert errors == []
