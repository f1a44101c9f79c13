"""Failures: late workers, dead workers, departing gateways, register restarts, bad input."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.config import Timing
from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster, eventually, free_port, ws_url

APP = "tests.cluster.apps.probe"


async def test_worker_started_after_the_gateway(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    async with connect(ws_url(gateway)) as ws:  # no worker yet: the client is not dropped
        await ws.send(json.dumps({"pid": True}))
        gw.worker(register, APP)
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))
        assert "welcome" in welcome
        assert "ws_connect" in json.loads(await ws.recv())
        assert "pid" in json.loads(await ws.recv())  # the held message was not lost


async def test_worker_killed_with_sigkill_clients_stay_and_events_go_elsewhere(
    gw: Cluster,
) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    workers = gw.worker(register, APP, count=2)
    pids = {p["pid"] for p in workers.info["processes"]}
    probe = await Probe.open(gateway)
    await probe.send({"pid": True})
    victim = (await probe.json())["pid"]
    assert victim in pids
    # an event in the victim's hands when it dies is redelivered to another worker
    await probe.send({"hang_if_pid": victim})
    assert await probe.json() == {"hanging": victim}
    os.kill(victim, signal.SIGKILL)
    answer = await probe.json()
    assert answer["pid"] != victim and answer["redelivered"] is True
    for _ in range(5):  # later events go to the survivor; the client never noticed
        await probe.send({"pid": True})
        assert (await probe.json())["pid"] != victim
    workers.wait_log("restarting")
    logs = gateway.wait_log("re-routing 1 unacknowledged events")
    assert "left" in logs
    await probe.close()


async def test_a_frozen_workers_events_go_elsewhere_within_the_link_timeout(
    gw: Cluster,
) -> None:
    # SIGSTOP: no FIN, no RST, no libzmq PONG, as when a worker's host is cut off.
    # The gateway's libzmq closes the link after its link timeout (0.5 s with the
    # harness's --heartbeat 0.2) and re-sends the event to the other worker.
    register = gw.register()
    gateway = gw.gateway(register)
    workers = gw.worker(register, APP, count=2)
    gw.linked(gateway, workers)  # the other worker is there to take it
    probe = await Probe.open(gateway)
    await probe.send({"pid": True})
    victim = (await probe.json())["pid"]
    os.kill(victim, signal.SIGSTOP)
    try:
        started = asyncio.get_running_loop().time()
        await probe.send({"pid": True})
        answer = await probe.json(timeout=10 * UNIT)
        waited = asyncio.get_running_loop().time() - started
    finally:
        os.kill(victim, signal.SIGCONT)
    assert answer["pid"] != victim
    link_timeout = Timing(heartbeat=0.2, timeout=0.7).link_timeout
    assert waited < link_timeout + 1.0 * UNIT, waited  # + the probe, scheduling
    logs = gateway.wait_log("re-routing 1 unacknowledged events")
    assert f"(pid {victim}) left: its connection is gone" in logs
    # thawed, it reconnects and is a worker again
    eventually(lambda: gateway.logs().count(f"(pid {victim}) connected") == 2)
    assert workers.proc.poll() is None
    await probe.close()


async def test_supervisor_restarts_a_crashed_worker(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    workers = gw.worker(register, APP, count=1)
    (first,) = [p["pid"] for p in workers.info["processes"]]
    os.kill(first, signal.SIGKILL)
    workers.wait_log(f"{first}) exited")
    workers.wait_log("restarted as pid")
    probe = await Probe.open(gateway)  # served by the replacement
    await probe.send({"pid": True})
    assert (await probe.json())["pid"] != first
    await probe.close()


async def test_one_clients_events_are_handled_in_order_by_one_worker(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP, count=2)
    probe = await Probe.open(gateway)
    for i in range(30):
        await probe.send({"session": {"n": i}})
    for _ in range(30):
        assert await probe.json() == {"ok": True}
    await probe.send({"get_session": True})
    assert (await probe.json())["session"]["n"] == 29
    await probe.close()


async def test_gateway_that_goes_away_leaves_the_cluster(gw: Cluster) -> None:
    register = gw.register()
    gw1, gw2 = gw.gateway(register), gw.gateway(register)
    gw.worker(register, APP)
    a = await Probe.open(gw1)
    b = await Probe.open(gw2)
    assert await a.result("get_all_client_id_count") == 2
    gw2.kill()  # no goodbye: the register drops it after its heartbeat timeout
    with pytest.raises(ConnectionClosed):
        await b.recv()
    # until then a query reports the silent gateway as missing instead of hiding it
    while True:
        reply = await a.call("get_all_client_id_count", timeout=0.5)
        if reply["missing"]:
            assert reply == {"result": 1, "missing": [gw2.info["internal"]]}
        else:
            assert reply["result"] == 1
            break
    register.wait_log("expired silent gateways")
    await a.close()


async def test_gateway_stopping_gracefully_says_goodbye(gw: Cluster) -> None:
    register = gw.register()
    gw1, gw2 = gw.gateway(register), gw.gateway(register)
    worker = gw.worker(register, APP)
    b = await Probe.open(gw2)
    # stop in a thread: the client must keep reading to answer the closing handshake
    stopping = asyncio.create_task(asyncio.to_thread(gw2.stop))
    with pytest.raises(ConnectionClosed) as closed:
        await b.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # SIGTERM drains
    assert await stopping == 0
    register.wait_log(f"gateway {gw2.info['internal']} left")
    worker.wait_log(f"gateway {gw2.info['internal']} left the cluster")
    a = await Probe.open(gw1)
    assert await a.result("get_all_client_id_count") == 1
    await a.close()


async def test_register_restart_loses_nothing(gw: Cluster) -> None:
    port = free_port()
    register = gw.start("register", "--listen", f"127.0.0.1:{port}", "--heartbeat", "0.2")
    address = f"127.0.0.1:{port}"
    gateway = gw.gateway(address)
    gw.worker(address, APP)
    probe = await Probe.open(gateway)
    register.kill()
    # running traffic does not need the register
    await probe.send({"pid": True})
    assert "pid" in await probe.json()
    other = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 2
    gw.start("register", "--listen", address, "--heartbeat", "0.2")
    # a worker started after the restart finds the gateway through the new register
    late = gw.worker(address, APP)
    late.wait_log("linked to gateway")
    assert await probe.result("get_all_client_id_count") == 2
    await probe.close()
    await other.close()


async def test_garbage_from_a_client_gets_a_clear_close(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--max-message-size", "1000")
    gw.worker(register, APP)
    healthy = await Probe.open(gateway)
    # 1. not HTTP at all: the connection is closed; plain HTTP: 426 Upgrade Required
    host, port = gateway.info["websocket"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
    assert await asyncio.wait_for(reader.read(200), 10 * UNIT) == b""
    writer.close()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status = await asyncio.wait_for(reader.read(200), 10 * UNIT)
    assert status.startswith(b"HTTP/1.1 426"), status
    writer.close()
    # 2. an oversized message: 1009
    big = await Probe.open(gateway)
    await big.ws.send("x" * 2000)
    with pytest.raises(ConnectionClosed) as closed:
        await big.recv()
    assert closed.value.sent is not None and closed.value.sent.code == 1009
    # 3. a frame that breaks the WebSocket protocol (unmasked client frame): 1002
    bad = await Probe.open(gateway)
    bad.ws.transport.write(b"\x81\x03abc")  # a client must mask its frames
    with pytest.raises(ConnectionClosed) as closed:
        await bad.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
    # 4. a handler that raises: logged, the client stays connected
    await healthy.send({"crash": True})
    await healthy.send({"pid": True})
    assert "pid" in await healthy.json()
    # everyone else is still served
    assert await healthy.result("get_all_client_id_count") == 1
    await healthy.close()


async def test_healthz_and_plain_http(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url(gateway, "/healthz"))
    assert refused.value.response.status_code == 200


async def test_events_wait_for_a_worker_up_to_a_bound(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--max-pending-events", "4")
    # one event per client waits for a worker (its next ones wait in its own backlog):
    # four clients fill the waiting room, the fifth overflows it
    waiting = [await connect(ws_url(gateway)) for _ in range(4)]
    for ws in waiting:
        await ws.send(json.dumps({"pid": True}))
    async with connect(ws_url(gateway)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10 * UNIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert closed.value.rcvd.reason == "no business worker"
    gateway.wait_log("no business worker and 4 events waiting")
    gw.worker(register, APP)  # the four that waited are served, in order
    for ws in waiting:
        assert "welcome" in json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))
        await ws.close()


async def test_two_registers_either_one_is_enough(gw: Cluster) -> None:
    first, second = gw.register(), gw.register()
    both = f"{first.info['listen']},{second.info['listen']}"
    gateway = gw.gateway(both)
    first.wait_log("joined")
    second.wait_log("joined")
    first.kill()
    late = gw.worker(both, APP)  # finds the gateway through the surviving register
    late.wait_log("linked to gateway")
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1
