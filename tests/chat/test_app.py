"""The chat worker over real WebSockets: every rule of design document 001, exact frames."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from business import AsyncGatewayClient
from examples.chat.worker import requests

from .support import AKESU, GROUP, LAMU, WUCHEN, ChatClient, join_frame, speak_frame

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.71 Safari/537.36"
)
VALID = {
    "event": "speak",
    "mode": 2,
    "group_id": 901,
    "from_user_id": "1",
    "from_username": "u1",
    "to_user_id": "",
    "content": "hi",
}


def refused(msg: str) -> dict[str, Any]:
    return {"code": 400, "msg": msg, "data": []}


async def assert_refused(chat, frame: str | bytes | dict[str, Any], msg: str) -> None:
    client = await ChatClient.open(chat.ws)
    await client.send(frame)
    code, frames = await client.closed()
    assert frames == [refused(msg)]
    assert code == 1000


# -- refusals: reply 400, then a close frame with code 1000 -----------------------------------
@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "",
        "{'a': 1}",
        '{"mode": NaN}',
        b"\xff\xfe{}",
        "[" * 4000,  # nested deeper than a decoder goes (PHP's json_decode: 512)
        '{"content": "a\\ud800"}',  # a lone surrogate: no text, no UTF-8
        json.dumps(VALID)[:-1] + ', "x": 1e999}',
    ],  # infinite: echoed, it would not be JSON
)
async def test_invalid_json_is_refused_and_closed(chat, frame):
    await assert_refused(chat, frame, "无效的json数据")


@pytest.mark.parametrize("frame", ["[1, 2]", '"join"', "100", "null", "true"])
async def test_json_that_is_not_an_object_is_refused_and_closed(chat, frame):
    await assert_refused(chat, frame, "请求数据结构无法被解析")


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        ({"mode": None}, "消息模式是必须的"),
        ({"mode": ""}, "消息模式是必须的"),
        ({"mode": 3}, "消息模式只能是1或2"),
        ({"mode": "private"}, "消息模式只能是1或2"),
        ({"group_id": None}, "群组group_id是必须的"),
        ({"group_id": "abc"}, "group_id必须是数字"),
        ({"group_id": -1}, "group_id必须是数字"),
        ({"group_id": "1" * 3000}, "group_id必须是数字"),
        ({"group_id": "1" * 20}, "group_id必须是数字"),  # ids have at most 19
        ({"from_user_id": None}, "用户id是必须的"),
        ({"from_user_id": ""}, "用户id是必须的"),
        ({"from_username": None}, "用户名必须填写"),
        ({"content": None}, "消息内容是必须的"),
        ({"content": ""}, "消息内容是必须的"),
        ({"content": "字" * 129}, "消息内容最大支持128个字符"),
        # an avatar is one of our own images, never another server's (issue 18, item 3)
        ({"from_avatar": "https://example.com/a.png"}, "用户头像必须是本站的图片"),
        ({"from_avatar": "http://127.0.0.1:9/a.png", "content": ""}, "用户头像必须是本站的图片"),
        # ours: what one frame may cost the cluster
        ({"from_username": "名" * 65}, "用户名最长64个字符"),
        ({"from_user_id": "1" * 65}, "用户id最长64个字符"),
        ({"extra": "x" * 5000}, "消息太大：最多4096个字符"),
        # several faults: the validator's order decides which one is reported
        ({"mode": 9, "group_id": None, "content": ""}, "消息模式只能是1或2"),
    ],
)
async def test_each_validation_error_is_refused_and_closed(chat, change, msg):
    frame = {**VALID, **change}
    frame = {k: v for k, v in frame.items() if v is not None}  # None: the field is missing
    await assert_refused(chat, frame, msg)


async def test_128_chinese_characters_pass_129_do_not(chat):
    client = await ChatClient.open(chat.ws)
    user = ("501", "长文")
    await client.join(user, 2, 902)
    content = "汉" * 128  # 384 bytes in UTF-8: the limit is on characters
    await client.send(speak_frame(user, 2, 902, "", content))
    frame = await client.recv()
    assert frame["msg"] == f"长文[群聊说]:{content}"
    await client.send(speak_frame(user, 2, 902, "", content + "汉"))
    code, frames = await client.closed()
    assert (code, frames) == (1000, [refused("消息内容最大支持128个字符")])


async def test_binary_frame_with_valid_json_is_handled(chat):
    client = await ChatClient.open(chat.ws)
    frame = join_frame(("502", "二进制"), 2, 903)
    await client.send(json.dumps(frame, ensure_ascii=False).encode())
    assert await client.recv() == {"code": 0, "msg": "success", "data": frame}
    await client.close()


# -- events -------------------------------------------------------------------------------
async def test_other_events_answer_default_invalid_and_keep_the_connection(chat):
    client = await ChatClient.open(chat.ws)
    for event in ("leave", None):
        frame = (
            {**VALID, "event": event} if event else {k: v for k, v in VALID.items() if k != "event"}
        )
        await client.send(frame)
        assert await client.recv() == {"code": 400, "msg": "default invalid", "data": frame}
    await client.join(("503", "还在"), 2, 904)  # still connected and served
    await client.close()


async def test_join_stores_the_session_and_websocket_connect_data(chat):
    headers = {"User-Agent": CHROME, "X-Forwarded-For": "203.0.113.9, 10.0.0.1"}
    proxied = await ChatClient.open(chat.ws, additional_headers=headers, user_agent_header=None)
    direct = await ChatClient.open(chat.ws, user_agent_header=None)
    await proxied.join(("504", "代理"), 2, 905)
    await direct.join(("505", "直连"), 2, 905)
    async with AsyncGatewayClient(chat.register_address) as gw:
        sessions = await gw.get_client_sessions_by_group(905)
    found = {s["from_user_id"]: s for s in sessions.values()}
    assert found["504"] == {
        "client_ip": "203.0.113.9",
        "browser": "Chrome|120.0.6099.71",
        "mode": 2,
        "event": "join",
        "group_id": 905,
        "from_user_id": "504",
        "from_username": "代理",
        "from_avatar": requests.DEFAULT_AVATAR,
    }
    assert found["505"]["client_ip"] == "127.0.0.1"
    assert found["505"]["browser"] == "未知"
    await proxied.close()
    await direct.close()


async def test_join_mode_1_binds_the_uid_and_keeps_the_avatar(chat):
    """An anonymous client's uid lives in the guest namespace: it can never be a
    registered user's (their uids are database ids, bound from verified tokens)."""
    client = await ChatClient.open(chat.ws)
    frame = {**join_frame(("506", "私聊者"), 1, 0), "from_avatar": "/static/avatars/3.svg"}
    await client.send(frame)
    assert await client.recv() == {"code": 0, "msg": "success", "data": frame}
    async with AsyncGatewayClient(chat.register_address) as gw:
        client_ids = await gw.get_client_id_by_uid("guest:506")
        assert len(client_ids) == 1
        assert await gw.get_client_id_by_uid("506") == []
        session = await gw.get_session(client_ids[0])
    assert session["from_avatar"] == "/static/avatars/3.svg"
    assert session["group_id"] == 0
    await client.close()


async def test_a_number_too_big_for_a_session_is_kept_as_text(chat):
    """A session holds 64-bit integers at most: a larger from_user_id (JSON allows 4,300
    digits) is stored as its digits, not dropped with an error line per frame."""
    client = await ChatClient.open(chat.ws)
    big = 10**30
    errors = chat.worker.logs().count("session not saved")
    for _ in range(20):
        await client.join((big, "大号"), 2, 912)  # type: ignore[arg-type]
    async with AsyncGatewayClient(chat.register_address) as gw:
        (session,) = (await gw.get_client_sessions_by_group(912)).values()
    assert (session["from_user_id"], session["from_username"]) == (str(big), "大号")
    assert chat.worker.logs().count("session not saved") == errors
    await client.close()


async def test_private_speak_needs_a_recipient(chat):
    client = await ChatClient.open(chat.ws)
    frame = speak_frame(("507", "无人"), 1, 0, "", "hello")
    await client.send(frame)
    assert await client.recv() == {"code": 400, "msg": "接受用户to_user_id是必须的", "data": frame}
    await client.join(("507", "无人"), 1, 0)  # connection kept
    await client.close()


async def test_a_group_id_the_cluster_refuses_answers_500_and_keeps_the_connection(chat):
    client = await ChatClient.open(chat.ws)
    await client.send(join_frame(("508", "零"), 2, 0))
    reply = await client.recv()
    assert reply["code"] == 500 and reply["data"] == [] and "not a valid group" in reply["msg"]
    await client.join(("508", "零"), 2, 906)
    await client.close()


async def test_a_long_group_id_fails_no_handler(chat):
    """200 such frames once made 3,000 log lines (a traceback each) and no reply."""
    failures = chat.worker.logs().count("handler failed")
    for frame in (
        join_frame(("514", "长号"), 2, "1" * 3000),  # type: ignore[arg-type]
        speak_frame(("514", "长号"), 2, "1" * 3000, "", "hi"),
    ):  # type: ignore[arg-type]
        await assert_refused(chat, frame, "group_id必须是数字")
    alive = await ChatClient.open(chat.ws)
    await alive.join(("514", "长号"), 2, 911)  # the worker is still serving...
    assert chat.worker.logs().count("handler failed") == failures  # ...and failed nothing
    await alive.close()


async def test_a_flood_of_refused_frames_is_answered_and_logged_sparingly(chat):
    """Each frame gets its 500; the worker's log gets a line a second, not one a frame."""
    client = await ChatClient.open(chat.ws)
    frame = join_frame(("515", "洪水"), 2, 0)  # group "0": the cluster refuses it
    logged = chat.worker.logs().count("not a valid group")
    started = time.monotonic()
    for _ in range(200):
        await client.send(frame)
    for _ in range(200):
        reply = await client.recv()
        assert (reply["code"], reply["data"]) == (500, []) and "not a valid group" in reply["msg"]
    elapsed = time.monotonic() - started
    await client.join(("515", "洪水"), 2, 910)  # the connection is kept
    lines = chat.worker.logs().count("not a valid group") - logged
    assert lines <= 2 + elapsed, chat.worker.logs()[-3000:]  # one at once, then one a second
    await client.close()


async def test_close_tells_the_group_who_left(chat):
    staying = await ChatClient.open(chat.ws)
    leaving = await ChatClient.open(chat.ws)
    await staying.join(("509", "留下"), 2, 907)
    await leaving.join(("510", "离开"), 2, 907)
    async with AsyncGatewayClient(chat.register_address) as gw:
        sessions = await gw.get_client_sessions_by_group(907)
    leaving_id = next(cid for cid, s in sessions.items() if s["from_user_id"] == "510")
    await leaving.close()
    assert await staying.recv() == {
        "code": 0,
        "msg": "close",
        "data": {
            "event": "leave",
            "group_id": 907,
            "client_id": leaving_id,
            "content": "leaving group",
            "from_user_id": "510",
            "from_username": "离开",
        },
    }
    await staying.close()


# -- the document's scenario ------------------------------------------------------------------
async def test_document_private_chat(chat):
    akesu, lamu, wuchen = [await ChatClient.open(chat.ws) for _ in range(3)]
    await akesu.join(AKESU, 1, 0, to=LAMU[0])
    await lamu.join(LAMU, 1, 0, to=AKESU[0])
    await wuchen.join(WUCHEN, 1, 0, to=LAMU[0])

    to_lamu = speak_frame(AKESU, 1, 0, LAMU[0], "Hi, 我是阿克苏")
    await akesu.send(to_lamu)
    assert await lamu.recv() == {
        "code": 0,
        "msg": "阿克苏[单聊对]10000[说]:Hi, 我是阿克苏",
        "data": to_lamu,
    }
    to_akesu = speak_frame(LAMU, 1, 0, AKESU[0], "Hi, 我是拉姆才让")
    await lamu.send(to_akesu)
    assert await akesu.recv() == {
        "code": 0,
        "msg": "拉姆才让[单聊对]10086[说]:Hi, 我是拉姆才让",
        "data": to_akesu,
    }
    # nobody else got either message, and the sender no copy
    assert await akesu.ping_pong() == []
    assert await lamu.ping_pong() == []
    assert await wuchen.ping_pong() == []
    for client in (akesu, lamu, wuchen):
        await client.close()


async def test_document_group_chat(chat):
    akesu, lamu, wuchen, outsider = [await ChatClient.open(chat.ws) for _ in range(4)]
    await akesu.join(AKESU, 2, GROUP, to=LAMU[0])
    await lamu.join(LAMU, 2, GROUP, to=AKESU[0])
    await wuchen.join(WUCHEN, 2, GROUP, to=LAMU[0])
    await outsider.join(("511", "路人"), 2, 908)

    first = speak_frame(AKESU, 2, GROUP, LAMU[0], "【群组消息】:我是阿克苏")
    await akesu.send(first)
    expected = {"code": 0, "msg": "阿克苏[群聊说]:【群组消息】:我是阿克苏", "data": first}
    for member in (akesu, lamu, wuchen):  # the speaker too
        assert await member.recv() == expected
    second = speak_frame(LAMU, 2, GROUP, AKESU[0], "【群组消息】:拉姆才让")
    await lamu.send(second)
    expected = {"code": 0, "msg": "拉姆才让[群聊说]:【群组消息】:拉姆才让", "data": second}
    for member in (akesu, lamu, wuchen):
        assert await member.recv() == expected
    assert await outsider.ping_pong() == []  # another group hears nothing

    await wuchen.close()
    leave = await akesu.recv()
    assert leave["msg"] == "close" and leave["data"]["from_username"] == "無尘"
    assert leave["data"]["group_id"] == GROUP
    assert await lamu.recv() == leave
    for client in (akesu, lamu, outsider):
        await client.close()


async def test_group_id_as_string_or_number_is_the_same_group(chat):
    numeric, text = await ChatClient.open(chat.ws), await ChatClient.open(chat.ws)
    await numeric.join(("512", "数字"), 2, 909)
    frame = {**join_frame(("513", "字符串"), "2", "909")}  # type: ignore[arg-type]
    await text.send(frame)
    assert await text.recv() == {"code": 0, "msg": "success", "data": frame}
    speak = speak_frame(("513", "字符串"), 2, 909, "", "同一个群")
    await text.send(speak)
    assert (await numeric.recv())["msg"] == "字符串[群聊说]:同一个群"
    await numeric.close()
    await text.close()
