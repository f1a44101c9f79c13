"""Browsers that logged in before: a signed, long-lived device cookie (pure).

At every successful login or registration the backend sets ``chat_device`` to
``<user id>.<nonce>.<mac>``, where the nonce is random (kept across the device's later
logins) and the mac is HMAC-SHA256 of ``device|<user id>|<nonce>`` under the
backend's secret. At a login for that account, a cookie that verifies makes the
attempt *trusted* (:class:`examples.chat.web.throttle.LoginThrottle`): others' failed
guesses on the account do not hold it back, only the failures of this device (its
nonce). A cookie of another account, or one that does not verify, counts for nothing.

The cookie is HttpOnly, SameSite=Strict, sent to ``/api/login`` only, and lasts a year.
It is not a session: it logs no one in and survives logout; a browser remembers the
last account that logged in with it. It proves only that this browser once knew the
password: a password reset does not undo that, and the new password is still needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COOKIE = "chat_device"
PATH = "/api/login"
TTL = 365 * 86400  # seconds


def _mac(secret: str, user_id: int, nonce: str) -> str:
    message = f"device|{user_id}|{nonce}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(secret: str, user_id: int, nonce: str | None = None) -> str:
    """A device cookie for ``user_id``; a new nonce unless the device has one."""
    nonce = nonce or secrets.token_urlsafe(16)
    return f"{user_id}.{nonce}.{_mac(secret, user_id, nonce)}"


def verify(secret: str, cookie: str | None, user_id: int) -> str | None:
    """The device's nonce if ``cookie`` is a valid device cookie of ``user_id``."""
    if not cookie or cookie.count(".") != 2:
        return None
    owner, nonce, mac = cookie.split(".")
    if owner != str(user_id) or not nonce:
        return None
    if not hmac.compare_digest(_mac(secret, user_id, nonce).encode(), mac.encode("utf-8")):
        return None
    return nonce
