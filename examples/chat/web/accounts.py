"""Accounts: register, log in and out, the current user, and the page's WebSocket tokens.

- ``POST /api/register`` (``nickname``, ``password``, ``avatar`` or ``avatar_file``):
  409 if the nickname is taken; the new user is a member of the default room. An
  address opens at most ``--register-limit`` accounts an hour (20 by default, at once
  then spread over the hour): past it 429 with ``Retry-After`` (each account costs a
  password hash; a flood of them would be CPU for the server and spam for everyone).
- ``POST /api/login`` (``nickname``, ``password``, optional new ``avatar``): 401 if
  wrong; 429 with ``Retry-After`` while failed guesses make it wait: growing waits
  per address and per account, but a browser that logged in to the account before
  waits only for its own failures (:mod:`examples.chat.web.throttle`,
  :mod:`examples.chat.web.devices`). Accounts made before passwords existed have none
  and cannot log in (anyone could have made them) until an operator sets one
  (:mod:`examples.chat.web.admin`).
- Both take JSON, a urlencoded form or a multipart form, and set the session
  cookie (HttpOnly, SameSite=Lax) and the device cookie; the reply is the user
  ``{id, nickname, avatar}``.
- ``POST /api/token``: a short-lived token for one WebSocket connection
  (:mod:`examples.chat.web.tokens`), with the gateway's URL.

Passwords are hashed with scrypt on a thread (:mod:`examples.chat.web.passwords`) and
never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from common.logs import Throttled

from .. import mediatypes
from ..groups import MAX_CONTACTS
from . import devices, media, passwords, remote, tokens
from .db import SESSION_TTL, NicknameTaken
from .models import User
from .payloads import BadRequest
from .state import (
    AVATARS,
    COOKIE,
    DEFAULT_ROOM,
    GUARDS,
    SETTINGS,
    STORE,
    form_fields,
    form_parts,
    holding,
    json_body,
    logged_in,
    part_text,
    reply,
    take_upload,
    too_many,
)
from .throttle import Attempt

routes = web.RouteTableDef()
quiet = Throttled(logging.getLogger(__name__))  # lines a flood from outside can cause
MAX_NICKNAME = 16
WRONG = "昵称或密码错误"
TAKEN = "这个昵称已被注册"
MANY_ACCOUNTS = "这个地址注册的账号太多"
NO_PASSWORD = (
    "这个昵称是早期无密码的账号：请管理员为它设置密码（make chat-password），或注册一个新昵称"
)


@dataclass
class AccountForm:
    nickname: str
    password: str
    avatar: str | None  # a stock avatar; None: keep (login) or the first one (register)
    upload: media.Received | None = None  # an avatar file: looked at once let in


def _stock_avatar(value: object) -> str | None:
    if value in (None, ""):
        return None
    if value not in AVATARS:
        raise BadRequest("没有这个头像")
    return str(value)


async def _account_form(request: web.Request) -> AccountForm:
    """The fields from a JSON body, a urlencoded form, or a multipart form with a file."""
    if request.content_type == "multipart/form-data":
        fields: dict[str, str] = {}
        upload = None
        async for part in form_parts(request):
            if part.name == "avatar_file" and part.filename:
                if upload is not None:  # (each would hold its bytes to the request's end)
                    raise BadRequest("只能上传一个头像")
                upload = await media.receive(part, holding(request), media.MAX_AVATAR)
            elif part.name in ("nickname", "password", "avatar"):
                fields[part.name] = await part_text(part)
        return AccountForm(
            fields.get("nickname", ""),
            fields.get("password", ""),
            _stock_avatar(fields.get("avatar")),
            upload,
        )
    if request.content_type == "application/x-www-form-urlencoded":
        body: object = await form_fields(request)
    else:
        body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("请求数据结构无法被解析")
    nickname, password = body.get("nickname"), body.get("password")
    return AccountForm(
        nickname if isinstance(nickname, str) else "",
        password if isinstance(password, str) else "",
        _stock_avatar(body.get("avatar")),
    )


def _nickname(form: AccountForm) -> str:
    nickname = form.nickname.strip()
    if not nickname or len(nickname) > MAX_NICKNAME or not nickname.isprintable():
        raise BadRequest(f"昵称需要1到{MAX_NICKNAME}个可见字符")
    return nickname


async def _signed_in(request: web.Request, user: User, device: str | None = None) -> web.Response:
    """The user as the reply, with a new session cookie and the browser's device cookie
    (``device``: the nonce it already has for this account)."""
    token = await request.app[STORE].run(lambda s: s.start_session(user.id))
    response = reply(user.public())
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", max_age=SESSION_TTL)
    recognised = devices.issue(request.app[SETTINGS].auth_secret, user.id, device)
    response.set_cookie(
        devices.COOKIE,
        recognised,
        httponly=True,
        samesite="Strict",
        max_age=devices.TTL,
        path=devices.PATH,
    )
    return response


@routes.post("/api/register")
async def register(request: web.Request) -> web.Response:
    form = await _account_form(request)
    nickname = _nickname(form)
    problem = passwords.policy_error(form.password)
    if problem:
        raise BadRequest(problem)
    store = request.app[STORE]
    if await store.run(lambda s: s.credentials(nickname)) is not None:  # before any work
        raise BadRequest(TAKEN, code=409, status=409)
    guards = request.app[GUARDS]
    if not guards.registrations.take(remote.key(str(request.remote)), time.monotonic()):
        quiet.warning(
            "register", "refused a new account from %s: over --register-limit", request.remote
        )
        raise too_many(1 / guards.registrations.rate, MANY_ACCOUNTS)
    upload = await _avatar_file(request, form)  # (looked at only now: let in)
    hashed = await asyncio.to_thread(passwords.hash_password, form.password)
    avatar = await _avatar(request, form, upload) or AVATARS[0]
    try:
        user = await store.run(lambda s: s.register(nickname, hashed, avatar))
    except NicknameTaken:  # taken meanwhile
        raise BadRequest(TAKEN, code=409, status=409) from None
    await store.run(lambda s: s.join_room(user.id, DEFAULT_ROOM))
    return await _signed_in(request, user)


async def _avatar_file(request: web.Request, form: AccountForm) -> media.Upload | None:
    """The form's avatar file, if it has one, identified: 400 unless it is an image."""
    if form.upload is None:
        return None
    upload = await media.identify(form.upload, request.app[GUARDS].decodes)
    if upload.msgtype != mediatypes.IMAGE:
        raise BadRequest("头像必须是图片")
    return upload


async def _avatar(
    request: web.Request, form: AccountForm, upload: media.Upload | None
) -> str | None:
    """The avatar the form asks for: its file (stored now) or a stock one."""
    if upload is not None:
        return await media.store(upload, request.app[SETTINGS].uploads)
    return form.avatar


def _recognised(request: web.Request, user: User | None) -> str | None:
    """The device's nonce if this browser logged in to ``user``'s account before."""
    if user is None:
        return None
    cookie = request.cookies.get(devices.COOKIE)
    return devices.verify(request.app[SETTINGS].auth_secret, cookie, user.id)


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    form = await _account_form(request)
    nickname = _nickname(form)
    store = request.app[STORE]
    found = await store.run(lambda s: s.credentials(nickname))
    device = _recognised(request, found[0] if found else None)
    attempt = Attempt(remote.key(str(request.remote)), nickname.casefold(), device)
    logins = request.app[GUARDS].logins
    wait = logins.begin(attempt)  # counts it as a failure until the password is right
    if wait > 0:
        raise too_many(wait, "尝试次数过多")
    stored = found[1] if found else None
    # an unknown nickname costs one scrypt too (checked against a dummy hash)
    if found is None or not await asyncio.to_thread(passwords.verify, form.password, stored):
        legacy = found is not None and stored is None
        raise BadRequest(NO_PASSWORD if legacy else WRONG, code=401, status=401)
    logins.succeeded(attempt)
    user = found[0]
    if form.upload is not None:
        take_upload(request, user.id)  # a new avatar is an upload
    avatar = await _avatar(request, form, await _avatar_file(request, form))
    if avatar and avatar != user.avatar:
        user_id = user.id
        changed = await store.run(lambda s: s.set_avatar(user_id, avatar))
        user = changed or user
    return await _signed_in(request, user, device)


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    if token:
        await request.app[STORE].run(lambda s: s.logout(token))
    response = reply()
    response.del_cookie(COOKIE)
    return response


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    return reply((await logged_in(request)).public())


@routes.post("/api/token")
async def token(request: web.Request) -> web.Response:
    """A token for one WebSocket connection: the gateway binds its uid and the worker
    joins its rooms' groups (the rooms the user belongs to now) and its contacts'
    presence groups (the people of its private conversations)."""
    user = await logged_in(request)
    rooms, contacts = await request.app[STORE].run(
        lambda s: (s.rooms_of(user.id), s.contacts_of(user.id, MAX_CONTACTS))
    )
    settings = request.app[SETTINGS]
    claims = tokens.claims(
        user.id, user.nickname, user.avatar, rooms, time.time(), settings.token_ttl, contacts
    )
    signed = tokens.issue(settings.auth_secret, claims)
    return reply(
        {
            "token": signed,
            "expires_in": settings.token_ttl,
            "ws_url": settings.ws_url,
            "rooms": claims["rooms"],
        }
    )
