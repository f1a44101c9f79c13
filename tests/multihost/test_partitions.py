"""Hosts cut off under load: a worker host, a gateway host, the only register.

A cut drops every packet to and from a host, without a FIN or an RST (its port on
the switch is down), then is restored. Timings are the defaults: heartbeat H = 1 s,
peer timeout T = 3.5 s, libzmq's link timeout 1.5 s (see common.config.Timing).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time

import pytest

from common.config import Timing
from tests.harness import ROOT, UNIT
from tests.multihost.conftest import SECRET, Roles
from tests.multihost.load import Client, Load
from tests.multihost.netns import Network

TIMING = Timing()  # every role runs with the defaults (but where a test says otherwise)


@pytest.mark.timeout(150 * UNIT)
@pytest.mark.parametrize("heartbeat", [1.0, 0.5])
async def test_a_worker_host_cut_under_load_loses_nothing(
    roles: Roles, net: Network, load: Load, figures: dict[str, object], heartbeat: float
) -> None:
    # the gateway notices a dead worker when libzmq closes their link: at most the link
    # timeout after the worker's last byte (1.5 H); it then re-sends its events
    bound = 2 * heartbeat
    roles.cluster("--heartbeat", str(heartbeat))
    clients = await load.connect(30, roles.websockets("gw1", "gw2"))
    stuck = [c for c in clients if c.first_worker == "wk1"]  # sticky to the victim
    assert stuck
    await load.run(2.0, 60)
    running = asyncio.create_task(load.run(7.0, 60))
    await load.flowing()  # under load: then the cut
    net.cut("wk1")
    cut_at = time.monotonic()
    await asyncio.sleep(4.0)  # the cut lasts longer than the detection bound: the thing tested
    net.restore("wk1")
    await running
    await load.run(2.0, 60)
    lost = await load.drain(30 * UNIT)
    figures.update(load.ledger.report())
    # how long the victim's clients waited: their events sat at the dead worker (or
    # behind one that did) until the gateway gave up on it and re-sent them
    during = [
        i
        for i, s in load.ledger.sent.items()
        if cut_at <= s.at < cut_at + 1.0 and s.sender in {c.index for c in stuck}
    ]
    detection = max(load.ledger.waits(during))
    figures["detection_s"] = round(detection, 3)
    figures["detection_bound_s"] = bound
    assert lost == 0 and figures["unexpected"] == 0
    assert figures["redelivered"] > 0  # events the victim had when it was cut
    assert detection < bound, detection
    # the victim's clients are served by the other worker host since
    assert load.ledger.hosts([i for i in during if i in load.ledger.by]) == {"wk2": len(during)}


async def counts(
    load: Load, askers: list[Client], until: float
) -> list[tuple[float, int, list[str]]]:
    """``get_all_client_id_count()`` every 0.1 s until ``until``: (answered at, count,
    missing), in order. A query that waits on a cut gateway takes its whole 0.5 s
    timeout, so they overlap, each from the next of ``askers`` (a client has one event
    in flight at a time); one at a time, the samples would be 0.75 s apart."""

    async def sample(asker: Client) -> tuple[float, int, list[str]]:
        count, missing = await load.count(asker, timeout=0.5)
        return time.monotonic(), count, missing

    samples = []
    for asker in itertools.cycle(askers):
        if time.monotonic() >= until:
            break
        samples.append(asyncio.create_task(sample(asker)))
        await asyncio.sleep(0.1)  # the sampling period (see the docstring)
    return sorted(await asyncio.gather(*samples))


@pytest.mark.timeout(150 * UNIT)
async def test_a_gateway_host_cut_leaves_the_others_unaffected(
    roles: Roles, net: Network, load: Load, figures: dict[str, object]
) -> None:
    roles.cluster()
    on1 = await load.connect(16, roles.websockets("gw1"))
    await load.connect(8, roles.websockets("gw2"))
    asker = on1[0]
    assert await load.count(asker, 1.0) == (24, [])
    before = await load.run(1.0, 40, senders=on1)
    running = asyncio.create_task(load.run(10.0, 40, senders=on1))
    await load.flowing()  # under load: then the cut
    net.cut("gw2")
    cut_at = time.monotonic()
    during = await counts(load, on1[:8], cut_at + 6.0)
    net.restore("gw2")
    restored_at = time.monotonic()
    after = await counts(load, on1[:8], restored_at + 5.0)
    sent = await running
    later = await load.run(2.0, 40, senders=on1)
    await load.drain(30 * UNIT, later)
    await load.drain(10 * UNIT)
    # the others: gw1's clients got every message, before, during and after the cut
    on1_lost = sum(
        1 for i in before + sent + later for c in on1 if (i, c.index) not in load.ledger.arrived
    )
    figures.update(load.ledger.report(before + sent + later))
    figures["lost_by_gw1_clients"] = on1_lost
    figures["lost_by_gw2_clients_while_cut"] = figures.pop("lost") - on1_lost
    # cluster-wide counts: clean (gw1's 16, nobody missing) once the register has
    # expired gw2 (T) and the workers' links to it are down: within T + H
    clean = next((at for at, count, missing in during if (count, missing) == (16, [])), None)
    assert clean is not None, during
    figures["counts_clean_after_cut_s"] = round(clean - cut_at, 2)
    figures["counts_clean_bound_s"] = TIMING.timeout + TIMING.heartbeat
    assert all(missing in ([], [f"tcp://{net.address('gw2')}:2900"]) for _, _, missing in during)
    back = next((at for at, count, missing in after if (count, missing) == (24, [])), None)
    assert back is not None, after  # gw2 and its clients, back in every count
    figures["counts_whole_after_restore_s"] = round(back - restored_at, 2)
    assert on1_lost == 0
    assert load.ledger.lost(later) == 0  # gw2's clients too, once it is back
    assert clean - cut_at <= TIMING.timeout + TIMING.heartbeat


def status(net: Network, register: str) -> dict[str, object]:
    """``gw status`` run in the clients' host."""
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            net.hosts["clients"].namespace,
            sys.executable,
            "-m",
            "common.cli",
            "status",
            "--json",
            "--register",
            register,
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        cwd=ROOT,
        env={**os.environ, "GW_SECRET": SECRET, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.timeout(180 * UNIT)
async def test_the_only_register_cut_again_and_again_under_load_loses_nothing(
    roles: Roles, net: Network, load: Load, figures: dict[str, object]
) -> None:
    roles.cluster()
    await load.connect(30, roles.websockets("gw1", "gw2"))
    cycles, cut_for, restored_for = 3, 4.0, 3.5  # cut > T (3.5 s): it expires both gateways
    running = asyncio.create_task(load.run(cycles * (cut_for + restored_for) + 2.0, 50))
    statuses = []
    for _ in range(cycles):  # the cycle's durations are the thing tested: fixed on purpose
        await asyncio.sleep(restored_for)
        net.cut("register")
        await asyncio.sleep(cut_for)
        net.restore("register")
        # right after it is back, as an operator would
        statuses.append(await asyncio.to_thread(status, net, roles.register_address))
    await running
    lost = await load.drain(30 * UNIT)
    figures.update(load.ledger.report())
    register = roles.processes[0]
    figures["register_cut_off_lines"] = register.logs().count("heard from nobody")
    figures["status_after_restore"] = [
        (len(s["gateways"]), len(s["missing"]))
        for s in statuses  # type: ignore[arg-type]
    ]
    assert lost == 0 and figures["duplicated"] == 0 and figures["unexpected"] == 0
    for worker in roles.processes[3:]:
        assert "left the cluster" not in worker.logs()  # no live gateway was dropped
    # gw status never says "complete and empty": both gateways, or what it lacks
    for answer in statuses:
        assert len(answer["gateways"]) == 2 or answer["missing"], answer  # type: ignore[arg-type]
    assert figures["register_cut_off_lines"] == cycles
