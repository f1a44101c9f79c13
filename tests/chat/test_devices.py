"""Device cookies of browsers that logged in before (examples/chat/web/devices.py): pure."""

from __future__ import annotations

import pytest

from examples.chat.web import devices

SECRET = "s" * 40


def test_a_cookie_names_its_account_and_keeps_its_nonce():
    cookie = devices.issue(SECRET, 7)
    nonce = devices.verify(SECRET, cookie, 7)
    assert nonce and cookie.startswith("7." + nonce + ".")
    again = devices.issue(SECRET, 7, nonce)  # the device logs in again: the same device
    assert devices.verify(SECRET, again, 7) == nonce
    assert devices.verify(SECRET, devices.issue(SECRET, 7), 7) != nonce  # a new device
    assert SECRET not in cookie


def test_it_counts_for_its_own_account_only():
    cookie = devices.issue(SECRET, 7)
    assert devices.verify(SECRET, cookie, 8) is None
    assert devices.verify("t" * 40, cookie, 7) is None


@pytest.mark.parametrize(
    "cookie", [None, "", "7", "7.abc", "7..mac", "7.a.b.c", "x.y.z", "7.nonce.AAAA", "7.nonce.é"]
)
def test_anything_else_counts_for_nothing(cookie):
    assert devices.verify(SECRET, cookie, 7) is None


def test_a_tampered_cookie_counts_for_nothing():
    owner, nonce, mac = devices.issue(SECRET, 7).split(".")
    assert devices.verify(SECRET, f"8.{nonce}.{mac}", 8) is None
    assert devices.verify(SECRET, f"{owner}.{nonce}x.{mac}", 7) is None
    assert devices.verify(SECRET, f"{owner}.{nonce}.{mac[:-1]}", 7) is None
