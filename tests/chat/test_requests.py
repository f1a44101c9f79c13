"""The chat protocol's pure rules (examples/chat/worker/requests.py): no sockets, no loop."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from examples.chat.worker import requests
from examples.chat.worker.requests import Rejected, parse
from tests.harness import ROOT

from .support import join_frame

GOOD = {
    "event": "join",
    "mode": 1,
    "group_id": 0,
    "from_user_id": "10086",
    "from_username": "开源技术小栈",
    "to_user_id": "10000",
    "content": "Hi, 开源技术小栈",
}


def rejection(frame) -> str:
    with pytest.raises(Rejected) as caught:
        parse(frame)
    assert caught.value.reply["code"] == 400 and caught.value.reply["data"] == []
    return caught.value.reply["msg"]


def test_the_documents_request_json_parses_without_an_avatar():
    request = parse(requests.json.dumps(GOOD))
    assert request.original == GOOD
    assert (request.event, request.mode, request.group_id) == ("join", 1, "0")
    assert (request.from_user_id, request.from_username) == ("10086", "开源技术小栈")
    assert request.from_avatar == requests.DEFAULT_AVATAR


def test_avatar_numbers_and_strings():
    request = parse(
        requests.json.dumps(
            {
                **GOOD,
                "mode": "2",
                "group_id": "0100",
                "from_user_id": 7,
                "from_avatar": "/static/avatars/4.svg",
            }
        )
    )
    assert (request.mode, request.group_id, request.from_user_id) == (2, "100", "7")
    assert request.from_avatar == "/static/avatars/4.svg"
    uploaded = "/uploads/0123456789abcdef01234567.webp"
    assert parse(requests.json.dumps({**GOOD, "from_avatar": uploaded})).from_avatar == uploaded
    for absent in ("", None):  # not given: the default, as the document's snippets
        request = parse(requests.json.dumps({**GOOD, "from_avatar": absent}))
        assert request.from_avatar == requests.DEFAULT_AVATAR


@pytest.mark.parametrize(
    "avatar",
    [
        "https://example.com/a.png",
        "http://127.0.0.1:9/a.png",
        "//example.com/a.png",
        "/a.png",
        "/uploads/0123456789abcdef01234567.mp4",
        "data:image/png;base64,AA==",
        7,
        ["x"],
    ],
)
def test_an_avatar_that_is_not_ours_is_refused(avatar):
    with pytest.raises(Rejected) as refused:
        parse(requests.json.dumps({**GOOD, "from_avatar": avatar}))
    assert refused.value.reply == {"code": 400, "msg": "用户头像必须是本站的图片", "data": []}
    # the document's order: an earlier field's error comes first, content's after
    with pytest.raises(Rejected) as first:
        parse(requests.json.dumps({**GOOD, "from_avatar": avatar, "from_username": ""}))
    assert first.value.reply["msg"] == "用户名必须填写"
    with pytest.raises(Rejected) as before_content:
        parse(requests.json.dumps({**GOOD, "from_avatar": avatar, "content": ""}))
    assert before_content.value.reply["msg"] == "用户头像必须是本站的图片"


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "{",
        "{'a':1}",
        "[1,]",
        '{"a": Infinity}',
        b"\xc3\x28",
        "[" * 4000,  # deeper than the decoder goes (PHP: 512), within a frame's size
        '{"mode": ' + "[" * 3000,
        '{"content": 1e999}',
        '{"content": -1e400}',
        '{"from_username": "a\\ud800"}',  # a lone surrogate: no UTF-8 can carry it
        '{"content": "\\udfff", "event": "speak"}',
        '{"\\ud83d": 1}',  # half a pair, in a key
    ],  # no JSON encoder can say it back
)
def test_invalid_json(frame):
    assert rejection(frame) == requests.INVALID_JSON


def test_escaped_pairs_are_text() -> None:
    """An escaped surrogate pair is a character (what JSON.stringify writes of an emoji
    in some encoders): it passes."""
    frame = json.dumps(join_frame(("u1", "猫\U0001f431"), 2, 100))  # ensure_ascii: escaped
    assert "\\ud83d\\udc31" in frame
    assert requests.parse(frame).from_username == "猫\U0001f431"


@pytest.mark.parametrize("frame", ["[]", "[1]", "1", '"x"', "null", "false"])
def test_not_an_object(frame):
    assert rejection(frame) == requests.NOT_AN_OBJECT


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        ({"mode": True}, requests.MODE_IN),
        ({"mode": 0}, requests.MODE_IN),
        ({"mode": [1]}, requests.MODE_IN),
        ({"group_id": "1.5"}, requests.GROUP_NUMBER),
        ({"group_id": "１００"}, requests.GROUP_NUMBER),  # full-width digits
        # longer than any id (the cluster needs no more)
        ({"group_id": "9" * 3000}, requests.GROUP_NUMBER),
        ({"group_id": "1" * (requests.MAX_GROUP_DIGITS + 1)}, requests.GROUP_NUMBER),
        ({"group_id": 10**requests.MAX_GROUP_DIGITS}, requests.GROUP_NUMBER),
        ({"group_id": []}, requests.GROUP_REQUIRED),
        ({"from_user_id": {"a": 1}}, requests.USER_ID_REQUIRED),
        ({"from_username": ""}, requests.USERNAME_REQUIRED),
        ({"content": ["x"]}, requests.CONTENT_REQUIRED),
        ({"content": "😀" * 129}, requests.CONTENT_MAX),
        ({"from_user_id": "1" * (requests.MAX_ID + 1)}, requests.USER_ID_MAX),
        ({"from_username": "名" * (requests.MAX_USERNAME + 1)}, requests.USERNAME_MAX),
        ({"to_user_id": "u" * (requests.MAX_ID + 1)}, requests.TO_USER_MAX),
        ({"extra": "x" * requests.MAX_FRAME}, requests.FRAME_MAX),
    ],
)
def test_validation_messages(change, msg):
    assert rejection(requests.json.dumps({**GOOD, **change})) == msg


def test_the_largest_values_pass():
    frame = {
        **GOOD,
        "mode": 1,
        "group_id": 0,  # a private chat's
        "from_user_id": "1" * requests.MAX_ID,
        "from_username": "名" * requests.MAX_USERNAME,
        "to_user_id": "u" * requests.MAX_ID,
    }
    assert requests.parse(requests.json.dumps(frame, ensure_ascii=False)).group_id == "0"
    assert rejection(b"x" * (requests.MAX_FRAME * 4 + 1)) == requests.FRAME_MAX  # not decoded


def test_the_longest_group_id_passes():
    longest = "9" * requests.MAX_GROUP_DIGITS
    assert parse(requests.json.dumps({**GOOD, "group_id": longest})).group_id == longest
    number = int(longest)
    assert parse(requests.json.dumps({**GOOD, "group_id": number})).group_id == longest


def test_content_limit_counts_characters():
    assert parse(requests.json.dumps({**GOOD, "content": "😀" * 128})).original["content"]
    assert parse(requests.json.dumps({**GOOD, "content": 12345})).original["content"] == 12345


def test_texts():
    request = parse(requests.json.dumps({**GOOD, "event": "speak"}))
    assert requests.private_text(request) == "开源技术小栈[单聊对]10000[说]:Hi, 开源技术小栈"
    assert requests.group_text(request) == "开源技术小栈[群聊说]:Hi, 开源技术小栈"
    assert requests.recipient(request) == "10000"
    assert requests.recipient(parse(requests.json.dumps({**GOOD, "to_user_id": ""}))) is None


def test_leave_notice():
    session = {"group_id": 100, "from_user_id": "2023", "from_username": "無尘"}
    assert requests.leave_notice("c1", session) == {
        "code": 0,
        "msg": "close",
        "data": {
            "event": "leave",
            "group_id": 100,
            "client_id": "c1",
            "content": "leaving group",
            "from_user_id": "2023",
            "from_username": "無尘",
        },
    }
    for group in (None, "", 0, "0"):
        assert requests.leave_notice("c1", {**session, "group_id": group}) is None
    assert requests.leave_notice("c1", {}) is None


@pytest.mark.parametrize(
    ("server", "ip"),
    [
        ({"REMOTE_ADDR": "127.0.0.1"}, "127.0.0.1"),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 10.0.0.1"}, "1.2.3.4"),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": " 2001:db8::1 "}, "2001:db8::1"),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "evil, 1.2.3.4"}, "127.0.0.1"),
    ],
)
def test_client_ip(server, ip):
    assert requests.client_ip(server) == ip


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (None, "未知"),
        ("curl/8.0", "未知"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "FireFox|121.0"),
        ("Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36", "Chrome|120.0.0.0"),
        (
            "Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
            "Edge|120.0.2210.61",
        ),
        (
            "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
            "Safari|604.1",
        ),
        ("Mozilla/5.0 Chrome/107.0 Safari/537.36 MicroMessenger/8.0.43", "微信浏览器|8.0.43"),
    ],
)
def test_browser(agent, name):
    assert requests.browser(agent) == name


def test_protocol_loads_no_network_library():
    code = (
        "import sys, examples.chat.worker.requests; "
        "print(sorted({'zmq', 'websockets', 'aiohttp'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_storable_keeps_what_a_session_holds():
    assert requests.storable(2**64 - 1) == 2**64 - 1 and requests.storable(-(2**63)) == -(2**63)
    assert requests.storable(2**64) == str(2**64) and requests.storable(-(2**63) - 1) == str(
        -(2**63) - 1
    )
    assert requests.storable("10086") == "10086" and requests.storable(1.5) == 1.5
