"""gateway.addresses: made before the gateway binds, set once when it has."""

from __future__ import annotations

import pytest

from gateway.addresses import Addresses


def test_empty_until_bound_then_read_only_and_set_once() -> None:
    where = Addresses(0xCAFE, "10.0.0.5")
    assert (where.internal, where.public, where.internal_port, where.public_port) == ("", "", 0, 0)
    where.bound("tcp://10.0.0.5:2901", "0.0.0.0", 8783, "10.0.0.5:8783")
    assert where.internal == "tcp://10.0.0.5:2901" and where.internal_port == 2901
    assert where.listen == "0.0.0.0:8783" and where.public_port == 8783
    assert where.public == "10.0.0.5:8783" and where.lan_ip == "10.0.0.5"
    assert where.epoch == 0xCAFE
    with pytest.raises(AttributeError):
        where.internal = "tcp://elsewhere:1"  # type: ignore[misc]
    with pytest.raises(RuntimeError, match="set once"):
        where.bound("tcp://10.0.0.5:2902", "0.0.0.0", 8784, "10.0.0.5:8784")
