"""Password hashing (examples/chat/web/passwords.py): scrypt, self-describing, constant time."""

from __future__ import annotations

import pytest

from examples.chat.web import passwords


def test_hash_then_verify():
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("scrypt$14$8$1$")
    assert passwords.verify("correct horse", stored)
    assert not passwords.verify("correct horse!", stored)
    assert not passwords.verify("", stored)


def test_salts_differ_and_a_given_salt_repeats():
    assert passwords.hash_password("pw") != passwords.hash_password("pw")
    salt = b"s" * 16
    assert passwords.hash_password("pw", salt) == passwords.hash_password("pw", salt)


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "plain",
        "md5$x",
        "scrypt$14$8$1$!!$!!",
        "scrypt$99$8$1$AAAA$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$14$8$1$AAAA",
    ],
)
def test_malformed_or_missing_hashes_never_match(stored):
    assert not passwords.verify("pw", stored)


def test_a_missing_hash_costs_a_real_check(monkeypatch):
    """An unknown account takes as long to refuse as a wrong password (no timing oracle):
    one scrypt, with the same cost parameters (counted, not timed)."""
    stored = passwords.hash_password("pw")
    calls = []
    derive = passwords._derive
    monkeypatch.setattr(passwords, "_derive", lambda *a: calls.append(a[2:]) or derive(*a))
    assert not passwords.verify("guess", stored)
    assert not passwords.verify("guess", None)
    assert calls == [(passwords.LOG2_N, passwords.R, passwords.P)] * 2


def test_policy():
    assert passwords.policy_error("12345") == "密码需要6到128个字符"
    assert passwords.policy_error("123456") is None
    assert passwords.policy_error("密" * 128) is None
    assert passwords.policy_error("x" * 129) is not None
