"""Internal links: CURVE with a shared secret, and refusals without one."""

from __future__ import annotations

import subprocess
import sys

from tests.cluster.client import Probe
from tests.harness import ROOT, UNIT, Cluster

APP = "tests.cluster.apps.probe"


async def test_cluster_with_a_secret_works(gw: Cluster) -> None:
    secret = ("--secret", "s3cret-for-tests")
    register = gw.register(*secret)
    gateway = gw.gateway(register, *secret)
    gw.worker(register, APP, *secret)
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()


async def test_wrong_secret_is_refused_and_logged(gw: Cluster) -> None:
    register = gw.register("--secret", "right")
    gateway = gw.gateway(register, "--secret", "right")
    intruder = gw.worker(register, APP, "--secret", "wrong")
    logs = intruder.wait_log("security handshake failed")
    assert "--secret differs" in logs
    (child,) = intruder.info["processes"]
    gw.worker(register, APP, "--secret", "right")
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1
    # the gateway served the right worker and never accepted the intruder
    assert "connected" in gateway.logs()
    assert f"(pid {child['pid']}) connected" not in gateway.logs()
    await probe.close()


def test_no_secret_refuses_a_public_internal_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "common.cli", "gateway", "--lan-ip", "192.0.2.10",
         "--listen", "127.0.0.1:0", "--start-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=30 * UNIT,
    )  # fmt: skip
    assert result.returncode != 0
    assert "without --secret" in result.stderr
    assert "--insecure" in result.stderr
