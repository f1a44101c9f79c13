"""Start-up as an operator meets it: busy ports, wrong addresses, a gateway nobody can
reach. Each refusal is one line (``Error: ...``) naming the port, who holds it and
what to do, exit code 2, nothing left running; a shared WebSocket port is asked for."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.cluster.client import Probe
from tests.cluster.test_operate import http_get
from tests.harness import ROOT, UNIT, Cluster, free_port, run_gw, ws_url

APP = "tests.cluster.apps.probe"


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start printed (and nothing else on stderr)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@contextmanager
def held_port() -> Iterator[int]:
    """A port this test process listens on (so its holder is this pid)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_second_gateway_on_a_busy_websocket_port_is_refused(gw: Cluster) -> None:
    register = gw.register()
    first = gw.gateway(register)
    result = run_gw(
        "gateway",
        "--listen",
        first.info["listen"],
        "--start-port",
        "0",
        "--register",
        register.info["listen"],
    )
    line = refusal(result)
    assert f"cannot listen on {first.info['listen']} (the WebSocket port, --listen)" in line
    assert f"already in use by pid {first.proc.pid} (gw gateway --listen" in line
    assert "Stop that process or choose another --listen." in line  # (not a gw up: no make stop)


async def test_gateways_share_a_port_only_when_asked(gw: Cluster) -> None:
    register = gw.register()
    port = free_port()
    first = gw.gateway(register, "--reuse-port", "--listen", f"127.0.0.1:{port}")
    second = gw.gateway(register, "--reuse-port", "--listen", f"127.0.0.1:{port}")
    assert first.info["listen"] == second.info["listen"] == f"127.0.0.1:{port}"
    # without --reuse-port the third is refused, although the two share
    assert "already in use" in refusal(
        run_gw(
            "gateway",
            "--listen",
            f"127.0.0.1:{port}",
            "--start-port",
            "0",
            "--register",
            register.info["listen"],
        )
    )


def test_a_busy_register_port_is_one_line_that_names_the_holder() -> None:
    with held_port() as port:
        line = refusal(run_gw("register", "--listen", f"127.0.0.1:{port}"))
    assert f"cannot listen on 127.0.0.1:{port} (the register's port, --listen)" in line
    assert f"by pid {os.getpid()} (" in line  # this test process holds it


def test_a_busy_internal_or_metrics_port_is_one_line() -> None:
    with held_port() as port:
        internal = refusal(
            run_gw(
                "gateway",
                "--listen",
                "127.0.0.1:0",
                "--start-port",
                str(port),
                "--register",
                "127.0.0.1:1",
            )
        )
        metrics = refusal(
            run_gw("register", "--listen", "127.0.0.1:0", "--metrics-listen", f"127.0.0.1:{port}")
        )
    assert f"127.0.0.1:{port} (the gateway's internal port, --start-port)" in internal
    assert f"127.0.0.1:{port} (the metrics port, --metrics-listen)" in metrics


def test_a_lan_ip_this_host_does_not_have_says_what_to_do() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never an address of this host
    line = refusal(
        run_gw(
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--start-port",
            "0",
            "--lan-ip",
            "192.0.2.7",
            "--insecure",
        )
    )
    assert "192.0.2.7 is not an address of this host" in line
    assert "--internal-listen 0.0.0.0" in line and "ZMQError" not in line
    line = refusal(run_gw("gateway", "--listen", "192.0.2.7:0", "--start-port", "0"))
    assert "(the WebSocket port, --listen): 192.0.2.7 is not an address of this host" in line


@pytest.mark.parametrize("busy", ["--register-listen", "--listen", "--start-port"])
def test_gw_up_on_a_busy_port_starts_nothing(busy: str) -> None:
    ports = {"--register-listen": free_port(), "--listen": free_port(), "--start-port": free_port()}
    with held_port() as port:
        ports[busy] = port
        args = [
            f"{k}={v}" if k == "--start-port" else f"{k}=127.0.0.1:{v}" for k, v in ports.items()
        ]
        line = refusal(run_gw("up", "--app", APP, *args))
    assert line.startswith(f"Error: gw up: cannot listen on 127.0.0.1:{port}")
    assert f"another {busy}" in line and f"by pid {os.getpid()}" in line
    # nothing was started: every other port is still free
    assert all(free(p) for k, p in ports.items() if k != busy)


def test_gw_up_names_a_cluster_that_holds_the_port(gw: Cluster, tmp_path: Path) -> None:
    """A second ``make run``: the line names the first cluster's ``gw up``."""
    first = gw.start(
        "up",
        "--app",
        APP,
        "--register-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--start-port",
        "0",
        "--workers",
        "1",
    )
    register = next(p for p in first.info["processes"] if p["role"] == "register")
    line = refusal(
        run_gw(
            "up",
            "--app",
            APP,
            "--register-listen",
            register["listen"],
            "--listen",
            "127.0.0.1:0",
            "--start-port",
            "0",
        )
    )
    assert f"started by pid {first.proc.pid} (gw up --app {APP}" in line
    assert "Ctrl-C where that `gw up` runs" in line  # a foreground cluster: not make stop


def test_gw_start_reports_the_refusal_in_one_line(tmp_path: Path) -> None:
    with held_port() as port:
        result = run_gw(
            "start",
            "--run-dir",
            "run",
            "--app",
            APP,
            "--register-listen",
            f"127.0.0.1:{port}",
            "--listen",
            "127.0.0.1:0",
            "--start-port",
            "0",
            cwd=tmp_path,
        )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and f"cannot listen on 127.0.0.1:{port}" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "run" / "gw.pid").exists()


async def test_a_gateway_no_worker_can_reach_refuses_clients_until_one_does(
    gw: Cluster,
) -> None:
    absent = f"127.0.0.1:{free_port()}"  # no register there (yet)
    gateway = gw.gateway(absent, "--metrics-listen", "127.0.0.1:0")
    gateway.wait_log("no worker can reach this gateway; new clients get 503")
    assert "no register answers at " + absent in gateway.logs()
    assert http_get(gateway.info["metrics"], "/readyz") == (503, "not ready: no register link\n")
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url(gateway))
    response = refused.value.response
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert b"No business worker can reach this gateway" in response.body
    # the register comes (at the address it was given) and a worker links: clients in
    register = gw.register("--listen", absent)
    worker = gw.worker(register, APP)
    gw.linked(gateway, worker)
    gateway.wait_log("linked again")
    probe = await Probe.open(gateway)
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()


async def test_a_reachable_gateway_takes_clients_before_its_first_worker(gw: Cluster) -> None:
    """The waiting room stays: a gateway with a register link holds a client's events
    until a worker links, past its start grace too."""
    register = gw.register()
    gateway = gw.gateway(register)
    register.wait_log("joined")
    await asyncio.sleep(1.0 * UNIT)  # past the start grace (the link timeout: 0.5 s here)
    async with connect(ws_url(gateway)) as ws:
        await ws.send('{"pid": true}')
        gw.worker(register, APP)
        assert "welcome" in await asyncio.wait_for(ws.recv(), 10 * UNIT)
    assert "no worker can reach" not in gateway.logs()


def test_the_chat_web_and_the_http_api_on_a_busy_port_are_one_line() -> None:
    """Both bind before they wait for a register (which here does not exist)."""
    env = {"GW_AUTH_SECRET": "s" * 40, "GW_API_KEY": "k" * 20}
    with held_port() as port:
        web = subprocess.run(
            [
                sys.executable,
                "-m",
                "examples.chat.web",
                "--listen",
                f"127.0.0.1:{port}",
                "--register",
                "127.0.0.1:1",
                "--ws-url",
                "ws://127.0.0.1:1",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30 * UNIT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )
        api = subprocess.run(
            [
                sys.executable,
                "-m",
                "common.cli",
                "api",
                "--listen",
                f"127.0.0.1:{port}",
                "--register",
                "127.0.0.1:1",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30 * UNIT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )
    assert "(the chat's web port, --listen): the port is already in use by pid" in refusal(web)
    assert "(the HTTP API's port, --listen): the port is already in use by pid" in refusal(api)
