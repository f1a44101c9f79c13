"""Password hashing with the standard library's scrypt (pure, CPU-bound: call it on a thread).

A stored hash is self-describing, so the cost can be raised later without
breaking existing accounts::

    scrypt$<log2 n>$<r>$<p>$<salt, base64>$<hash, base64>

n = 2**14, r = 8, p = 1 is scrypt's interactive-login setting (16 MiB, tens of
milliseconds): slow enough that a stolen table is expensive to guess through, fast
enough for a login. Verification compares in constant time, and :func:`verify`
against :data:`DUMMY` costs the same as a real check, so that an unknown nickname
takes as long to refuse as a wrong password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

LOG2_N, R, P = 14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 6, 128  # characters


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=HASH_BYTES,
        maxmem=256 * n * r * p,  # 2x what scrypt needs: never the reason it fails
    )


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The string to store for ``password`` (a fresh random salt unless given)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _derive(password, salt, LOG2_N, R, P)
    return f"scrypt${LOG2_N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored``; False for anything malformed or None."""
    try:
        scheme, log2_n, r, p, salt, digest = (stored or DUMMY).split("$")
        if scheme != "scrypt" or not 1 <= int(log2_n) <= 20:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _derive(
            password, base64.b64decode(salt, validate=True), int(log2_n), int(r), int(p)
        )
    except ValueError:  # wrong field count, not numbers, not base64, bad parameters
        return False
    return hmac.compare_digest(actual, expected) and stored is not None


def policy_error(password: str) -> str | None:
    """Why a new password is refused, or None (length only: people pick phrases)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"密码需要{MIN_LENGTH}到{MAX_LENGTH}个字符"
    return None


# A valid hash of a random password: checking against it costs a real check.
DUMMY = hash_password(secrets.token_urlsafe(16), salt=b"\0" * SALT_BYTES)
