"""business.control.render: gw status for people (no sockets)."""

from __future__ import annotations

from typing import Any

from business.control import render


def gateway(push_clients: list[str]) -> dict[str, Any]:
    return {
        "websocket": "127.0.0.1:8783",
        "pid": 1,
        "clients": 2,
        "uids": 0,
        "groups": 0,
        "workers": {},
        "pending_events": 0,
        "rss_bytes": 1 << 20,
        "push_clients": push_clients,
    }


def test_push_clients_are_shown_with_the_gateways_they_reach() -> None:
    status = {
        "tcp://10.0.0.1:2900": gateway(["api-12", "chat-web-30", "gw-control-99"]),
        "tcp://10.0.0.2:2900": gateway(["api-12"]),
    }
    lines = render(status, [])
    start = lines.index(next(line for line in lines if line.startswith("PUSH CLIENT")))
    assert [line.split() for line in lines[start + 1 : start + 3]] == [
        ["api-12", "2", "of", "2"],
        ["chat-web-30", "1", "of", "2"],
    ]
    assert not any("gw-control" in line for line in lines)  # the asking command itself


def test_no_push_client_section_without_one() -> None:
    assert not any(
        "PUSH CLIENT" in line
        for line in render({"tcp://10.0.0.1:2900": gateway(["gw-control-5"])}, [])
    )
    # a gateway of an older version reports none: no section, no error
    old = gateway([])
    del old["push_clients"]
    assert not any("PUSH CLIENT" in line for line in render({"tcp://10.0.0.1:2900": old}, []))
