"""What the web backend accepts and pushes (examples/chat/web/payloads.py)."""

from __future__ import annotations

import pytest

from examples.chat.web import payloads
from examples.chat.web.models import Message, User
from examples.chat.web.payloads import BadRequest, Send, parse_send

PICTURE = "/uploads/0123456789abcdef01234567.png"


def test_the_documents_send_body():
    body = {"action_type": "send_msg", "group_id": 100, "content": "2222", "msgtype": 0}
    assert parse_send(body) == Send("send_msg", 100, 0, "2222", None)
    image = {**body, "group_id": "100", "msgtype": "1", "content": PICTURE}
    assert parse_send(image) == Send("send_msg", 100, 1, PICTURE, None)


def test_login_needs_a_room():
    assert parse_send({"action_type": "login", "group_id": 100}) == Send("login", 100, 0, "", None)
    with pytest.raises(BadRequest):
        parse_send({"action_type": "login"})


def test_private_message_has_no_room():
    send = parse_send(
        {
            "action_type": "send_msg",
            "group_id": 100,
            "to_user_id": "7",
            "content": "hi",
            "msgtype": 0,
        }
    )
    assert (send.group_id, send.to_user_id) == (0, 7)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"action_type": "dance", "group_id": 100},
        {"action_type": "send_msg", "content": "no target", "msgtype": 0},
        {"action_type": "send_msg", "group_id": "x", "content": "a", "msgtype": 0},
        {"action_type": "send_msg", "group_id": 100, "content": "a", "msgtype": 4},
        {"action_type": "send_msg", "group_id": 100, "content": "a", "msgtype": True},
        {"action_type": "send_msg", "group_id": 100, "content": "   ", "msgtype": 0},
        {"action_type": "send_msg", "group_id": 100, "content": 5, "msgtype": 0},
        {"action_type": "send_msg", "group_id": 100, "content": "x" * 1001, "msgtype": 0},
        {
            "action_type": "send_msg",
            "group_id": 100,
            "content": "javascript:alert(1)",
            "msgtype": 1,
        },
        {
            "action_type": "send_msg",
            "group_id": 100,
            "content": '/uploads/a.png" onerror=x',
            "msgtype": 1,
        },
    ],
)
def test_refused(body):
    with pytest.raises(BadRequest):
        parse_send(body)


@pytest.mark.parametrize("value", [2**63, str(2**63), "1" * 5000, -1, "-1", "+1", "1.0", 1.0])
@pytest.mark.parametrize("field", ["group_id", "to_user_id"])
def test_ids_are_bounded(field, value):
    body = {"action_type": "send_msg", "content": "a", "msgtype": 0, field: value}
    with pytest.raises(BadRequest) as refused:
        parse_send(body)
    assert (refused.value.msg, refused.value.status) == (f"{field}必须是非负整数", 400)


def test_the_largest_id_passes():
    top = 2**63 - 1
    assert (
        parse_send(
            {"action_type": "send_msg", "group_id": str(top), "content": "a", "msgtype": 0}
        ).group_id
        == top
    )
    assert (
        parse_send(
            {"action_type": "send_msg", "to_user_id": top, "content": "a", "msgtype": 0}
        ).to_user_id
        == top
    )


def test_a_refusal_carries_its_status_as_code():
    assert BadRequest("房间不存在", status=404).code == 404
    assert BadRequest("x").code == 400 and BadRequest("x", code=100, status=405).code == 100


def test_longest_text_passes():
    assert (
        parse_send(
            {"action_type": "send_msg", "group_id": 1, "content": "字" * 1000, "msgtype": 0}
        ).content
        == "字" * 1000
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.png",
        "http://127.0.0.1:9/a.png",
        "//example.com/a.png",
        "https://example.com" + PICTURE,
        PICTURE + "?x",
        "/uploads/a.png",
        "/static/avatars/1.svg",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_media_is_our_own_uploads_only(url):
    body = {"action_type": "send_msg", "group_id": 1, "msgtype": 1, "content": url}
    with pytest.raises(BadRequest) as refused:
        parse_send(body)
    assert (refused.value.msg, refused.value.status) == ("只能发送本站上传的文件", 400)


def test_media_of_the_kind_it_is_sent_as():
    body = {"action_type": "send_msg", "group_id": 1, "content": PICTURE}
    for msgtype in (1, "1"):
        assert parse_send({**body, "msgtype": msgtype}).msgtype == 1
    clip = "/uploads/0123456789abcdef01234567.webm"
    assert parse_send({**body, "msgtype": 2, "content": clip}).content == clip
    for msgtype in (2, 3):
        with pytest.raises(BadRequest, match="文件类型与消息类型不符"):
            parse_send({**body, "msgtype": msgtype})
    assert parse_send({**body, "msgtype": 0, "content": "https://example.com"}).msgtype == 0


def test_outside_media_stored_by_an_older_release_is_text():
    old = Message(9, 100, 2, None, 1, "https://example.com/a.png", 2.0, "旧", "/p.jpeg")
    frame = payloads.new_msg(old)
    assert (frame["msgtype"], frame["content"]) == (0, "https://example.com/a.png")
    ours = Message(10, 100, 2, None, 3, "/uploads/0123456789abcdef01234567.mp3", 2.0, "新", "/p")
    assert payloads.new_msg(ours)["msgtype"] == 3


def test_pushed_frames():
    user = User(2, "南京⌘陆小凤", "/p.jpeg")
    assert payloads.new_user_login(user, 100) == {
        "action_type": "new_user_login",
        "username": "南京⌘陆小凤",
        "photo": "/p.jpeg",
        "uid": "2",
        "group_id": 100,
    }
    message = Message(7, 100, 2, None, 0, "2222", 1.5, "南京⌘陆小凤", "/p.jpeg")
    assert payloads.new_msg(message) == {
        "action_type": "new_msg",
        "msgtype": 0,
        "uid": "2",
        "photo": "/p.jpeg",
        "username": "南京⌘陆小凤",
        "content": "2222",
        "group_id": 100,
        "to_user_id": None,
        "msg_id": 7,
        "time": 1.5,
    }
    private = Message(8, 0, 2, 3, 1, PICTURE, 2.0, "南京⌘陆小凤", "/p.jpeg")
    assert payloads.new_msg(private)["to_user_id"] == "3"


def test_room_member_frame():
    user = User(2, "南京⌘陆小凤", "/p.jpeg")
    assert payloads.room_member(user, "leave", 101) == {
        "action_type": "room_member",
        "event": "leave",
        "uid": "2",
        "username": "南京⌘陆小凤",
        "photo": "/p.jpeg",
        "group_id": 101,
    }
