"""The register is never a reason to lose a message, nor to report an empty cluster.

A register frozen (SIGSTOP: it hears nothing, as when its host loses the network)
for longer than the gateways' timeout, then back, has expired every gateway; one
restarted has heard none yet. Neither may make workers drop live gateways (their
"all" sends would go nowhere), nor make a push client report an empty cluster.
"""

from __future__ import annotations

import asyncio
import signal
import time

from business import AsyncGatewayClient
from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster, free_port

APP = "tests.cluster.apps.probe"


async def both_gateways_known(probe: Probe) -> None:
    """Until the probe's worker gets an answer from both gateways."""

    deadline = time.monotonic() + 10 * UNIT
    while time.monotonic() < deadline:
        reply = await probe.call("get_status")
        if len(reply["result"]) == 2 and not reply["missing"]:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the worker never heard of both gateways")


async def test_a_register_frozen_then_back_loses_no_all_send(gw: Cluster) -> None:
    register = gw.register()
    gw1, gw2 = gw.gateway(register), gw.gateway(register)
    worker = gw.worker(register, APP)
    sender = await Probe.open(gw1)
    near, far = await Probe.open(gw1), await Probe.open(gw2)
    for probe in (near, far):
        await sender.call("join_group", probe.client_id, "g")
    await both_gateways_known(sender)
    sent: list[str] = []
    to_all: list[str] = []  # send_to_all reaches the sender too

    async def send_for(seconds: float) -> None:
        until = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < until:
            sent.append(f"m{len(sent)}")
            if len(sent) % 2:
                op, args = "send_to_group", ["g", sent[-1]]
            else:
                op, args = "send_to_all", [sent[-1]]
                to_all.append(sent[-1])
            await sender.send({"call": op, "args": args, "reply": False})
            await asyncio.sleep(0.01)

    await send_for(0.5)
    register.signal(signal.SIGSTOP)  # hears nothing: every gateway expires in its view
    try:
        await send_for(2.0)
    finally:
        register.signal(signal.SIGCONT)
    await send_for(2.0)  # what the register says now must not cost a message
    # commands from one worker to a gateway arrive in order: everything sent before
    # the barrier's marker has arrived by then, or never will
    for probe in (near, far):
        received = await probe.barrier(sender)
        assert received == sent, f"{len(set(sent) - set(received))} of {len(sent)} lost"
    assert await sender.barrier(sender) == to_all
    assert "left the cluster" not in worker.logs()
    register.wait_log("heard from nobody")


async def test_a_restarted_register_never_makes_an_empty_cluster_look_complete(
    gw: Cluster,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    slow = ("--heartbeat", "0.5")  # settles for 1.75 s after a start: a wide window
    register = gw.start("register", "--listen", address, *slow)
    gw1, gw2 = gw.gateway(address), gw.gateway(address)
    gw.worker(address, APP)
    probes = [await Probe.open(gw1), await Probe.open(gw2)]
    await both_gateways_known(probes[0])
    register.kill()
    gw.start("register", "--listen", address, *slow)
    answers: list[tuple[int, tuple[str, ...]]] = []
    deadline = asyncio.get_running_loop().time() + 10 * UNIT
    while not answers or answers[-1] != (2, ()):  # as `gw status` would, until settled
        assert asyncio.get_running_loop().time() < deadline, answers
        # a short timeout: start() waits that long for a settled register, at most
        async with AsyncGatewayClient(address, timeout=0.3) as client:
            count = await client.get_all_client_id_count()
            answers.append((int(count), count.missing))
        await asyncio.sleep(0.05)  # another process settles: there is no event to wait on
    for count, missing in answers:
        # either the whole truth, or an answer that says what it lacks
        assert (count, missing) == (2, ()) or missing, answers
    assert any("register" in " ".join(missing) for _, missing in answers), answers
    for probe in probes:
        await probe.close()
