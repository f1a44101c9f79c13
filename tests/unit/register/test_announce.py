"""register.server.announce_problem: what a gateway may announce (pure)."""

from __future__ import annotations

import pytest

from common.frames import Announce
from register.server import announce_problem


def test_a_gateway_announce_is_accepted() -> None:
    assert announce_problem(Announce("tcp://10.77.0.2:2900", "10.77.0.2:8783", 7)) is None
    assert announce_problem(Announce("tcp://127.0.0.1:1", "", 1)) is None


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("tcp://0.0.0.0:2900", "unspecified"),
        ("tcp://224.0.0.1:2900", "not a unicast"),
        ("tcp://255.255.255.255:2900", "not a unicast"),
        ("tcp://10.0.0.1:0", "port"),
        ("tcp://10.0.0.1:65536", "port"),
        ("tcp://10.0.0.1", "port"),
        ("10.0.0.1:2900", "tcp://"),
        ("tcp://010.0.0.1:2900", "IPv4"),  # Python refuses leading zeros
        ("tcp://host.example:2900", "IPv4"),
        ("tcp://[::1]:2900", "IPv4"),
        ("tcp://10.0.0.1:29 00", "port"),
        ("tcp://10.0.0.1:２９００", "port"),  # fullwidth digits: isdigit() says yes
        ("tcp://" + "1" * 80 + ":1", "short"),
    ],
)
def test_a_malformed_internal_address_is_refused(address: str, why: str) -> None:
    problem = announce_problem(Announce(address, "x:1", 7))
    assert problem is not None and why in problem


def test_a_bad_public_address_or_epoch_is_refused() -> None:
    assert announce_problem(Announce("tcp://10.0.0.1:1", "x" * 256, 7)) is not None
    assert announce_problem(Announce("tcp://10.0.0.1:1", "a\nb:1", 7)) is not None
    assert announce_problem(Announce("tcp://10.0.0.1:1", "x:1", 0)) is not None
    assert announce_problem(Announce("tcp://10.0.0.1:1", "x:1", 1 << 32)) is not None
