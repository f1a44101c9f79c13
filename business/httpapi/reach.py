"""Can a call reach the gateways it needs? Decided before it is sent (pure).

The Python push client sends a command whatever the state of the link (ZeroMQ
queues it until the gateway is back) and opens a link on demand for a client_id of
a gateway no register lists. Over HTTP, where anyone with a key can send anything,
a call is answered instead:

- no register has answered yet: 503 ``no_gateway`` (nothing is known);
- a client_id of a gateway that is not in the cluster: 400 ``unknown_gateway`` (a
  forged id, or one of a gateway that is gone); 503 while the registers' lists are
  not complete yet (a register that just started may not list it yet);
- a client_id of a gateway whose link is down: 503 ``no_gateway`` (it may be
  restarting: try again);
- a call to every gateway while none is reachable: 503 ``no_gateway``.

A call that goes through is then sent as the push client sends it; an "all" query
names the gateways that did not answer in ``missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common import ids
from common.frames import Op

from ..view import GatewayView
from .calls import Call
from .errors import ApiError

RETRY_AFTER = 1.0  # seconds, for a 503


def check(call: Call, values: list[Any], view: GatewayView, registers: Sequence[str]) -> str | None:
    """Raise the :class:`ApiError` that answers a call that cannot reach its gateways
    (``view``: the push client's, live; ``registers``: their addresses, to say so);
    else the address of a "one" call's gateway (None for the others)."""
    if not view.answered:
        raise ApiError(
            "no_gateway",
            "no register has answered yet (" + ", ".join(registers) + "): no gateway is known",
            RETRY_AFTER,
        )
    if call.one:
        return _gateway_of(values[0], view)
    if call.op is Op.SEND_TO_ALL and values[1] is not None:
        for client_id in values[1]:  # only the gateways of the listed clients
            _gateway_of(client_id, view)
    else:
        _any_member_up(view)
    return None


def _any_member_up(view: GatewayView) -> None:
    members = view.members()
    if not any(view.links[address].up for address in members):
        raise ApiError(
            "no_gateway",
            f"no gateway is reachable ({len(members)} in the cluster, none linked)",
            RETRY_AFTER,
        )


def _gateway_of(client_id: str, view: GatewayView) -> str:
    address = ids.gateway_of(client_id)  # bind has checked it
    state = view.links.get(address)
    if state is not None and state.up:
        return address
    if view.gone(address):
        raise ApiError(
            "unknown_gateway",
            f"a client_id names gateway {address}, which is not "
            "in the cluster (gone, or the id is forged)",
        )
    if state is None:
        raise ApiError(
            "no_gateway",
            f"gateway {address} is not listed (yet): the registers' lists are not complete",
            RETRY_AFTER,
        )
    raise ApiError("no_gateway", f"gateway {address} is not reachable now", RETRY_AFTER)
