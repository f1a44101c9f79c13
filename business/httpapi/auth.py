"""Who may call the HTTP API: API keys, compared in constant time (pure).

Keys come from ``--api-key`` (repeated) or ``GW_API_KEY`` (comma-separated): several
at once, so that a key can be rotated (add the new one, move the backends over,
drop the old one). A request carries one in ``Authorization: Bearer <key>`` or
``Authorization: apikey <key>``. The key given is hashed (SHA-256) and compared with
every configured key's hash by :func:`hmac.compare_digest`: the time taken says
nothing about how much of a key was right, nor about which key matched, nor about a
key's length. A key is never logged nor echoed: a refusal says why (no header,
another scheme, a wrong key), never what was sent.

Without a key the API refuses to start, unless it listens on a loopback address
and ``--insecure`` says so (a development cluster: ``gw up --api-port``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable

from common.config import is_loopback
from common.exceptions import ConfigError

MIN_KEY_LENGTH = 16
SCHEMES = ("bearer", "apikey")
MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


class BadCredentials(enum.Enum):
    """Why a request's credentials were refused (what the 401 says)."""

    NO_HEADER = "no Authorization header: send 'Authorization: Bearer <key>'"
    SCHEME = "the Authorization header is 'Bearer <key>' or 'apikey <key>'"
    WRONG_KEY = "wrong API key"


def parse_keys(values: Iterable[str]) -> tuple[str, ...]:
    """Every key of ``--api-key`` values (each may hold several, comma-separated)."""
    keys = tuple(dict.fromkeys(k.strip() for v in values for k in v.split(",") if k.strip()))
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise ConfigError(
                f"API key #{number} is not a key: {MIN_KEY_LENGTH} printable ASCII characters "
                f"or more (make one with: {MAKE_ONE})"
            )  # the key itself is never shown
    return keys


def check_exposure(keys: tuple[str, ...], host: str, insecure: bool) -> None:
    """Refuse to serve without a key, but on loopback with ``--insecure``."""
    if keys:
        return
    if not insecure:
        raise ConfigError(
            "no API key: give --api-key or GW_API_KEY (several, comma-separated, to rotate "
            f"them; make one with: {MAKE_ONE}); --insecure serves without a key, on a "
            "loopback address only"
        )
    if not is_loopback(host):
        raise ConfigError(
            f"--insecure serves without an API key on a loopback address only, not on "
            f"{host}: give --api-key or GW_API_KEY"
        )


class KeyRing:
    """The configured keys' hashes; :meth:`identify` says which one a request carries."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [hashlib.sha256(key.encode()).digest() for key in keys]

    @property
    def open(self) -> bool:
        """No key: every request is let in (``--insecure`` on loopback)."""
        return not self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, header: str | None) -> int | BadCredentials:
        """The number (from 1) of the key an ``Authorization`` header carries, or why not."""
        if not header:
            return BadCredentials.NO_HEADER
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() not in SCHEMES or not token.strip():
            return BadCredentials.SCHEME
        digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).digest()
        found = 0
        for number, known in enumerate(self._digests, 1):  # every key, every time
            if hmac.compare_digest(digest, known) and not found:
                found = number
        return found or BadCredentials.WRONG_KEY
