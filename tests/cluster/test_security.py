"""Internal links: CURVE with a shared secret, and refusals without one."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import zmq

from business import AsyncGatewayClient
from common import ready
from common.config import Security
from common.exceptions import ConfigError
from common.monitor import FailedHandshake, watch
from common.transport import Transport
from tests.cluster.client import Probe
from tests.harness import FAST, ROOT, UNIT, Cluster, eventually_async

APP = "tests.cluster.apps.probe"


async def test_cluster_with_a_secret_works(gw: Cluster) -> None:
    secret = ("--secret", "s3cret-for-tests")
    register = gw.register(*secret)
    gateway = gw.gateway(register, *secret)
    gw.worker(register, APP, *secret)
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()


async def test_wrong_secret_is_refused_and_logged_on_both_sides(gw: Cluster) -> None:
    register = gw.register("--secret", "right")
    gateway = gw.gateway(register, "--secret", "right")
    intruder = gw.start(
        "worker",
        "--app",
        APP,
        "--register",
        register.info["listen"],
        "--secret",
        "wrong",
        "--start-timeout",
        "1",
        *FAST,
        ready=False,
    )
    # no ready line, a non-zero exit, and the likely cause in its words
    assert intruder.proc.wait(30 * UNIT) != 0
    assert not any(ready.parse(line) for line in intruder.stdout)
    logs = intruder.logs()
    assert "no register accepted our security handshake within 1s" in logs
    assert f"internal peer {register.info['listen']} refused us" in logs
    assert "same --secret" in logs
    # the register says it refused a peer whose secret differs, rate-limited
    logs = register.wait_log("its --secret differs from ours")
    refusals = [line for line in logs.splitlines() if "refused an internal peer" in line]
    assert 1 <= len(refusals) <= 2, refusals  # the intruder retried for a second
    # the cluster itself is unaffected
    gw.worker(register, APP, "--secret", "right")
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()


async def test_a_push_client_with_a_wrong_secret_fails_to_start(gw: Cluster) -> None:
    register = gw.register("--secret", "right")
    client = AsyncGatewayClient(register.info["listen"], secret="wrong", timeout=1.5 * UNIT)
    with pytest.raises(ConfigError, match="same --secret"):
        await client.start()
    register.wait_log("its --secret differs from ours")


async def test_a_plain_tcp_probe_is_not_called_a_secret_mismatch(gw: Cluster) -> None:
    register = gw.register("--secret", "right")
    host, port = register.info["listen"].rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.close()
    await writer.wait_closed()
    logs = register.wait_log("hung up during the security handshake")
    assert "port probe" in logs
    assert "secret differs" not in logs and "refused an internal peer" not in logs


def test_no_secret_refuses_a_public_internal_address() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "common.cli",
            "gateway",
            "--lan-ip",
            "192.0.2.10",
            "--listen",
            "127.0.0.1:0",
            "--start-port",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
    )
    assert result.returncode != 0
    assert "without --secret" in result.stderr
    assert "--insecure" in result.stderr


async def test_a_gateway_logs_a_refused_peer_with_its_address(gw: Cluster) -> None:
    register = gw.register("--secret", "right")
    gateway = gw.gateway(register, "--secret", "right")
    intruder = Transport(Security("wrong"))
    sock = intruder.socket(zmq.DEALER, server=False)
    attempts: list[FailedHandshake] = []
    watching = asyncio.create_task(watch(sock, 0, lambda e, ep: None, attempts.append))
    sock.connect(gateway.info["internal"])
    try:
        gateway.wait_log("its --secret differs from ours")
        await eventually_async(lambda: len(attempts) >= 3)  # refused three times
        logs = gateway.logs()
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        sock.close(linger=0)
        intruder.close()
    refused = [line for line in logs.splitlines() if "refused an internal peer at" in line]
    assert len(refused) == 1, refused  # the retries are counted, not logged
    # the peer's address (where the lookup won the race), never the gateway's own
    named = refused[0].split(" at ")[1].split(":")[0]
    assert named in ("127.0.0.1", "an unknown address")
    assert gateway.info["internal"].removeprefix("tcp://") not in refused[0]
