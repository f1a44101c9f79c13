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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from common import ids
from common.frames import Op

from ..view import GatewayView
from .calls import Call
from .errors import ApiError

RETRY_AFTER = 1.0  # seconds, for a 503


@dataclass(slots=True)
class Cluster:
    """What the checks read of a push client's :class:`~business.cluster.Cluster`."""

    view: GatewayView
    registers: Sequence[str]
    answered: bool  # some register has sent a list
    settled: bool  # some register has sent a complete list


def targets(call: Call, values: list[Any]) -> list[str] | None:
    """The client_ids whose gateways the call needs; None: it goes to every gateway."""
    if call.one:
        return [values[0]]
    if call.op is Op.SEND_TO_ALL and values[1] is not None:
        return list(values[1])  # only the gateways of the listed clients
    return None


def check(call: Call, values: list[Any], cluster: Cluster) -> None:
    """Raise the :class:`ApiError` that answers a call that cannot reach its gateways."""
    if not cluster.answered:
        raise ApiError("no_gateway", "no register has answered yet (" +
                       ", ".join(cluster.registers) + "): no gateway is known",
                       RETRY_AFTER)  # fmt: skip
    needed = targets(call, values)
    if needed is None:
        _any_member_up(cluster.view)
    else:
        _gateways_of(needed, cluster)


def _any_member_up(view: GatewayView) -> None:
    members = view.members()
    if not any(view.links[address].up for address in members):
        raise ApiError("no_gateway", f"no gateway is reachable ({len(members)} in the cluster, "
                       "none linked)", RETRY_AFTER)  # fmt: skip


def _gateways_of(client_ids: Iterable[str], cluster: Cluster) -> None:
    for address in dict.fromkeys(ids.gateway_of(client_id) for client_id in client_ids):
        state = cluster.view.links.get(address)
        if state is None and not cluster.settled:
            raise ApiError("no_gateway", f"gateway {address} is not listed (yet): the "
                           "registers' lists are not complete", RETRY_AFTER)  # fmt: skip
        if state is None:
            raise ApiError("unknown_gateway", f"a client_id names gateway {address}, which "
                           "is not in the cluster (gone, or the id is forged)")  # fmt: skip
        if not state.up:
            raise ApiError("no_gateway", f"gateway {address} is not reachable now",
                           RETRY_AFTER)  # fmt: skip
