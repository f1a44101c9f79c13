"""The chat's HTTP API (aiohttp): login, rooms, history, uploads, and the send endpoint.

Every JSON reply is ``{"code": 0 | error code, "msg": ..., "data": ...}``. The send
endpoint (``POST /api/send``, the document's ``send2Server``) adds the logged-in
user's nickname and avatar to what the page posts and pushes it through the
cluster's push client to the room's group, or to both users of a private message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from business import AsyncGatewayClient

from . import frames, media
from .db import AsyncStore, Room, User
from .frames import BadRequest, result

log = logging.getLogger(__name__)

COOKIE = "chat_token"
STATIC = Path(__file__).resolve().parent / "static"
AVATARS = tuple(f"/static/avatars/{n}.svg" for n in range(1, 9))
MAX_NICKNAME = 16
MAX_ROOM_NAME = 20


@dataclass
class Settings:
    ws_url: str
    uploads: Path


STORE = web.AppKey("store", AsyncStore)
PUSH = web.AppKey("push", AsyncGatewayClient)
SETTINGS = web.AppKey("settings", Settings)
routes = web.RouteTableDef()


def reply(data: Any = None, msg: str = "success", code: int = 0, status: int = 200) -> web.Response:
    return web.json_response(
        result(data, msg, code), status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refusals become JSON replies with the refusal's code."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except BadRequest as exc:
        return reply(None, exc.msg, exc.code, exc.status)


async def _user(request: web.Request) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await request.app[STORE].run(lambda s: s.user_by_token(token))


async def _logged_in(request: web.Request) -> User:
    user = await _user(request)
    if user is None:
        raise BadRequest("请先登录", code=401, status=401)
    return user


async def _room(request: web.Request, room_id: Any) -> Room:
    try:
        number = int(room_id)
    except (TypeError, ValueError):
        raise BadRequest("no such room", status=404) from None
    room = await request.app[STORE].run(lambda s: s.room(number))
    if room is None:
        raise BadRequest("no such room", status=404)
    return room


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("无效的json数据") from None


# -- page and configuration -----------------------------------------------------------
@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get("/api/config")
async def config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return reply({"ws_url": settings.ws_url, "avatars": AVATARS, "max_text": frames.MAX_TEXT,
                  "default_room": 100})  # fmt: skip


# -- login ------------------------------------------------------------------------------
async def _login_form(request: web.Request) -> tuple[str, str | None]:
    """(nickname, avatar) from a JSON body, or from a multipart form with an avatar file."""
    if request.content_type != "multipart/form-data":
        body = await _json(request)
        if not isinstance(body, dict):
            raise BadRequest("请求数据结构无法被解析")
        avatar = body.get("avatar")
        if avatar is not None and avatar not in AVATARS:
            raise BadRequest("unknown avatar")
        return str(body.get("nickname") or ""), avatar
    nickname, avatar = "", None
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "nickname":
            nickname = await part.text()
        elif part.name == "avatar" and not part.filename:
            avatar = await part.text() or None
            if avatar is not None and avatar not in AVATARS:
                raise BadRequest("unknown avatar")
        elif part.name == "avatar_file" and part.filename:
            kind, avatar = await media.save(part, request.app[SETTINGS].uploads, media.MAX_AVATAR)
            if kind != 1:
                raise BadRequest("an avatar is an image")
    return nickname, avatar


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    nickname, avatar = await _login_form(request)
    nickname = nickname.strip()
    if not nickname or len(nickname) > MAX_NICKNAME or not nickname.isprintable():
        raise BadRequest(f"昵称需要1到{MAX_NICKNAME}个可见字符")
    user, token = await request.app[STORE].run(lambda s: s.login(nickname, avatar or AVATARS[0]))
    response = reply(user.public())
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", max_age=30 * 86400)
    return response


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
    return reply((await _logged_in(request)).public())


# -- rooms and people --------------------------------------------------------------------
@routes.get("/api/rooms")
async def rooms(request: web.Request) -> web.Response:
    """Every room with its online connection count (``null`` if the cluster is silent)."""
    found = await request.app[STORE].run(lambda s: s.rooms())
    counts: dict[str, Any] = {}
    if found:
        try:
            counts = await request.app[PUSH].batch_get_client_id_count_by_group(
                [room.id for room in found]
            )
        except Exception as exc:  # the page still works without counts
            log.warning("online counts unavailable: %s", exc)
    return reply([{"id": r.id, "name": r.name, "online": counts.get(str(r.id))} for r in found])


@routes.post("/api/rooms")
async def create_room(request: web.Request) -> web.Response:
    await _logged_in(request)
    body = await _json(request)
    name = str(body.get("name") or "").strip() if isinstance(body, dict) else ""
    if not name or len(name) > MAX_ROOM_NAME or not name.isprintable():
        raise BadRequest(f"房间名需要1到{MAX_ROOM_NAME}个可见字符")
    room = await request.app[STORE].run(lambda s: s.create_room(name))
    return reply({"id": room.id, "name": room.name, "online": 0})


@routes.get("/api/rooms/{room_id}/messages")
async def room_messages(request: web.Request) -> web.Response:
    await _logged_in(request)
    room = await _room(request, request.match_info["room_id"])
    limit = max(1, min(200, int(request.query.get("limit", "50") or 50)))
    history = await request.app[STORE].run(lambda s: s.room_history(room.id, limit))
    return reply([frames.new_msg(m) for m in history])


@routes.get("/api/rooms/{room_id}/members")
async def room_members(request: web.Request) -> web.Response:
    """The distinct users connected to a room (from the gateways' sessions)."""
    await _logged_in(request)
    room = await _room(request, request.match_info["room_id"])
    sessions = await request.app[PUSH].get_client_sessions_by_group(room.id)
    members: dict[str, dict[str, Any]] = {}
    for session in dict(sessions).values():
        uid = str((session or {}).get("from_user_id") or "")
        if uid and uid not in members:
            members[uid] = {"uid": uid, "username": session.get("from_username", ""),
                            "photo": session.get("from_avatar", "")}  # fmt: skip
    return reply({"online": len(sessions), "members": list(members.values())})


@routes.get("/api/users")
async def users(request: web.Request) -> web.Response:
    """Everyone who ever logged in, with ``online`` (a connection bound to their uid)."""
    me = await _logged_in(request)
    everyone = [u for u in await request.app[STORE].run(lambda s: s.users()) if u.id != me.id]
    online: dict[str, Any] = {}
    if everyone:
        try:
            online = await request.app[PUSH].is_uids_online([u.id for u in everyone])
        except Exception as exc:
            log.warning("online flags unavailable: %s", exc)
    return reply([{**u.public(), "online": bool(online.get(str(u.id)))} for u in everyone])


@routes.get("/api/private/{user_id}/messages")
async def private_messages(request: web.Request) -> web.Response:
    me = await _logged_in(request)
    try:
        other = int(request.match_info["user_id"])
    except ValueError:
        raise BadRequest("no such user", status=404) from None
    history = await request.app[STORE].run(lambda s: s.private_history(me.id, other, 50))
    return reply([frames.new_msg(m) for m in history])


# -- uploads and sending ---------------------------------------------------------------------
@routes.post("/api/upload")
async def upload(request: web.Request) -> web.Response:
    """One multipart ``file``: saved, and its URL returned for a media message."""
    await _logged_in(request)
    if request.content_type != "multipart/form-data":
        raise BadRequest("post a multipart form with a file")
    async for part in await request.multipart():
        if isinstance(part, BodyPartReader) and part.name == "file" and part.filename:
            msgtype, url = await media.save(part, request.app[SETTINGS].uploads)
            return reply({"url": url, "msgtype": msgtype})
    raise BadRequest("no file in the form")


@routes.get("/api/send")
async def send_get(request: web.Request) -> web.Response:
    return reply(None, "请用post方法请求接口", code=100, status=405)


@routes.post("/api/send")
async def send(request: web.Request) -> web.Response:
    user = await _logged_in(request)
    order = frames.parse_send(await _json(request))
    store, push = request.app[STORE], request.app[PUSH]
    if order.action_type == "login":
        room = await _room(request, order.group_id)
        frame = frames.new_user_login(user, room.id)
        push.send_to_group(room.id, frame)
        return reply(frame)
    to_uid = order.to_user_id
    if to_uid is not None:
        if to_uid == user.id or await store.run(lambda s: s.user(to_uid)) is None:
            raise BadRequest("no such user", status=404)
    else:
        await _room(request, order.group_id)
    message = await store.run(
        lambda s: s.add_message(user, order.msgtype, order.content, order.group_id, to_uid)
    )
    frame = frames.new_msg(message)
    if to_uid is None:
        push.send_to_group(order.group_id, frame)
    else:
        push.send_to_uid([to_uid, user.id], frame)
    return reply(frame)
