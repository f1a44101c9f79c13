"""What every route module of the web backend shares: app keys, the reply format,
the logged-in user, request parsing helpers.

Every JSON reply is ``{"code": 0 | error code, "msg": ..., "data": ...}`` (the
document's ``$this->res``); a refusal is raised as :class:`~examples.chat.web.payloads.BadRequest`
and turned into such a reply, with its HTTP status, by the :func:`errors` middleware.
The logged-in user comes from the session cookie only, never from the request body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from business import AsyncGatewayClient
from common.limits import Buckets
from common.logs import Throttled

from ..mediatypes import STOCK_AVATARS
from . import media
from .db import AsyncStore
from .models import Room, User
from .payloads import BAD_FORM, NOT_NATURAL, BadRequest, natural, result
from .throttle import LoginThrottle

# uploads identified (images decoded: up to ~120 MB each) at once: one per core this
# process may use (not the host's: a container's), two at most (a 512 MiB pod holds that)
_CORES = (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)  # (sched_getaffinity: Linux's; elsewhere the host's count)
DECODES = max(1, min(2, _CORES))


@dataclass(frozen=True)  # (no slots: the defaults are read as Limits.rooms...)
class Limits:
    """What one address or user may do (the backend's --register-limit, --room-limit,
    --upload-limit), and the memory every upload at once may hold (--upload-memory):
    what a flood or a spammer costs everyone else."""

    registrations: int = 20  # accounts an address may open an hour (each: an scrypt hash)
    rooms: int = 20  # rooms a user may own (each is in every user's list)
    uploads: int = 120  # files a user may upload an hour (each up to 8 MB, kept)
    upload_memory: int = media.HELD >> 20  # MB of uploads held at once, everyone's


def hourly(count: int) -> Buckets:
    """``count`` at once, then as many an hour (spread), per key."""
    return Buckets(count / 3600, count, limit=10_000)


COOKIE = "chat_token"
STATIC = Path(__file__).resolve().parent.parent / "static"  # the page: examples/chat/static
AVATARS = STOCK_AVATARS
DEFAULT_ROOM = 100
NO_ROOM = "房间不存在"
BAD_JSON = "无效的json数据"
NO_USER = "用户不存在"

quiet = Throttled(logging.getLogger(__name__))  # lines a request can cause


@dataclass
class Settings:
    ws_url: str
    uploads: Path
    auth_secret: str
    page_policy: str = "default-src 'self'"  # Content-Security-Policy (examples.chat.web.guard)
    token_ttl: int = 300  # seconds
    limits: Limits = Limits()


@dataclass
class Guards:
    """The login throttle (per address, account and device), the accounts each address
    and the uploads each user may still make (:class:`Limits`), the memory uploads hold
    and the uploads identified at once (:mod:`examples.chat.web.media`), and the send
    lock."""

    registrations: Buckets
    uploads: Buckets
    held: media.Held
    logins: LoginThrottle = field(default_factory=LoginThrottle)
    decodes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(DECODES))
    # Held from a message's insert to its push: pushes leave in id order, so a page
    # that saw message n on a synced connection has everything before n it may see.
    send: asyncio.Lock = field(default_factory=asyncio.Lock)


STORE = web.AppKey("store", AsyncStore)
PUSH = web.AppKey("push", AsyncGatewayClient)
SETTINGS = web.AppKey("settings", Settings)
GUARDS = web.AppKey("guards", Guards)
LATER: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("later")
"""Work a request leaves running after its answer (kept referenced; cancelled at stop)."""


def guards(limits: Limits) -> Guards:
    return Guards(
        registrations=hourly(limits.registrations),
        uploads=hourly(limits.uploads),
        held=media.Held(limits.upload_memory << 20),
    )


HOLD = web.RequestKey("hold", media.Hold)


def holding(request: web.Request) -> media.Hold:
    """The request's share of the memory uploads hold (given back by :func:`give_back`
    when the request ends)."""
    hold = request.get(HOLD)
    if hold is None:
        hold = request[HOLD] = request.app[GUARDS].held.hold()
    return hold


@web.middleware
async def give_back(request: web.Request, handler: Any) -> web.StreamResponse:
    """The memory the request's uploads held (:func:`holding`), given back however the
    request ends (an answer, a refusal, a bug, the client gone)."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    finally:
        hold = request.get(HOLD)
        if hold is not None:
            hold.close()


def take_upload(request: web.Request, user_id: int) -> None:
    """One of the user's ``--upload-limit`` uploads an hour (a file, or a new avatar),
    or 429 with ``Retry-After``, said in the log (a line a second at most)."""
    uploads = request.app[GUARDS].uploads
    if not uploads.take(str(user_id), time.monotonic()):
        quiet.warning("uploads", "refused an upload of user %d: over --upload-limit", user_id)
        raise too_many(1 / uploads.rate, "上传太频繁")


def too_many(seconds: float, why: str) -> BadRequest:
    """429: ``why``, and in how many seconds to try again (said, and in Retry-After)."""
    wait = max(1, math.ceil(seconds))
    return BadRequest(
        f"{why}，请{wait}秒后再试", code=429, status=429, headers={"Retry-After": str(wait)}
    )


def reply(data: Any = None, msg: str = "success", code: int = 0, status: int = 200) -> web.Response:
    return web.json_response(
        result(data, msg, code), status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


# aiohttp's own refusals under /api/ (no such endpoint, a body over the size limit...),
# said in the page's language like ours rather than as aiohttp's English text/plain
HTTP_TEXTS = {
    404: "没有这个接口",
    405: "不支持这种请求方法",
    413: "请求太大",
    415: "不支持这种内容类型",
}


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refusals become JSON replies with the refusal's code and status: ours
    (:class:`BadRequest`), and aiohttp's own under ``/api/``. A client that goes away
    while its body is read (an upload cancelled) is a line in the log, a second at
    most, not a traceback."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except BadRequest as exc:
        response = reply(None, exc.msg, exc.code, exc.status)
        response.headers.update(exc.headers)
        return response
    except ConnectionResetError:  # (aiohttp's, reading the body of a client gone)
        quiet.info("gone", "a client went away during its %s %s", request.method, request.path)
        return reply(None, "连接已断开", 400, 400)  # to nobody: written only if it is not gone
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        response = reply(None, HTTP_TEXTS.get(exc.status, "请求失败"), exc.status, exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


async def current_user(request: web.Request) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await request.app[STORE].run(lambda s: s.user_by_token(token))


async def logged_in(request: web.Request) -> User:
    user = await current_user(request)
    if user is None:
        raise BadRequest("请先登录", code=401, status=401)
    return user


def number(value: Any, missing: str, status: int = 404) -> int:
    """An id (``1 <= n < 2**63``) from a path segment or a parsed body; anything else
    names nothing: ``missing`` (:data:`NO_ROOM`, :data:`NO_USER`; 404)."""
    found = natural(value)
    if not found:
        raise BadRequest(missing, status=status)
    return found


def query_int(request: web.Request, name: str, default: int | None) -> int | None:
    """An optional query parameter ``0 <= n < 2**63`` (a cursor, a count); 400 if it is
    anything else."""
    raw = request.query.get(name, "")
    if raw == "":
        return default
    found = natural(raw)
    if found is None:
        raise BadRequest(f"{name}{NOT_NATURAL}")
    return found


async def room_or_404(request: web.Request, room_id: Any) -> Room:
    number_ = number(room_id, NO_ROOM)
    room = await request.app[STORE].run(lambda s: s.room(number_))
    if room is None:
        raise BadRequest(NO_ROOM, status=404)
    return room


async def json_body(request: web.Request) -> Any:
    """The body's JSON, read by orjson: UTF-8 (whatever charset is claimed), and never
    what the json module would take but SQLite, scrypt or a browser would not: NaN,
    Infinity, a lone surrogate, nesting past 1,024 levels (400 for each)."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise BadRequest(BAD_JSON) from None


async def form_fields(request: web.Request) -> dict[str, str]:
    """A urlencoded form's text fields (400 if it is not one: an unknown charset...)."""
    try:
        form = await request.post()
    except (ValueError, LookupError):
        raise BadRequest(BAD_FORM) from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def form_parts(request: web.Request) -> AsyncIterator[BodyPartReader]:
    """A multipart body's parts (nested ones are skipped): 400 if it is not one (no
    boundary, garbage, cut short). A part's own reader may still fail: see
    :func:`part_text` and :func:`examples.chat.web.media.receive`."""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader):
                yield part
    except (ValueError, LookupError, AssertionError):
        raise BadRequest(BAD_FORM) from None


async def part_text(part: BodyPartReader) -> str:
    """A form field's text (400 if its bytes are not text in its charset)."""
    try:
        return await part.text()
    except (ValueError, LookupError):  # (UnicodeDecodeError is a ValueError)
        raise BadRequest(BAD_FORM) from None
