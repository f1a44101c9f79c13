"""business.httpapi.reach: whether a call's gateways can be reached (a GatewayView, no sockets)."""

from __future__ import annotations

import pytest

from business.httpapi import reach
from business.httpapi.calls import CALLS, bind
from business.httpapi.errors import ApiError
from business.view import GatewayView
from common import ids

G1, G2 = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900"
C1 = ids.encode("10.0.0.1", 2900, 7, 1)
C2 = ids.encode("10.0.0.2", 2900, 7, 1)
C9 = ids.encode("10.0.0.9", 2900, 7, 1)  # a gateway no register lists


REGISTERS = ["10.0.0.100:1236"]


def cluster(listed: list[str], up: list[str], complete: bool = True) -> GatewayView:
    view = GatewayView(timeout=3.5)
    if listed or complete:
        view.on_list(0, dict.fromkeys(listed, 1), complete, now=0.0)
    for address in up:
        view.link_up(address)
    return view


def check(name: str, args: dict[str, object], where: GatewayView) -> str | None:
    values, _ = bind(CALLS[name], args)
    try:
        reach.check(CALLS[name], values, where, REGISTERS)
    except ApiError as err:
        return f"{err.status} {err.code}"
    return None


def test_nothing_is_known_before_a_register_answers() -> None:
    for name, args in [("send_to_all", {"message": "m"}), ("is_online", {"client_id": C1})]:
        with pytest.raises(ApiError, match=r"no register has answered yet \(10.0.0.100:1236\)"):
            reach.check(CALLS[name], bind(CALLS[name], args)[0], GatewayView(3.5), REGISTERS)


def test_one_client_calls_need_its_gateway_linked() -> None:
    both = cluster([G1, G2], up=[G1])
    assert check("send_to_client", {"client_id": C1, "message": "m"}, both) is None
    assert check("send_to_client", {"client_id": C2, "message": "m"}, both) == "503 no_gateway"
    assert check("is_online", {"client_id": C9}, both) == "400 unknown_gateway"
    # while the lists are incomplete (a register just started), a gateway may be missing
    starting = cluster([G1], up=[G1], complete=False)
    assert check("is_online", {"client_id": C9}, starting) == "503 no_gateway"


def test_calls_to_every_gateway_need_one_linked() -> None:
    assert check("send_to_group", {"group": "g", "message": "m"}, cluster([G1, G2], [G2])) is None
    assert check("get_all_uid_count", {}, cluster([G1, G2], [])) == "503 no_gateway"
    assert check("get_all_uid_count", {}, cluster([], [])) == "503 no_gateway"  # none at all


def test_a_send_to_listed_clients_needs_each_of_their_gateways() -> None:
    where = cluster([G1, G2], up=[G1])
    assert check("send_to_all", {"message": "m", "client_ids": [C1]}, where) is None
    assert check("send_to_all", {"message": "m", "client_ids": [C1, C2]}, where) == (
        "503 no_gateway"
    )
    assert check("send_to_all", {"message": "m", "client_ids": [C9]}, where) == (
        "400 unknown_gateway"
    )
    assert check("send_to_all", {"message": "m", "client_ids": []}, cluster([G1], [])) is None
