"""Whether a state-changing request comes from the page itself (pure: no I/O).

A browser attaches the user's cookies to requests other sites make it send: a form a
page on another port of the same host posts (``SameSite=Lax`` does not stop it: the
ports differ, the site is the same), or a ``fetch`` in ``no-cors`` mode. Such a
request can only be a "simple" one: a body that is urlencoded, multipart or
``text/plain`` (or none), and no header of its own. So every request that changes
anything (any method but GET, HEAD and OPTIONS) is refused unless all hold:

1. ``Sec-Fetch-Site``, if the browser sent it, is ``same-origin`` (or ``none``: the
   user's own action, such as a bookmark; never another site's);
2. ``Origin``, if sent, is the backend's own: its host and port are those of the
   ``Host`` header (default ports aside; ``null``, which sandboxed frames and some
   redirects send, never is). The scheme is not compared: one port speaks one
   protocol, and behind a proxy that ends TLS the backend sees plain HTTP;
3. the body is JSON (``application/json``, which a browser sends to another origin
   only after a CORS preflight, and this backend grants none), or the request
   carries the page's token in the ``X-CSRF-Token`` header (a header another origin
   cannot add without a preflight either, holding a value it cannot read).

Browsers send ``Origin`` on every POST and ``Sec-Fetch-Site`` on requests to HTTPS
and to localhost; the page passes all three. A client that sends neither header
(curl, a script, the tests) is not a browser, so it carries no one's cookies but
its own: rules 1 and 2 let it through, and rule 3 asks it for JSON, or for the token
of ``GET /api/config`` (with the cookie that call sets) on a form or an empty body.

The token is HMAC-SHA256 of the browser's ``chat_csrf`` cookie (random, HttpOnly,
SameSite=Strict, set by ``GET /api/config``, which also answers the token) under
the backend's secret. Another site on the same host can set that cookie (cookies
ignore ports) but can neither compute a token for it nor read our answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
CROSS_SITE = "拒绝跨站请求"
STALE = "页面已过期，请刷新后再试"
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


@dataclass(frozen=True, slots=True)
class ForgedRequest:
    """A state-changing request that may come from another site (CSRF): refused."""

    reason: str  # for the log (no secret in it)
    msg: str  # for the user


def token(secret: str, cookie: str) -> str:
    """The CSRF token of a browser's ``chat_csrf`` cookie."""
    mac = hmac.new(secret.encode(), b"csrf|" + cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_ok(secret: str, cookie: str | None, given: str | None) -> bool:
    """Whether ``given`` is the token of ``cookie`` (compared in constant time)."""
    if not cookie or not given:
        return False
    return hmac.compare_digest(token(secret, cookie).encode(), given.encode())


def _host(netloc: str, scheme: str) -> str:
    """``host[:port]`` lowercased, without the scheme's default port."""
    return netloc.lower().removesuffix(_DEFAULT_PORTS[scheme])


def same_origin(origin: str, host: str) -> bool:
    """Whether an ``Origin`` header names the backend that the ``Host`` header names."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return False
    return _host(parts.netloc, parts.scheme) == _host(host, parts.scheme)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def refusal(
    method: str,
    *,
    origin: str | None,
    fetch_site: str | None,
    host: str,
    content_type: str | None,
    has_token: bool,
) -> ForgedRequest | None:
    """Why a request must be refused (None: it may go on). ``has_token``: it carries
    the right token (:func:`token_ok`)."""
    if method.upper() in SAFE_METHODS:
        return None
    if fetch_site is not None and fetch_site.lower() not in TRUSTED_FETCH_SITES:
        return ForgedRequest(f"Sec-Fetch-Site {fetch_site[:40]!r}", CROSS_SITE)
    if origin is not None and not same_origin(origin, host):
        return ForgedRequest(f"Origin {origin[:100]!r} on host {host[:100]!r}", CROSS_SITE)
    if _media_type(content_type) != "application/json" and not has_token:
        return ForgedRequest(
            f"{_media_type(content_type) or 'no body type'} without a token", STALE
        )
    return None
