"""WebSocket tokens (examples/chat/web/tokens.py): claims, signature, expiry."""

from __future__ import annotations

import time

import jwt
import pytest

from examples.chat.web import tokens

SECRET = "s" * 32


def test_claims_are_what_the_worker_needs():
    claims = tokens.claims(7, "阿克苏", "/a.svg", [101, 100, 101], now=1000.7, ttl=300)
    assert claims == {
        "uid": "7",
        "nickname": "阿克苏",
        "avatar": "/a.svg",
        "rooms": [100, 101],
        "contacts": [],
        "iat": 1000,
        "exp": 1300,
    }


def test_contacts_are_the_latest_talked_to_never_oneself():
    from examples.chat.groups import MAX_CONTACTS

    latest_first = [9, 7, 3, 9, *range(1000, 1000 + MAX_CONTACTS)]
    claims = tokens.claims(7, "x", "", [], now=1000, contacts=latest_first)
    assert len(claims["contacts"]) == MAX_CONTACTS  # a token stays small
    assert {9, 3} <= set(claims["contacts"]) and 7 not in claims["contacts"]
    assert 1000 + MAX_CONTACTS - 1 not in claims["contacts"]  # the one talked to longest ago


def test_a_token_round_trips_and_a_forgery_does_not():
    claims = tokens.claims(7, "阿克苏", "/a.svg", [100], now=time.time())
    token = tokens.issue(SECRET, claims)
    assert tokens.verify(SECRET, token) == claims
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        tokens.verify("t" * 32, token)
    forged = jwt.encode({**claims, "uid": "8"}, "t" * 32, algorithm="HS256")
    with pytest.raises(jwt.InvalidSignatureError):
        tokens.verify(SECRET, forged)


def test_an_expired_token_is_refused():
    claims = tokens.claims(7, "x", "", [], now=time.time() - 1000, ttl=300)
    with pytest.raises(jwt.ExpiredSignatureError):
        tokens.verify(SECRET, tokens.issue(SECRET, claims))


def test_secrets():
    assert tokens.secret_error(None) and tokens.secret_error("")
    assert tokens.secret_error("x" * 31) == "the auth secret must be at least 32 bytes"
    assert tokens.secret_error("密" * 11) is None  # 33 bytes in UTF-8
