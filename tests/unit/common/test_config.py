"""common.config: the checks of addresses."""

from __future__ import annotations

import pytest

from common.config import GatewayConfig, check_lan_ip, public_address
from common.exceptions import ConfigError


@pytest.mark.parametrize("good", ["127.0.0.1", "10.1.2.3", "192.168.0.10"])
def test_concrete_lan_ips(good: str) -> None:
    assert check_lan_ip(good) == good


@pytest.mark.parametrize("bad", ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "host", ""])
def test_lan_ips_nobody_can_reach(bad: str) -> None:
    with pytest.raises(ConfigError, match="--lan-ip"):
        check_lan_ip(bad)


def test_the_reported_websocket_address() -> None:
    config = GatewayConfig(lan_ip="10.0.0.5")
    assert public_address(config, "127.0.0.1", 8783) == "127.0.0.1:8783"
    assert public_address(config, "0.0.0.0", 8783) == "10.0.0.5:8783"  # never 0.0.0.0
    assert public_address(config, "::", 8783) == "10.0.0.5:8783"
    chosen = GatewayConfig(lan_ip="10.0.0.5", public_address="chat.example:443")
    assert public_address(chosen, "0.0.0.0", 8783) == "chat.example:443"
