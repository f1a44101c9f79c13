"""Identities from the server, over real WebSockets: tokens, attested frames, the guest
namespace, presence by person. Real gw processes (register, gateway verifying tokens
with anonymous clients allowed, one worker), real frames."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import InvalidStatus

from business import AsyncGatewayClient
from examples.chat.worker import identity
from tests.harness import UNIT

from .support import GRACE, ChatClient, join_frame, speak_frame, token


async def authed(chat, uid: int, name: str, rooms=(), avatar="/static/avatars/1.svg"):
    """An authenticated connection, and its welcome frame."""
    client = await ChatClient.open(chat.ws_with(token(uid, name, avatar, rooms)))
    welcome = await client.recv()
    assert welcome["action_type"] == "welcome", welcome
    return client, welcome


async def test_a_forged_or_expired_token_is_refused_before_the_upgrade(chat):
    for bad in (token(7001, secret="x" * 40), token(7001, ttl=-60), "not-a-token"):
        with pytest.raises(InvalidStatus) as refused:
            await ChatClient.open(chat.ws_with(bad))
        assert refused.value.response.status_code == 401
    async with AsyncGatewayClient(chat.register_address) as gw:
        assert await gw.get_client_id_by_uid("7001") == []


async def test_a_token_binds_its_uid_and_joins_its_rooms(chat):
    client, welcome = await authed(chat, 7002, "甲", rooms=[9101, 9102])
    assert welcome == {
        "action_type": "welcome",
        "uid": "7002",
        "username": "甲",
        "photo": "/static/avatars/1.svg",
        "group_ids": [9101, 9102],
        "client_id": welcome["client_id"],
    }
    async with AsyncGatewayClient(chat.register_address) as gw:
        assert await gw.get_client_id_by_uid("7002") == [welcome["client_id"]]
        assert await gw.get_uid_list_by_group("room:9102") == ["7002"]  # the rooms' groups
        assert await gw.get_uid_list_by_group(9102) == []  # not the document's group 9102
        session = await gw.get_session(welcome["client_id"])
        assert (session["from_user_id"], session["from_username"]) == ("7002", "甲")
        gw.send_to_uid("7002", {"action_type": "new_msg", "content": "to 7002"})
        assert (await client.next())["content"] == "to 7002"
    await client.close()


async def test_an_authenticated_client_cannot_claim_another_user(chat):
    listener, _ = await authed(chat, 7004, "丙", rooms=[9103])
    client, _ = await authed(chat, 7003, "乙", rooms=[9103])
    came = await listener.next("presence")  # 乙's first connection: "online"
    assert (came["uid"], came["state"]) == ("7003", "online")
    claims = [
        join_frame(("7004", "丙"), 1, 0),
        speak_frame(("7004", "丙"), 2, 9103, "", "冒充"),
        speak_frame(("7004", "丙"), 1, 0, "7004", "冒充私聊"),
    ]
    for frame in claims:
        await client.send(frame)
        assert await client.next() == {
            "code": 403,
            "msg": identity.FORBIDDEN_IDENTITY,
            "data": frame,
        }
    assert await listener.quiet("7004") == []  # nothing reached the victim
    own = join_frame(("7003", "乙"), 1, 0)
    await client.send(own)  # connection kept; its own id is fine
    reply = await client.next()
    assert reply["code"] == 0 and reply["data"]["from_user_id"] == "7003"
    await client.close()
    await listener.close()


async def test_an_authenticated_speak_carries_the_attested_name(chat):
    speaker, _ = await authed(chat, 7005, "真名", rooms=[9104])
    listener, _ = await authed(chat, 7006, "听众", rooms=[9104])
    for client, uid in ((speaker, "7005"), (listener, "7006")):  # the document's group 9104
        await client.send(join_frame((uid, "x"), 2, 9104))
        assert (await client.next())["msg"] == "success"
    claimed = "/static/avatars/8.svg"  # one of ours, but not the user's
    frame = {**speak_frame(("7005", "假名"), 2, 9104, "", "你好"), "from_avatar": claimed}
    await speaker.send(frame)
    expected = {
        "code": 0,
        "msg": "真名[群聊说]:你好",
        "data": {**frame, "from_username": "真名", "from_avatar": "/static/avatars/1.svg"},
    }
    assert await listener.next() == expected  # (after any "online" of the other)
    assert await speaker.next() == expected
    await speaker.close()
    await listener.close()


async def test_anonymous_clients_never_reach_a_registered_user(chat):
    """The attack of the issue: a raw join (mode 1) with the victim's id, then private
    messages to the victim; and a raw private speak to the victim's id."""
    victim, _ = await authed(chat, 7007, "受害者", rooms=[9105])
    spy = await ChatClient.open(chat.ws)
    await spy.join(("7007", "受害者"), 1, 0)  # the document's reply, as before
    async with AsyncGatewayClient(chat.register_address) as gw:
        assert await gw.get_client_id_by_uid("guest:7007") != []
        gw.send_to_uid("7007", {"action_type": "new_msg", "content": "私密"})  # as the backend
    assert (await victim.next())["content"] == "私密"
    assert await spy.ping_pong() == []
    # a raw private speak to the victim's id goes to the guest of that id: the spy
    await spy.send(speak_frame(("1", "伪装"), 1, 0, "7007", "钓鱼"))
    assert (await spy.recv())["msg"] == "伪装[单聊对]7007[说]:钓鱼"
    assert await victim.quiet("7007") == []
    await spy.close()
    await victim.close()


async def test_rooms_are_apart_from_the_documents_groups(chat):
    """A token's rooms are joined as ``room:<id>`` groups, which only the worker and the
    backend name; the document's raw join (mode 2) of the same number is another group:
    it hears neither the room's pushes nor its presence."""
    member, _ = await authed(chat, 7014, "成员", rooms=[9110])
    raw = await ChatClient.open(chat.ws)
    await raw.join(("7014", "成员"), 2, 9110)
    async with AsyncGatewayClient(chat.register_address) as gw:
        assert await gw.get_uid_list_by_group("room:9110") == ["7014"]
        assert await gw.get_client_id_count_by_group(9110) == 1  # the raw client alone
        gw.send_to_group(
            "room:9110", {"action_type": "new_msg", "content": "房间"}
        )  # as the backend
    assert (await member.next())["content"] == "房间"
    other, _ = await authed(chat, 7015, "又一个", rooms=[9110])
    assert (await member.next("presence"))["uid"] == "7015"  # the room hears arrivals...
    assert await raw.ping_pong() == []  # ...the raw group neither that nor the push
    for client in (member, other, raw):
        await client.close()


async def test_presence_is_by_person_with_a_grace_for_reloads(chat):
    observer, _ = await authed(chat, 7010, "观察者", rooms=[9106])
    first, _ = await authed(chat, 7011, "来客", rooms=[9106, 9107])
    online = await observer.next("presence")
    assert online == {
        "action_type": "presence",
        "state": "online",
        "uid": "7011",
        "username": "来客",
        "photo": "/static/avatars/1.svg",
        "group_ids": [9106, 9107],
    }
    second, welcome = await authed(chat, 7011, "来客", rooms=[9106, 9107])  # another tab
    await first.close()  # one tab of two closes: silent
    # a "reload": the last tab closes and a new one comes within the grace: silent
    await second.close()
    third, _ = await authed(chat, 7011, "来客", rooms=[9106, 9107])
    # the worker has looked again after the grace (an offline would have been sent then)
    still_here = f"client {welcome['client_id']} closed: user 7011 still here"
    await asyncio.to_thread(chat.worker.wait_log, still_here)
    # no "offline"; the new tab may say "online" again (the worker cannot know the
    # person was here a moment ago): pages announce only changes of who is online
    assert [f["state"] for f in await observer.ping_pong("7010")] in ([], ["online"])
    await third.close()
    offline = await observer.next("presence", timeout=GRACE + 5 * UNIT)
    assert (offline["state"], offline["uid"], offline["group_ids"]) == (
        "offline",
        "7011",
        [9106, 9107],
    )
    await observer.close()


async def test_rooms_joined_later_are_where_the_offline_notice_goes(chat):
    observer, _ = await authed(chat, 7012, "观察", rooms=[9108])
    mover, welcome = await authed(chat, 7013, "搬家", rooms=[9109])
    async with AsyncGatewayClient(chat.register_address) as gw:  # as POST /api/rooms/9108/join
        gw.join_group(welcome["client_id"], "room:9108")
        gw.update_session(welcome["client_id"], {"rooms": [9108, 9109]})
        session = await gw.get_session(welcome["client_id"])
    assert session["rooms"] == [9108, 9109]
    await mover.close()
    offline = await observer.next("presence", timeout=GRACE + 5 * UNIT)
    assert (offline["state"], offline["group_ids"]) == ("offline", [9108, 9109])
    await observer.close()


async def test_the_bearer_token_is_neither_logged_nor_stored(chat):
    """The gateway hands on_websocket_connect the upgrade's query string (``query``,
    ``server.QUERY_STRING``, ``server.REQUEST_URI``): the token is in it. The worker
    keeps only what it derives (ip, browser, the verified identity), and logs none of
    it; neither does the gateway (at debug level here)."""
    signed = token(7016, "持票人", rooms=[9111])
    signature = signed.rsplit(".", 1)[1]
    client = await ChatClient.open(chat.ws_with(signed))
    welcome = await client.recv()
    await client.send(join_frame(("7016", "持票人"), 2, 9111))
    assert (await client.next())["msg"] == "success"
    await client.send(speak_frame(("7016", "持票人"), 1, 0, "", "没有收件人"))
    assert (await client.next())["code"] == 400
    async with AsyncGatewayClient(chat.register_address) as gw:
        session = await gw.get_session(welcome["client_id"])
    assert session["from_user_id"] == "7016" and signature not in json.dumps(session)
    await client.close()
    # the worker has handled the close once it looked for the person after the grace
    closed = f"client {welcome['client_id']} closed: user 7016 offline"
    await asyncio.to_thread(chat.worker.wait_log, closed, GRACE + 10 * UNIT)
    for process in (chat.worker, chat.gateway, chat.register):
        assert signature not in process.logs(), process.name


def test_a_presence_grace_that_is_not_seconds_is_said_and_the_default_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from examples.chat.worker import app

    monkeypatch.setenv("CHAT_PRESENCE_GRACE", "2.5")
    assert app.grace() == 2.5
    for bad in ("abc", "-1", "nan", "1e9"):
        monkeypatch.setenv("CHAT_PRESENCE_GRACE", bad)
        assert app.grace() == app.GRACE
    assert "CHAT_PRESENCE_GRACE='abc' is not 0-3600 seconds: 5 used" in caplog.text
