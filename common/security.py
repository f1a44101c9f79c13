"""CURVE keys derived from the shared secret, and the check of a connecting peer's key.

With a secret, every internal socket uses ZeroMQ's CURVE mechanism. The server key
pair and the (shared) client key pair are derived from the secret, so a peer without
it can neither complete the handshake nor read the traffic, and the ZAP handler
additionally checks that the client key is the derived one.
"""

from __future__ import annotations

import hashlib
import logging

import zmq
from zmq.utils import z85

from .logs import Throttled

log = logging.getLogger(__name__)

ZAP_DOMAIN = "gw"


def _derive(secret: str, label: str) -> tuple[bytes, bytes]:
    """A CURVE (public, secret) pair in Z85, derived from the shared secret."""
    raw = hashlib.pbkdf2_hmac("sha256", secret.encode(), f"gw-curve-{label}".encode(), 10_000)
    secret_key = z85.encode(raw)
    return zmq.curve_public(secret_key), secret_key


class Keys:
    """The derived key pairs for one secret."""

    def __init__(self, secret: str) -> None:
        self.server_public, self.server_secret = _derive(secret, "server")
        self.client_public, self.client_secret = _derive(secret, "client")


class Credentials:
    """The ZAP callback: a client key is accepted if it is the one our secret derives."""

    def __init__(self, keys: Keys) -> None:
        self._client_key = keys.client_public
        self._log = Throttled(log, 10.0)  # a peer retrying forever must not flood the log

    def callback(self, domain: str, key: bytes) -> bool:
        if key == self._client_key:
            return True
        self._log.warning(
            "key", "refused an internal peer: its CURVE key is not derived from our --secret"
        )
        return False
