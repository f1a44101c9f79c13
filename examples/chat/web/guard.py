"""The browser's side of security: requests from other sites refused, and what every
response tells the browser.

:func:`same_origin` (a middleware) refuses a state-changing request that another site
could have made the user's browser send, by the rules of :mod:`examples.chat.web.origin`
(403 ``拒绝跨站请求``, or 403 ``页面已过期，请刷新后再试`` for a form or an empty body
without the page's token), with a rate-limited log line; :func:`grant` gives a
browser its token (``GET /api/config``), and a new ``chat_csrf`` cookie to make it
from if the browser has none.

Every response carries (unless its handler set its own, as uploads do:
:mod:`examples.chat.web.media`):

- ``Content-Security-Policy`` (:func:`page_policy`): scripts, styles, images and media
  from the page's own origin only, no inline script, style or event handler
  (``'self'`` without ``'unsafe-inline'``), connections to the page's origin and the
  gateway's WebSocket only, no plugins, no ``<base>``, forms post only here, and no
  other site may frame the page. Text from the server is always set as text, and this
  is what holds if some day it is not.
- ``X-Content-Type-Options: nosniff``: every response is what its type says.
- ``Referrer-Policy: same-origin``: other sites are not told which page linked them.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from common.logs import Throttled

from . import origin
from .payloads import BadRequest
from .state import SETTINGS

log = logging.getLogger(__name__)
quiet = Throttled(log)  # lines any other site can cause
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
CSRF_COOKIE = "chat_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_COOKIE_TTL = 365 * 86400  # seconds: a page reopened with the browser still works


@web.middleware
async def same_origin(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse a state-changing request that did not come from the page itself."""
    if request.method not in origin.SAFE_METHODS:
        secret = request.app[SETTINGS].auth_secret
        has_token = origin.token_ok(
            secret, request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
        )
        refused = origin.refusal(
            request.method,
            origin=request.headers.get("Origin"),
            fetch_site=request.headers.get("Sec-Fetch-Site"),
            host=request.host,
            content_type=request.headers.get("Content-Type"),
            has_token=has_token,
        )
        if refused is not None:
            quiet.warning(
                "refused",
                "refused %s %r from %s: %s",
                request.method,
                request.path[:100],
                request.remote,
                refused.reason,
            )
            raise BadRequest(refused.msg, status=403)
    return await handler(request)  # type: ignore[no-any-return]


def grant(request: web.Request) -> tuple[str, str | None]:
    """The browser's CSRF token, and the new cookie it is made from if the browser has
    none (the caller sets it on its response with :func:`set_cookie`)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    new = None if cookie else secrets.token_urlsafe(32)
    return origin.token(request.app[SETTINGS].auth_secret, cookie or str(new)), new


def set_cookie(response: web.StreamResponse, cookie: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, cookie, httponly=True, samesite="Strict", max_age=CSRF_COOKIE_TTL, path="/"
    )


def page_policy(ws_url: str) -> str:
    """The page's Content-Security-Policy; ``ws_url`` is the gateway it connects to."""
    parts = urlsplit(ws_url)
    gateway = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"media-src 'self'; connect-src 'self'{gateway}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers above, on every response (static files and
    refusals included), where the handler did not set its own."""
    headers = response.headers
    for name, value in COMMON_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", request.app[SETTINGS].page_policy)
