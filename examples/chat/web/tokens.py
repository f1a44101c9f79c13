"""The WebSocket tokens the web backend issues and the gateway verifies (pure).

The page never proves who it is to the gateway with its cookie (the gateway is
another origin and must not trust cookies anyway): before each connection it asks
the backend (``POST /api/token``, cookie-authenticated) for a short-lived HS256
JWT signed with the secret the backend shares with the gateway, and connects to
``ws://gateway/?token=...``. The gateway verifies it before the upgrade, binds the
``uid`` claim to the connection and hands the claims to the worker
(:mod:`examples.chat.worker.identity` reads them).

The token is only needed for the handshake, so it lives minutes; a page that
reconnects asks for a new one. Claims are what the worker needs to vouch for the
user without a database: uid, nickname, avatar, the rooms whose groups the
connection joins, and the contacts (the people of the user's private conversations,
the latest :data:`~examples.chat.groups.MAX_CONTACTS`) whose presence it is told.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jwt

from ..groups import MAX_CONTACTS

ALGORITHM = "HS256"
TTL = 300  # seconds
MIN_SECRET = 32  # bytes: RFC 7518 section 3.2 for HS256


def secret_error(secret: str | None) -> str | None:
    """Why ``secret`` cannot sign tokens, or None."""
    if not secret:
        return "an auth secret is required (the gateway's --auth-secret / GW_AUTH_SECRET)"
    if len(secret.encode()) < MIN_SECRET:
        return f"the auth secret must be at least {MIN_SECRET} bytes"
    return None


def claims(
    uid: int,
    nickname: str,
    avatar: str,
    rooms: Iterable[int],
    now: float,
    ttl: int = TTL,
    contacts: Iterable[int] = (),
) -> dict[str, Any]:
    """The claims of one connection's token, issued at ``now`` (seconds); ``contacts``
    the latest first (the first :data:`~examples.chat.groups.MAX_CONTACTS` are kept)."""
    issued = int(now)
    kept = list(dict.fromkeys(c for c in contacts if c != uid))[:MAX_CONTACTS]
    return {
        "uid": str(uid),
        "nickname": nickname,
        "avatar": avatar,
        "rooms": sorted(set(rooms)),
        "contacts": sorted(kept),
        "iat": issued,
        "exp": issued + ttl,
    }


def issue(secret: str, payload: dict[str, Any]) -> str:
    """Sign ``payload`` (see :func:`claims`)."""
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> dict[str, Any]:
    """The claims of a token signed with ``secret``; :class:`jwt.InvalidTokenError` if
    forged, malformed or expired (what the gateway does, for tests and tools)."""
    found: dict[str, Any] = jwt.decode(
        token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "uid"]}
    )
    return found
