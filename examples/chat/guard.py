"""What the backend tells browsers about every response: the page's security policy.

Every response carries (unless its handler set its own, as uploads do:
:mod:`examples.chat.media`):

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

from urllib.parse import urlsplit

from aiohttp import web

from .context import SETTINGS

COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


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
