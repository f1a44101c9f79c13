"""Who may open a WebSocket here, decided before the upgrade (pure, no I/O).

In order, for each upgrade request:

1. **caps**: past ``--max-connections`` connections of this process, or
   ``--max-connections-per-ip`` of one address: 503;
2. **origin**: with ``--allowed-origins``, a request whose ``Origin`` is not listed:
   403 (a request without ``Origin`` is not from a browser page, and passes);
3. **token**: with ``--auth-secret``, an HS256 JWT from the ``token`` query parameter
   or an ``Authorization: Bearer`` header, verified with PyJWT (signature, ``exp``
   required, ``nbf``); missing (unless ``--auth-optional``), forged or expired: 401.
   Its claims are the client's identity; a ``uid`` claim is bound by the gateway
   before the first event reaches a worker;
4. **hook**: with ``--auth-hook PACKAGE.MODULE:FUNCTION``, the function gets the
   request data (what ``on_websocket_connect`` gets, with ``auth`` = the verified
   claims or None) and returns the claims (a dict), None (anonymous), or an HTTP
   status (an int) to refuse. It runs on the gateway's event loop: keep it quick.

The result is an :class:`Admission` (accepted, with claims or None) or a
:class:`Refusal` (status, a text for the client, and a reason for the log that never
carries the token).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from common.imports import load_callable

Hook = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Admission:
    """Accepted; ``claims`` is the verified identity (None: anonymous)."""

    claims: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Refused with an HTTP ``status``; ``reason`` is for the log, ``kind`` one of a
    few fixed words (the log's rate limit is per kind: never the client's words)."""

    status: int
    text: str
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class Policy:
    """The admission settings of one gateway (all off by default)."""

    max_connections: int = 0
    max_connections_per_ip: int = 0
    allowed_origins: tuple[str, ...] = ()
    auth_secret: str | None = None
    auth_optional: bool = False
    hook: Hook | None = None

    @property
    def checks_identity(self) -> bool:
        return self.auth_secret is not None or self.hook is not None


def load_hook(path: str) -> Hook:
    """Import ``PACKAGE.MODULE:FUNCTION``; a clear ConfigError if that fails."""
    hook: Hook = load_callable(path, "--auth-hook")
    return hook


def check_caps(policy: Policy, connections: int, from_ip: int) -> Refusal | None:
    """``connections`` of this process and ``from_ip`` of the peer's address, this one
    included."""
    if policy.max_connections and connections > policy.max_connections:
        return Refusal(503, "Too many connections.\n", "max-connections", "caps")
    if policy.max_connections_per_ip and from_ip > policy.max_connections_per_ip:
        return Refusal(
            503, "Too many connections from your address.\n", "max-connections-per-ip", "caps"
        )
    return None


def check_origin(policy: Policy, headers: Mapping[str, str]) -> Refusal | None:
    if not policy.allowed_origins:
        return None
    origin = headers.get("origin")
    if origin is None or origin in policy.allowed_origins:
        return None
    return Refusal(403, "Origin not allowed.\n", f"origin {origin[:100]!r} not allowed", "origin")


def token_of(path: str, headers: Mapping[str, str]) -> str | None:
    """The bearer token of a request: ``Authorization: Bearer``, else ``?token=``."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for name, value in parse_qsl(urlsplit(path).query, keep_blank_values=True):
        if name == "token" and value:
            return value
    return None


def verify(token: str, secret: str, now: float) -> dict[str, Any] | Refusal:
    """The claims of a valid HS256 token, or the 401 refusal saying why (for the log)."""
    import jwt  # PyJWT loads cryptography (~50 ms): only for a gateway that verifies

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={
                "require": ["exp"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        return Refusal(401, "Invalid token.\n", f"token refused: {type(exc).__name__}", "token")
    exp, nbf = claims.get("exp"), claims.get("nbf", -math.inf)
    if not isinstance(exp, int | float) or isinstance(exp, bool) or now >= exp:
        return Refusal(401, "Token expired.\n", "token refused: expired", "token")
    if not isinstance(nbf, int | float) or now < nbf:
        return Refusal(401, "Token not yet valid.\n", "token refused: not yet valid", "token")
    if not valid_uid(claims.get("uid")):
        return Refusal(401, "Invalid token.\n", "token refused: bad uid claim", "token")
    return claims


def valid_uid(uid: Any) -> bool:
    """No uid, or one the gateway can bind (a str or int, not 0 or "")."""
    if uid is None:
        return True
    return isinstance(uid, str | int) and not isinstance(uid, bool) and str(uid) not in ("", "0")


def admit(
    policy: Policy,
    path: str,
    headers: Mapping[str, str],
    now: float,
    data: Callable[[dict[str, Any] | None], dict[str, Any]],
) -> Admission | Refusal:
    """The identity checks (origin, token, hook) of one request.

    ``headers`` have lower-case names. ``data(claims)`` builds the request data the
    hook gets (only called when there is a hook).
    """
    refused = check_origin(policy, headers)
    if refused is not None:
        return refused
    claims: dict[str, Any] | None = None
    if policy.auth_secret is not None:
        token = token_of(path, headers)
        if token is None:
            if not policy.auth_optional:
                return Refusal(401, "Authentication required.\n", "no token", "token")
        else:
            verified = verify(token, policy.auth_secret, now)
            if isinstance(verified, Refusal):
                return verified
            claims = verified
    if policy.hook is not None:
        answer = policy.hook(data(claims))
        if isinstance(answer, bool) or not (answer is None or isinstance(answer, dict | int)):
            raise TypeError(
                f"--auth-hook returned {type(answer).__name__}: "
                "expected a dict, None or an HTTP status"
            )
        if isinstance(answer, int):
            return Refusal(answer, "Refused.\n", f"refused by --auth-hook ({answer})", "hook")
        if answer is not None and not valid_uid(answer.get("uid")):
            raise TypeError(f"--auth-hook returned a bad uid: {answer.get('uid')!r}")
        claims = answer
    return Admission(claims)
