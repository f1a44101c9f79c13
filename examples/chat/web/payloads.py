"""What the web backend accepts and pushes (design document 000), as pure functions.

The page posts ``{action_type, group_id, content, msgtype}`` (plus ``to_user_id``
for a private message); :func:`parse_send` checks it. The backend adds the
logged-in user's nickname and avatar and pushes to the room's group (or to the two
users of a private message)::

    {"action_type": "new_user_login", "uid": "2", "username": "...", "photo": "...",
     "group_id": 100}
    {"action_type": "new_msg", "msgtype": 0, "uid": "2", "photo": "...",
     "username": "...", "content": "...", "group_id": 100, "to_user_id": null,
     "msg_id": 7, "time": 1702100000.0}
    {"action_type": "room_member", "event": "join" | "leave", "uid": "2",
     "username": "...", "photo": "...", "group_id": 100}
    {"action_type": "read", "group_id": 100, "to_user_id": null, "read": 7,
     "unread": 0, "latest": 9}                   # to the reader's own pages only
    {"action_type": "room", "event": "created" | "renamed", "group_id": 103,
     "name": "...", "created_by": "2", "uid": "2", "username": "..."}   # to every user

A page marks a conversation read with ``{group_id, msg_id}`` or ``{to_user_id,
msg_id}`` (:func:`parse_read`); the ``read`` frame tells every page of that user how
far it is read (:class:`~examples.chat.web.models.Reading`).

The document's fields come first; ``group_id``, ``to_user_id``, ``msg_id`` and
``time`` are added so that a page in several conversations can file each message.
History items have the same shape as ``new_msg`` frames.

A media message (``msgtype`` 1-3) is one of our own uploads only: its ``content`` is
an upload URL (``/uploads/<name>``, :mod:`examples.chat.mediatypes`) of that kind,
never another server's address, so no viewer's browser is sent anywhere else. A
message an older release stored with an outside URL is pushed and listed as text
(``msgtype`` 0): the URL is shown, never fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mediatypes import upload_url
from .models import Message, Reading, Room, User

MAX_TEXT = 1000  # characters of a text message
MSGTYPES = {0: "text", 1: "image", 2: "video", 3: "voice"}
NOT_OURS = "只能发送本站上传的文件"
WRONG_KIND = "文件类型与消息类型不符"
BAD_FORM = "表单数据无法解析"  # a multipart or urlencoded body that is not one
NOT_NATURAL = "必须是非负整数"  # after a field's name, as the document's "group_id必须是数字"
MAX_ID = 2**63 - 1  # SQLite's INTEGER: the largest id, cursor or count the API takes
MAX_ID_DIGITS = len(str(MAX_ID))


class BadRequest(Exception):
    """A request the backend refuses; ``code`` (the HTTP status unless given) goes into
    the JSON reply."""

    def __init__(
        self,
        msg: str,
        code: int | None = None,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = status if code is None else code
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Send:
    action_type: str  # "login" | "send_msg"
    group_id: int  # 0 for a private message
    msgtype: int
    content: str
    to_user_id: int | None


@dataclass(frozen=True, slots=True)
class Read:
    group_id: int  # 0 for a private conversation
    to_user_id: int | None  # the other person of a private conversation
    msg_id: int  # the last message read


def natural(value: Any) -> int | None:
    """``value`` as an id, a cursor or a count: an int or a string of ASCII digits with
    ``0 <= n <= MAX_ID``; None otherwise. (A longer string is never given to ``int()``,
    which refuses over 4,300 digits; SQLite refuses integers past ``MAX_ID``.)"""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_ID else None
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if digits and len(value) <= MAX_ID_DIGITS:
        return natural(int(value))
    return None


def _integer(value: Any, name: str) -> int:
    found = natural(value.strip() if isinstance(value, str) else value)
    if found is None:
        raise BadRequest(f"{name}{NOT_NATURAL}")
    return found


def _to_user(body: dict[str, Any]) -> int | None:
    """A private conversation's other user, if the body names one (None, "", 0: none)."""
    raw = body.get("to_user_id")
    return None if raw in (None, "", 0, "0") else _integer(raw, "to_user_id")


def parse_send(body: Any) -> Send:
    """Check a POST body of the send endpoint; :class:`BadRequest` if it is not usable."""
    if not isinstance(body, dict):
        raise BadRequest("请求数据结构无法被解析")
    action = body.get("action_type")
    if action not in ("login", "send_msg"):
        raise BadRequest("action_type只能是login或send_msg")
    to_user_id = _to_user(body)
    group_id = _integer(body.get("group_id") or 0, "group_id")
    if action == "login":
        if not group_id:
            raise BadRequest("群组group_id是必须的")
        return Send(action, group_id, 0, "", None)
    if to_user_id is None and not group_id:
        raise BadRequest("消息需要群组group_id或接受用户to_user_id")
    if to_user_id is not None:
        group_id = 0
    msgtype = _integer(body.get("msgtype", 0), "msgtype")
    if msgtype not in MSGTYPES:
        raise BadRequest("消息类型msgtype只能是0（文字）、1（图片）、2（视频）或3（语音）")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise BadRequest("消息内容是必须的")
    if msgtype == 0 and len(content) > MAX_TEXT:
        raise BadRequest(f"消息内容最大支持{MAX_TEXT}个字符")
    if msgtype:
        media = upload_url(content)
        if media is None:
            raise BadRequest(NOT_OURS)
        if media.msgtype != msgtype:
            raise BadRequest(WRONG_KIND)
    return Send(action, group_id, msgtype, content, to_user_id)


def parse_read(body: Any) -> Read:
    """Check a POST body of the read endpoint: a room's ``group_id`` or a private
    conversation's ``to_user_id``, and ``msg_id``."""
    if not isinstance(body, dict):
        raise BadRequest("请求数据结构无法被解析")
    to_user_id = _to_user(body)
    group_id = 0 if to_user_id is not None else _integer(body.get("group_id") or 0, "group_id")
    if to_user_id is None and not group_id:
        raise BadRequest("需要群组group_id或接受用户to_user_id")
    return Read(group_id, to_user_id, _integer(body.get("msg_id"), "msg_id"))


def read(group_id: int, to_user_id: int | None, reading: Reading) -> dict[str, Any]:
    """How far the user has read a conversation (pushed to their own pages)."""
    return {
        "action_type": "read",
        "group_id": group_id,
        "to_user_id": None if to_user_id is None else str(to_user_id),
        **reading_fields(reading),
    }


def reading_fields(reading: Reading) -> dict[str, int]:
    """A conversation's reading as the lists and the ``read`` frame carry it."""
    return {"read": reading.read, "unread": reading.unread, "latest": reading.latest}


def new_user_login(user: User, group_id: int) -> dict[str, Any]:
    return {
        "action_type": "new_user_login",
        "username": user.nickname,
        "photo": user.avatar,
        "uid": str(user.id),
        "group_id": group_id,
    }


def room_member(user: User, event: str, group_id: int) -> dict[str, Any]:
    """Someone joined or left a room (a membership change, not a connection)."""
    return {
        "action_type": "room_member",
        "event": event,
        "uid": str(user.id),
        "username": user.nickname,
        "photo": user.avatar,
        "group_id": group_id,
    }


def room_event(event: str, room: Room, by: User) -> dict[str, Any]:
    """A room was created or renamed (``by`` the user who did it): told to every user,
    whose lists show every room."""
    return {
        "action_type": "room",
        "event": event,
        "group_id": room.id,
        "name": room.name,
        "created_by": None if room.created_by is None else str(room.created_by),
        "uid": str(by.id),
        "username": by.nickname,
    }


def new_msg(message: Message) -> dict[str, Any]:
    """A message as pushed and listed; outside media (stored by an older release) as text."""
    ours = message.msgtype == 0 or upload_url(message.content) is not None
    return {
        "action_type": "new_msg",
        "msgtype": message.msgtype if ours else 0,
        "uid": str(message.from_uid),
        "photo": message.photo,
        "username": message.username,
        "content": message.content,
        "group_id": message.room_id,
        "to_user_id": None if message.to_uid is None else str(message.to_uid),
        "msg_id": message.id,
        "time": message.created_at,
    }


def result(data: Any = None, msg: str = "success", code: int = 0) -> dict[str, Any]:
    """The backend's JSON reply (the document's ``$this->res``)."""
    return {"code": code, "msg": msg, "data": data}
