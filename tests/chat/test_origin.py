"""Which state-changing requests come from the page itself (examples/chat/web/origin.py): pure."""

from __future__ import annotations

import pytest

from examples.chat.web import origin
from examples.chat.web.origin import CROSS_SITE, STALE, refusal

SECRET = "s" * 40
HOST = "127.0.0.1:8080"


def check(
    method: str = "POST",
    *,
    origin_: str | None = None,
    site: str | None = None,
    host: str = HOST,
    ctype: str | None = "application/json",
    token: bool = False,
) -> str | None:
    found = refusal(
        method, origin=origin_, fetch_site=site, host=host, content_type=ctype, has_token=token
    )
    return None if found is None else found.msg


def test_the_page_itself_passes():
    page = {"origin_": "http://127.0.0.1:8080", "site": "same-origin"}
    assert check(**page) is None
    assert check(**page, ctype="application/json; charset=utf-8") is None
    assert check(**page, ctype="multipart/form-data; boundary=x", token=True) is None
    assert check(**page, ctype=None, token=True) is None  # an empty POST with its token


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_reads_are_never_refused(method):
    assert (
        check(method, origin_="http://evil.example", site="cross-site", ctype="text/plain") is None
    )


@pytest.mark.parametrize("site", ["same-site", "cross-site", "SAME-SITE", "anything"])
def test_another_site_is_refused_whatever_it_sends(site):
    for ctype, token in (("application/json", True), ("text/plain", False)):
        assert check(site=site, ctype=ctype, token=token) == CROSS_SITE


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:9999",  # another port of the same host: the attack
        "http://localhost:8080",
        "http://127.0.0.1",
        "null",
        "http://127.0.0.1:8080.evil.example",
        "ftp://127.0.0.1:8080",
        "",
        "http://[::1",
    ],
)
def test_another_origin_is_refused(given):
    assert check(origin_=given, token=True) == CROSS_SITE


def test_the_scheme_is_not_compared():
    # one port speaks one protocol: https on this host:port is this server, behind a
    # proxy that ends TLS (the backend then sees http)
    assert check(origin_="https://127.0.0.1:8080") is None


def test_default_ports_compare_equal_but_only_for_their_scheme():
    assert check(origin_="https://chat.example", host="chat.example:443") is None
    assert check(origin_="https://chat.example:443", host="chat.example") is None
    assert check(origin_="http://chat.example", host="chat.example:80") is None
    assert check(origin_="http://chat.example", host="chat.example:443") == CROSS_SITE
    assert check(origin_="HTTP://Chat.Example:8080", host="chat.example:8080") is None


def test_a_simple_request_needs_the_token():
    # a browser that sent neither header (an old one), or a client that is not a browser
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        assert check(ctype=ctype) == STALE
        assert check(ctype=ctype, token=True) is None
    assert check(site="none", ctype="text/plain") == STALE
    assert check(ctype="application/json") is None  # curl with JSON: not a browser


def test_tokens_are_bound_to_their_cookie_and_secret():
    token = origin.token(SECRET, "cookie-a")
    assert origin.token_ok(SECRET, "cookie-a", token)
    assert not origin.token_ok(SECRET, "cookie-b", token)
    assert not origin.token_ok("t" * 40, "cookie-a", token)
    assert not origin.token_ok(SECRET, "cookie-a", token[:-1])
    assert not origin.token_ok(SECRET, "", origin.token(SECRET, ""))
    assert not origin.token_ok(SECRET, "cookie-a", None)
    assert not origin.token_ok(SECRET, "cookie-a", "é" + token)  # not ASCII: no exception
    assert token == origin.token(SECRET, "cookie-a") and SECRET not in token


def test_the_log_reason_is_bounded():
    found = refusal(
        "POST",
        origin="http://x/" + "a" * 5000,
        fetch_site=None,
        host=HOST,
        content_type="application/json",
        has_token=False,
    )
    assert found is not None and len(found.reason) < 300
