"""Across hosts: routing with exact counts, a worker host added under load, a wrong secret.

Hosts are network namespaces on one switch (:mod:`tests.multihost.netns`); a
register, two gateways and worker hosts, CURVE on, default timings (heartbeat 1 s).
Each test leaves what it measured in the run's "multi-host figures" section.
"""

from __future__ import annotations

import asyncio

import pytest

from common import ready
from tests.harness import UNIT
from tests.multihost.conftest import Roles
from tests.multihost.load import Load
from tests.multihost.netns import Network


@pytest.mark.timeout(120 * UNIT)
async def test_routing_across_hosts_delivers_every_message_exactly_once(
    roles: Roles, load: Load, figures: dict[str, object]
) -> None:
    roles.cluster()
    clients = await load.connect(30, roles.websockets("gw1", "gw2"))
    # clients of both gateways, handled by both worker hosts
    assert {c.gateway for c in clients} == {"gw1", "gw2"}
    assert {c.first_worker for c in clients} == {"wk1", "wk2"}
    ids = await load.run(5.0, 60)  # group, uid and all sends, from every client
    # and one client to another, across gateways
    ids += [
        await load.send(a, "client", to=b) for a, b in zip(clients, reversed(clients), strict=True)
    ]
    lost = await load.drain(30 * UNIT)
    figures.update(load.ledger.report())
    assert lost == 0
    assert figures["duplicated"] == 0 and figures["unexpected"] == 0
    assert figures["deliveries_expected"] == 300 * 30 + 30
    assert set(load.ledger.handled_by) == {"wk1", "wk2"}


@pytest.mark.timeout(120 * UNIT)
async def test_a_worker_host_added_under_load_takes_new_clients(
    roles: Roles, load: Load, figures: dict[str, object]
) -> None:
    roles.cluster()
    gateways = roles.websockets("gw1", "gw2")
    first = await load.connect(20, gateways)
    running = asyncio.create_task(load.run(10.0, 40))
    await load.flowing()  # under load: then the worker host comes
    added = roles.worker("wk3")
    (child,) = (await asyncio.to_thread(added.wait_ready, 30 * UNIT))["processes"]
    for gateway in roles.processes[1:3]:  # both gateways have met it
        await asyncio.to_thread(gateway.wait_log, f"(pid {child['pid']}) connected")
    # each gateway picks the worker with the fewest of its clients: as long as wk3 has
    # fewer than both others, every new client of that gateway goes to wk3
    late = []
    for name in gateways:
        fewest = min(
            sum(1 for c in first if (c.gateway, c.first_worker) == (name, worker))
            for worker in ("wk1", "wk2")
        )
        late += await load.connect(fewest, {name: gateways[name]})  # while the load runs
    await running
    from_late = await load.run(3.0, 30, senders=late)
    lost = await load.drain(30 * UNIT)
    figures.update(load.ledger.report())
    figures["late_clients_on"] = sorted({c.first_worker for c in late})
    assert lost == 0 and figures["duplicated"] == 0 and figures["unexpected"] == 0
    # "least" first pick: each gateway's new clients go to the worker it has just met
    assert {c.first_worker for c in late} == {"wk3"}
    assert {load.ledger.sent[i].sender for i in from_late} <= {c.index for c in late}
    late_by = load.ledger.hosts(from_late)
    figures["late_messages_handled_by"] = late_by
    assert late_by == {"wk3": len(from_late)}  # sticky: their worker stays wk3


@pytest.mark.timeout(120 * UNIT)
async def test_a_wrong_secret_is_refused_and_logged_on_both_sides(
    roles: Roles, net: Network, figures: dict[str, object]
) -> None:
    roles.cluster(workers=("wk1",))
    register = roles.processes[0]
    intruder = roles.worker("wk3", "--start-timeout", "3", secret="wrong-secret")
    started = asyncio.get_running_loop().time()
    code = await asyncio.to_thread(intruder.proc.wait, 60 * UNIT)
    figures["intruder_exit_code"] = code
    figures["intruder_exit_after_s"] = round(asyncio.get_running_loop().time() - started, 2)
    # the refused side: no ready line, a non-zero exit, the likely cause
    assert code != 0
    assert not any(ready.parse(line) for line in intruder.stdout)
    logs = intruder.logs()
    assert "no register accepted our security handshake within 3s" in logs
    assert f"internal peer {roles.register_address} refused us" in logs
    # the side that refused: the register, naming the peer where it could
    logs = register.wait_log("its --secret differs from ours")
    lines = [line for line in logs.splitlines() if "refused an internal peer at" in line]
    figures["register_refusal_lines"] = len(lines)
    figures["register_refusal_named"] = [line.split(" at ")[1].split(":")[0] for line in lines]
    wk3 = net.address("wk3")
    assert all(name in (wk3, "an unknown address") for name in figures["register_refusal_named"])
    assert 1 <= len(lines) <= 2  # rate-limited: the first, then one per 10 s with a count
    # the gateways never heard of it: only wk1's worker connected
    for gateway in roles.processes[1:3]:
        assert gateway.logs().count(") connected") == 1
