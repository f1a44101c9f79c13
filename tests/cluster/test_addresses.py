"""Where a gateway binds versus what it advertises, and the custom first-pick router."""

from __future__ import annotations

import pytest

from common import ids
from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster, GwProcess

PROBE = "tests.cluster.apps.probe"


def refused(gw: Cluster, register: GwProcess, *extra: str) -> GwProcess:
    """A gateway that must refuse to start: it exits non-zero without a ready line."""
    gateway = gw.start(
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--start-port",
        "0",
        "--register",
        register.info["listen"],
        *extra,
        ready=False,
    )
    assert gateway.proc.wait(20 * UNIT) != 0
    assert gateway.stdout == []  # no GW-READY
    return gateway


@pytest.mark.parametrize("bad", ["0.0.0.0", "224.0.0.1", "255.255.255.255", "gateway.local"])
def test_a_lan_ip_nobody_can_reach_is_refused_clearly(gw: Cluster, bad: str) -> None:
    register = gw.register()
    gateway = refused(gw, register, "--lan-ip", bad)
    assert "--lan-ip" in gateway.logs() and bad in gateway.logs()


async def test_bind_everywhere_advertise_one_address(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(
        register,
        "--internal-listen",
        "0.0.0.0",
        "--lan-ip",
        "127.0.0.1",
        "--insecure",
        "--listen",
        "0.0.0.0:0",
    )
    # advertised: the lan ip, never 0.0.0.0 (the internal and the public address)
    assert gateway.info["internal"].startswith("tcp://127.0.0.1:")
    host, port = gateway.info["websocket"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    gw.worker(register, PROBE)
    probe = await Probe.open(gateway)
    assert ids.decode(probe.client_id).ip == "127.0.0.1"
    assert await probe.result("get_all_client_id_count") == 1  # workers reached it
    await probe.close()


def test_an_unauthenticated_bind_everywhere_needs_insecure(gw: Cluster) -> None:
    register = gw.register()
    gateway = refused(gw, register, "--internal-listen", "0.0.0.0")
    assert "without --secret" in gateway.logs()


async def test_the_public_address_can_be_set_apart(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--public-address", "chat.example:443")
    gw.worker(register, PROBE)
    assert gateway.info["websocket"] == "chat.example:443"
    assert gateway.info["listen"].startswith("127.0.0.1:")
    probe = await Probe.open(gateway.info["listen"])
    status = await probe.result("get_status")
    assert next(iter(status.values()))["websocket"] == "chat.example:443"
    await probe.close()


async def test_a_custom_router_picks_the_first_worker(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--router", "tests.cluster.apps.routers:oldest")
    workers = gw.worker(register, PROBE, count=3)
    pids = sorted(p["pid"] for p in workers.info["processes"])
    gw.linked(gateway, workers)
    probes = [await Probe.open(gateway) for _ in range(4)]
    for probe in probes:
        await probe.send({"pid": True})
        assert (await probe.json())["pid"] == pids[0]
        await probe.close()


@pytest.mark.parametrize("router", ["broken", "stranger"])
async def test_a_failing_custom_router_falls_back_to_least(gw: Cluster, router: str) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--router", f"tests.cluster.apps.routers:{router}")
    gw.linked(gateway, gw.worker(register, PROBE, count=2))
    probes = [await Probe.open(gateway) for _ in range(2)]
    seen = set()
    for probe in probes:
        await probe.send({"pid": True})
        seen.add((await probe.json())["pid"])
        await probe.close()
    assert len(seen) == 2  # least-loaded spreads them
    assert f"--router tests.cluster.apps.routers:{router}" in gateway.logs()


def test_a_router_that_cannot_load_is_a_clear_error(gw: Cluster) -> None:
    register = gw.register()
    gateway = refused(gw, register, "--router", "no.such:router")
    assert "cannot load --router 'no.such:router'" in gateway.logs()
