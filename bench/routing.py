"""S6: internal ZeroMQ messages per Gateway API call, with 2 gateways.

Method: a push client (:class:`business.client.AsyncGatewayClient`, the same
:class:`~business.api.GatewayAPI` code a worker runs) makes each call K times, one
call per event-loop pass so that the per-pass batching cannot hide a cost; the
messages it actually put on each gateway link are read from that link's
``Outbox.sent_messages`` (every ``send_multipart`` that left), and cross-checked with
what each gateway counted (``commands_by_op`` of ``get_status``). Then the same K
calls in *one* pass show the batching. The internal heartbeat is set to 60 s so that
no Hello falls inside a measurement. WebSocket clients on both gateways count what
they receive, so a call that reached the wrong gateway would show.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from .report import Row
from .servers import ClusterUnderTest
from .wsclient import Client

CALLS = 200


async def _measure(server: ClusterUnderTest) -> dict[str, Any]:
    from business.client import AsyncGatewayClient
    from common import ids
    from common.config import Timing

    loop = asyncio.get_running_loop()
    received: Counter[int] = Counter()
    clients = []
    for index, (host, port) in enumerate(server.urls * 2):
        _, client = await loop.create_connection(
            lambda: Client(host, port, lambda c, data: received.update([c.index]), index=index),  # noqa: B023
            host,
            port,
        )
        await client.handshake
        clients.append(client)
    timing = Timing(heartbeat=60.0, timeout=210.0, query_timeout=5.0)
    async with AsyncGatewayClient(server.register, timing=timing) as push:
        # another process's state: no event to wait on, so poll it
        for _ in range(100):
            if len(push.gateways) == 2 and len(await push.get_all_client_id_list()) == 4:
                break
            await asyncio.sleep(0.05)
        for link in push.cluster.links.values():
            await asyncio.wait_for(link.welcomed.wait(), 5)
        cids = sorted(await push.get_all_client_id_list())
        first, second = sorted(push.gateways)
        on_first = [c for c in cids if ids.gateway_of(c) == first]
        on_second = [c for c in cids if ids.gateway_of(c) == second]
        push.bind_uid(on_first[0], "bench-uid")
        push.join_group(on_first[0], "bench-group")
        push.join_group(on_second[0], "bench-group")
        await asyncio.sleep(0.2)

        links = {address: push.cluster.links[address] for address in (first, second)}

        async def count(call: Any, batched: bool) -> dict[str, Any]:
            status0 = await push.get_status()
            before = {a: link.outbox.sent_messages for a, link in links.items()}
            received.clear()
            for _ in range(CALLS):
                call()
                if not batched:
                    await asyncio.sleep(0)  # the batch of this pass leaves now
            await asyncio.sleep(0.3)
            sent = {a: links[a].outbox.sent_messages - before[a] for a in links}
            status1 = await push.get_status()
            commands = {a: status1[a]["commands"] - status0[a]["commands"] for a in (first, second)}
            return {"sent": sent, "commands": commands, "received": sum(received.values())}

        results = {}
        for name, call in [
            ("send_to_client", lambda: push.send_to_client(on_first[0], "x")),
            ("send_to_uid", lambda: push.send_to_uid("bench-uid", "x")),
            ("send_to_group", lambda: push.send_to_group("bench-group", "x")),
        ]:
            results[name] = await count(call, batched=False)
            results[name + " (batched)"] = await count(call, batched=True)
    for client in clients:
        client.abort()
    return results


def _only_one_gateway(other: int) -> Callable[[float, float | None], bool]:
    """The S6 target: one message per call, none to the other gateway."""
    return lambda value, ratio: value == 1 and other == 0


def routing(procs: int) -> list[Row]:
    with ClusterUnderTest(gateways=2, workers=0) as server:
        print("[bench] S6 routing: push client, 2 gateways", flush=True)
        results = asyncio.run(_measure(server))
    rows = []
    for name, r in results.items():
        to_first, to_second = sorted(r["sent"].values(), reverse=True)
        per_call = (to_first + to_second) / CALLS
        single = name == "send_to_client"
        rows.append(
            Row(
                "S6 routing",
                f"{name}: ZMQ messages/call (busiest, other gateway: "
                f"{to_first / CALLS:.3g}, {to_second / CALLS:.3g}; commands/call "
                f"{sum(r['commands'].values()) / CALLS:.3g}; "
                f"frames/call {r['received'] / CALLS:.3g})",
                per_call,
                None,
                "1 message to 1 gateway" if single else "",
                _only_one_gateway(to_second) if single else None,
                3,
            )
        )
    return rows
