"""Presence of private contacts who share no room (against a real backend and cluster):
a person's coming and going is told to whoever has a private conversation with them
(their ``watch:<uid>`` group), whether the conversation is older than the connection
(the token's ``contacts``, which the worker joins) or begun while both are connected
(the backend moves their connections, twice); never to someone who has not talked
with them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from business import AsyncGatewayClient
from examples.chat.groups import watch_group
from examples.chat.web import conversations, tokens
from tests.harness import UNIT

from .support import AUTH_SECRET, ChatClient
from .test_web import Browser, browsers, web

__all__ = ["browsers", "web"]  # fixtures


async def _alone(browser: Browser, nickname: str) -> dict[str, Any]:
    """A new user in no room at all (new users are put in room 100)."""
    user = await browser.register(nickname)
    await browser.call("POST", "/api/rooms/100/leave")
    assert (await browser.call("POST", "/api/token"))["data"]["rooms"] == []
    return user


async def _presence_of(ws: ChatClient, me: dict[str, Any], uid: str) -> list[str]:
    """The presence states of ``uid`` among what ``me``'s ``ws`` received until now."""
    frames = await ws.ping_pong(str(me["id"]))
    return [f["state"] for f in frames if f.get("action_type") == "presence" and f["uid"] == uid]


async def test_the_tokens_name_the_people_of_ones_private_conversations(browsers):
    alice, bob, carol = browsers
    a = await _alone(alice, "没有共同房间甲")
    b = await _alone(bob, "没有共同房间乙")
    await carol.register("没聊过的丙")
    await alice.send(
        action_type="send_msg", group_id=0, to_user_id=b["id"], content="在吗", msgtype=0
    )
    for browser, other in ((alice, b), (bob, a), (carol, None)):
        grant = (await browser.call("POST", "/api/token"))["data"]
        contacts = tokens.verify(AUTH_SECRET, grant["token"])["contacts"]
        assert contacts == ([other["id"]] if other else [])


async def test_a_connection_hears_its_tokens_contacts_come_and_go_and_no_one_else(chat, browsers):
    """The worker's part alone: a token naming a contact (signed as the backend signs
    them) of two people who never talked, so that no join of the backend's is involved."""
    alice, bob, carol = browsers
    a = await _alone(alice, "只看令牌的甲")
    b = await _alone(bob, "令牌里的乙")
    c = await carol.register("令牌外的丙")  # in room 100, which b left: nothing in common
    claims = tokens.claims(a["id"], a["nickname"], a["avatar"], [], time.time(), contacts=[b["id"]])
    a_ws = await ChatClient.open(chat.ws_with(tokens.issue(AUTH_SECRET, claims)))
    assert (await a_ws.recv())["action_type"] == "welcome"
    c_ws, _ = await carol.socket(chat)

    b_ws, _ = await bob.socket(chat)
    came = await a_ws.next("presence")
    assert (came["state"], came["uid"], came["group_ids"]) == ("online", str(b["id"]), [])
    await b_ws.close()
    went = await a_ws.next("presence")  # after the grace period
    assert (went["state"], went["uid"]) == ("offline", str(b["id"]))
    assert await _presence_of(c_ws, c, str(b["id"])) == []  # not her contact
    await a_ws.close()
    await c_ws.close()


async def test_a_conversation_begun_while_connected_is_told_at_once(chat, browsers):
    dave, erin, _ = browsers
    d = await _alone(dave, "刚认识的丁")
    e = await _alone(erin, "刚认识的戊")
    d_ws, _ = await dave.socket(chat)
    e_ws, _ = await erin.socket(chat)
    sent = await dave.send(
        action_type="send_msg", group_id=0, to_user_id=e["id"], content="你好", msgtype=0
    )
    assert await d_ws.next() == sent["data"] and await e_ws.next() == sent["data"]

    await e_ws.close()  # her only connection: dave is told, though his token had no contacts
    went = await d_ws.next("presence")
    assert (went["state"], went["uid"]) == ("offline", str(e["id"]))
    e_ws, _ = await erin.socket(chat)
    came = await d_ws.next("presence")
    assert (came["state"], came["uid"]) == ("online", str(e["id"]))
    await d_ws.close()  # and the other way round
    went = await e_ws.next("presence")
    assert (went["state"], went["uid"]) == ("offline", str(d["id"]))
    await e_ws.close()


async def test_a_connection_opening_as_the_conversation_begins_is_told_too(chat, browsers):
    """Its token was issued before the first message, and it registered after the
    backend's first joins: the second joins, a few seconds later, take it in."""
    frank, grace, _ = browsers
    f = await _alone(frank, "先发消息的己")
    g = await _alone(grace, "早就在线的庚")
    g_ws, g_welcome = await grace.socket(chat)
    early = (await frank.call("POST", "/api/token"))["data"]["token"]  # no contacts yet
    sent = await frank.send(
        action_type="send_msg", group_id=0, to_user_id=g["id"], content="嗨", msgtype=0
    )
    assert await g_ws.next() == sent["data"]
    async with AsyncGatewayClient(chat.register_address) as cluster:

        async def until_in(client_id: str, group: str) -> None:
            deadline = time.monotonic() + conversations.WATCH_AGAIN + 10 * UNIT
            while client_id not in await cluster.get_client_id_list_by_group(group):
                assert time.monotonic() < deadline, f"{client_id} never joined {group}"
                await asyncio.sleep(0.1)

        await until_in(g_welcome["client_id"], watch_group(f["id"]))  # the first joins' last
        f_ws = await ChatClient.open(chat.ws_with(early))
        f_cid = (await f_ws.recv())["client_id"]  # the welcome
        await until_in(f_cid, watch_group(g["id"]))  # the second joins
    await g_ws.close()
    went = await f_ws.next("presence")
    assert (went["state"], went["uid"]) == ("offline", str(g["id"]))
    await f_ws.close()
