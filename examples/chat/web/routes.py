"""The page, its configuration, the uploaded files, and the whole HTTP API's route table.

The API is split by concern: :mod:`examples.chat.web.accounts` (register, login,
tokens), :mod:`examples.chat.web.rooms` (rooms, membership, members) and
:mod:`examples.chat.web.conversations` (sending, history, updates, contacts, uploads),
:mod:`examples.chat.web.unread` (marking conversations read);
:data:`ROUTES` is all of them, for :func:`examples.chat.web.server.make_app`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from . import accounts, conversations, guard, media, payloads, rooms, unread
from .state import AVATARS, DEFAULT_ROOM, SETTINGS, STATIC, reply

routes = web.RouteTableDef()
# The page's connection logic is the repository's JavaScript client, served from where
# it lives (one copy, no build step): the page imports it as /static/gateway-client.js.
CLIENT_JS = Path(__file__).resolve().parents[3] / "clients" / "js" / "gateway-client.js"


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get("/static/gateway-client.js")
async def client_js(request: web.Request) -> web.FileResponse:
    # an installed package (the image) has it among the page's files: no checkout there
    return web.FileResponse(CLIENT_JS if CLIENT_JS.exists() else STATIC / "gateway-client.js")


@routes.get("/api/config")
async def config(request: web.Request) -> web.Response:
    """What the page needs first, with its CSRF token (``csrf``: the ``X-CSRF-Token``
    of its posts, :mod:`examples.chat.web.origin`); ``max_upload`` and ``max_avatar`` (bytes)
    let it refuse a file too big before sending it."""
    settings = request.app[SETTINGS]
    token, new_cookie = guard.grant(request)
    response = reply(
        {
            "ws_url": settings.ws_url,
            "avatars": AVATARS,
            "max_text": payloads.MAX_TEXT,
            "max_upload": media.MAX_UPLOAD,
            "max_avatar": media.MAX_AVATAR,
            "default_room": DEFAULT_ROOM,
            "csrf": token,
        }
    )
    if new_cookie:
        guard.set_cookie(response, new_cookie)
    return response


@routes.get("/uploads/{name}")
async def uploads(request: web.Request) -> web.FileResponse:
    """An uploaded file, typed by its bytes (:func:`examples.chat.web.media.serve`)."""
    return await media.serve(request, request.app[SETTINGS].uploads)


ROUTES: tuple[web.RouteTableDef, ...] = (
    routes,
    accounts.routes,
    rooms.routes,
    conversations.routes,
    unread.routes,
)
