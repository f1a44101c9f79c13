"""examples.chat.web.remote: the client behind trusted proxies, and its limits' key."""

from __future__ import annotations

import pytest

from examples.chat.web.remote import client, key, networks

PROXIES = networks("10.0.0.0/8, 192.168.1.7")


@pytest.mark.parametrize(
    ("remote", "header", "expected"),
    [
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),  # one proxy
        ("10.1.2.3", "1.2.3.4, 203.0.113.9, 10.9.9.9", "203.0.113.9"),  # two; a forged start
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # not from a proxy: the header is a claim
        ("10.1.2.3", None, "10.1.2.3"),
        ("10.1.2.3", "10.2.2.2, 192.168.1.7", "10.2.2.2"),  # only proxies: the farthest
        ("10.1.2.3", "not-an-ip", "10.1.2.3"),
        ("10.1.2.3", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_is_the_nearest_address_no_proxy_of_ours_wrote(
    remote: str, header: str | None, expected: str
) -> None:
    assert client(remote, header, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client("10.1.2.3", "203.0.113.9", ()) == "10.1.2.3"


def test_limits_count_an_ipv6_client_by_its_64() -> None:
    assert key("2001:db8:1:2:aaaa::1") == key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("::ffff:203.0.113.9") == key("203.0.113.9") == "203.0.113.9"


def test_a_bad_proxy_list_says_which_item() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        networks("10.0.0.1, 10.0.0.300")
