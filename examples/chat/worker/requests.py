"""The chat's WebSocket protocol (design document 001), as pure functions: no I/O.

A client frame is a JSON object::

    {"event": "join" | "speak", "mode": 1 (private) | 2 (group),
     "group_id": 100 (0 for private), "from_user_id": "10086",
     "from_username": "阿克苏", "to_user_id": "10000", "content": "你好",
     "from_avatar": "/static/avatars/1.svg"}          # optional

Every reply is ``{"code": int, "msg": str, "data": ...}`` (the document's
``broadcast_json``; ``data`` defaults to ``[]``, the PHP empty array).

:func:`parse` turns a frame into a :class:`Request` or raises :class:`Rejected`
with the reply to send before closing. Validation follows the document's
``MessageFormatValidate`` rules in order and stops at the first failure, with the
document's own error texts; ``from_avatar`` is optional (the document's own client
examples omit it) and defaults to :data:`DEFAULT_AVATAR`; given, it must be one of
our own images, a stock avatar or an uploaded image (:mod:`examples.chat.mediatypes`),
or the frame is refused as the document refuses a frame (400
``用户头像必须是本站的图片``, closed), so that no client that shows the avatars it is
sent is ever made to fetch one from another server. A ``group_id`` is at most
:data:`MAX_GROUP_DIGITS` digits (a longer one answers ``group_id必须是数字``), and JSON
nested deeper than the decoder goes, or a number too large for a float (``1e999``), is
invalid JSON (PHP's ``json_decode`` stops at depth 512; its ``json_encode`` cannot say
INF back).

Ours too, not the document's, for what one frame may cost the cluster (each is echoed,
sent on, or kept in the session that travels with every later event): a frame of at
most :data:`MAX_FRAME` characters (echoed to a whole group, a frame of the gateway's
1 MB would be 1 MB a member), user ids and names of at most :data:`MAX_ID` and
:data:`MAX_USERNAME`. (A group 0 in a group chat is the document's: the Gateway API
refuses it, and the catch-all answers 500 with why, the connection kept.)
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ..mediatypes import DEFAULT_AVATAR, is_own_avatar

MAX_CONTENT = 128  # characters (the validator's max:128 counts with mb_strlen)
MAX_GROUP_DIGITS = 19  # any 64-bit id; int() refuses strings over 4,300 digits
MAX_ID = 64  # characters of a user id (echoed, sent on, kept in the session)
MAX_USERNAME = 64  # characters of a user name (the same)
MAX_FRAME = 4096  # characters of a whole frame: it is echoed back and sent on whole

INVALID_JSON = "无效的json数据"
NOT_AN_OBJECT = "请求数据结构无法被解析"
DEFAULT_INVALID = "default invalid"
TO_USER_REQUIRED = "接受用户to_user_id是必须的"
# MessageFormatValidate::$message, plus ThinkPHP's default text for "number"
MODE_REQUIRED = "消息模式是必须的"
MODE_IN = "消息模式只能是1或2"
GROUP_REQUIRED = "群组group_id是必须的"
GROUP_NUMBER = "group_id必须是数字"
USER_ID_REQUIRED = "用户id是必须的"
USERNAME_REQUIRED = "用户名必须填写"
AVATAR_OWN = "用户头像必须是本站的图片"  # not the document's: see the module's docstring
CONTENT_REQUIRED = "消息内容是必须的"
CONTENT_MAX = "消息内容最大支持128个字符"
# ours, not the document's: what a frame may cost the cluster (see the module's docstring)
FRAME_MAX = f"消息太大：最多{MAX_FRAME}个字符"
USER_ID_MAX = f"用户id最长{MAX_ID}个字符"
USERNAME_MAX = f"用户名最长{MAX_USERNAME}个字符"
TO_USER_MAX = f"接受用户to_user_id最长{MAX_ID}个字符"


class Rejected(Exception):
    """A frame refused before any business logic: reply, then close the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.reply = reply(400, message)


@dataclass(frozen=True, slots=True)
class Request:
    """A valid client frame. ``original`` is the decoded object, echoed as ``data``."""

    original: dict[str, Any]
    event: Any  # anything but "join" / "speak" is answered "default invalid"
    mode: int
    group_id: str  # digits; "0" for private
    from_user_id: str
    from_username: str
    from_avatar: str


def reply(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    """The document's ``broadcast_json(code, msg, data = [])``."""
    return {"code": code, "msg": msg, "data": [] if data is None else data}


def _present(value: Any) -> bool:
    """ThinkPHP's ``require``: set, and not null / "" / empty array."""
    return value is not None and value != "" and value != [] and value != {}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _digits(text: str) -> bool:
    return len(text) <= MAX_GROUP_DIGITS and text.isascii() and text.isdigit()


def _check(message: dict[str, Any]) -> str | None:
    """The first validation error of a decoded object, or None."""
    mode = message.get("mode")
    if not _present(mode):
        return MODE_REQUIRED
    if not _scalar(mode) or str(mode) not in ("1", "2"):
        return MODE_IN
    group_id = message.get("group_id")
    if not _present(group_id):
        return GROUP_REQUIRED
    if not _scalar(group_id) or not _digits(str(group_id)):
        return GROUP_NUMBER
    if not _present(message.get("from_user_id")) or not _scalar(message["from_user_id"]):
        return USER_ID_REQUIRED
    if len(str(message["from_user_id"])) > MAX_ID:
        return USER_ID_MAX
    if not _present(message.get("from_username")) or not _scalar(message["from_username"]):
        return USERNAME_REQUIRED
    if len(str(message["from_username"])) > MAX_USERNAME:
        return USERNAME_MAX
    to_user_id = message.get("to_user_id")
    if _scalar(to_user_id) and len(str(to_user_id)) > MAX_ID:
        return TO_USER_MAX
    avatar = message.get("from_avatar")
    if _present(avatar) and not is_own_avatar(avatar):
        return AVATAR_OWN
    content = message.get("content")
    if not _present(content) or not _scalar(content):
        return CONTENT_REQUIRED
    if len(str(content)) > MAX_CONTENT:
        return CONTENT_MAX
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # PHP's json_decode refuses NaN/Infinity


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):  # 1e999: echoed back it would be Infinity, which is not JSON
        raise ValueError(f"{text} is out of range")
    return number


def parse(frame: str | bytes) -> Request:
    """Decode and validate one client frame; :class:`Rejected` if it must be refused."""
    if len(frame) > MAX_FRAME * 4:  # (bytes: up to 4 a character) not even decoded
        raise Rejected(FRAME_MAX)
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
        if len(text) > MAX_FRAME:
            raise Rejected(FRAME_MAX)
        message = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
        if "\\u" in text:  # an escape may be a lone surrogate: text with no UTF-8
            json.dumps(message, ensure_ascii=False).encode()  # (UnicodeEncodeError if so)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, too deep
        raise Rejected(INVALID_JSON) from None
    if not isinstance(message, dict):
        raise Rejected(NOT_AN_OBJECT)
    error = _check(message)
    if error is not None:
        raise Rejected(error)
    avatar = message.get("from_avatar")
    return Request(
        original=message,
        event=message.get("event"),
        mode=int(str(message["mode"])),
        group_id=group_key(message["group_id"]),
        from_user_id=str(message["from_user_id"]),
        from_username=str(message["from_username"]),
        from_avatar=avatar if isinstance(avatar, str) and avatar else DEFAULT_AVATAR,
    )


def storable(value: Any) -> Any:
    """A frame's value as a session can hold it: an integer past 64 bits (JSON allows
    4,300 digits; a session is msgpack) as its digits, anything else as it is."""
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


def recipient(request: Request) -> str | None:
    """``to_user_id`` of a private ``speak`` as a uid, or None if it is missing."""
    value = request.original.get("to_user_id")
    return str(value) if _present(value) and _scalar(value) else None


def private_text(request: Request) -> str:
    """``<from_username>[单聊对]<to_user_id>[说]:<content>``"""
    original = request.original
    return f"{original['from_username']}[单聊对]{original['to_user_id']}[说]:{original['content']}"


def group_text(request: Request) -> str:
    """``<from_username>[群聊说]:<content>``"""
    return f"{request.original['from_username']}[群聊说]:{request.original['content']}"


def group_key(group_id: Any) -> str:
    """The cluster's name of a validated group id: ``100``, ``"100"``, ``"0100"`` -> ``"100"``."""
    return str(int(str(group_id)))


def leave_notice(client_id: str, session: dict[Any, Any]) -> dict[str, Any] | None:
    """What on_close tells the client's group, or None if it had joined none."""
    group_id = session.get("group_id")
    if group_id in (None, "", 0, "0"):
        return None
    return reply(
        0,
        "close",
        {
            "event": "leave",
            "group_id": group_id,
            "client_id": client_id,
            "content": "leaving group",
            "from_user_id": session.get("from_user_id", ""),
            "from_username": session.get("from_username", ""),
        },
    )


def client_ip(server: dict[str, Any]) -> str:
    """The first address of X-Forwarded-For if it is an IP address, else the peer's."""
    forwarded = str(server.get("HTTP_X_FORWARDED_FOR") or "")
    first = forwarded.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(first))
    except ValueError:
        return str(server.get("REMOTE_ADDR") or "")


# Later rules win, as in the document's get_client_browser (Chrome's UA also says Safari).
_BROWSERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"Safari/([^\s]+)", "Safari"),
        (r"MSIE\s([^\s|;]+)", "Internet Explorer"),
        (r"Trident/.*rv:([^\s|;)]+)", "Internet Explorer"),
        (r"Opera[\s|/]([^\s]+)", "Opera"),
        (r"Firefox/([^\s]+)", "FireFox"),
        (r"Lynx/([^\s]+)", "Lynx"),
        (r"Chrome/([^\s]+)", "Chrome"),
        (r"OPR/([^\s]+)", "Opera"),
        (r"Edg/([^\s]+)", "Edge"),
        (r"MicroMessenger/([^\s]+)", "微信浏览器"),
    )
)


def browser(user_agent: str | None) -> str:
    """``"Name|version"`` from a User-Agent (the document's format); ``"未知"`` if unknown."""
    if not user_agent:
        return "未知"
    found = "未知"
    for pattern, name in _BROWSERS:
        match = pattern.search(user_agent)
        if match:
            found = f"{name}|{match.group(1)}"
    return found
