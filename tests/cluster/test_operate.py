"""Operating a cluster: the background commands behind the Makefile's targets, metrics
and readiness, graceful drain, JSON logs, and --help."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.cluster.client import Probe
from tests.harness import ANY_PORTS, ROOT, UNIT, Cluster, eventually, run_gw

PROBE = "tests.cluster.apps.probe"


def gw(
    *args: str, cwd: Path, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A gw command in a bare environment: only the variables the test gives (no GW_*
    of this one's leaks in)."""
    base = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return run_gw(*args, cwd=cwd, timeout=timeout, env={**base, **(env or {})})


QUICK = ("--heartbeat", "0.2", "--workers", "1", "--drain-time", "0.5")


def start_probe(
    tmp_path: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``gw start`` of the probe app from run/, on ports the OS chooses."""
    return gw(
        "start", "--run-dir", "run", "--app", PROBE, *ANY_PORTS, *options, cwd=tmp_path, env=env
    )


def http_get(address: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10 * UNIT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str) -> float:
    """The value of one sample (``name`` with its labels, as printed)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in:\n{text}")


async def exchange(probes: list[Probe], rounds: int) -> int:
    """Every probe asks for its worker's pid ``rounds`` times; the replies received."""

    async def one(probe: Probe) -> int:
        got = 0
        for _ in range(rounds):
            await probe.send({"pid": True})
            reply = await probe.json(timeout=30 * UNIT)
            got += "pid" in reply
        return got

    return sum(await asyncio.gather(*(one(p) for p in probes)))


@pytest.mark.timeout(240 * UNIT)
async def test_the_background_cluster_from_start_to_stop(tmp_path: Path) -> None:
    start = start_probe(tmp_path, "--heartbeat", "0.2", "--workers", "2", "--drain-time", "1")
    assert start.returncode == 0, start.stderr
    assert "cluster running (pid" in start.stdout and "ws://127.0.0.1:" in start.stdout
    info = json.loads((tmp_path / "run" / "gw.json").read_text())
    (gateway,) = [p for p in info["processes"] if p["role"] == "gateway"]
    again = gw("start", "--run-dir", "run", "--app", PROBE, cwd=tmp_path)
    assert again.returncode != 0 and "already running" in again.stderr
    (register,) = [p for p in info["processes"] if p["role"] == "register"]
    beside = gw("up", "--app", PROBE, "--register-listen", register["listen"], cwd=tmp_path)
    assert beside.returncode == 2 and "`make stop`" in beside.stderr  # a background cluster
    try:
        probes = [await Probe.open(gateway["websocket"]) for _ in range(6)]
        await probes[0].call("join_group", probes[0].client_id, "room-7")
        await probes[0].call("bind_uid", probes[0].client_id, "alice")

        status = gw("status", "--run-dir", "run", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert gateway["internal"] in status.stdout and "WORKER" in status.stdout
        lines = status.stdout.splitlines()
        assert lines[1].split()[3] == "6"  # the CLIENTS column
        # every local process of the cluster with its memory, the workers' included
        rows = lines[lines.index(next(x for x in lines if x.startswith("PROCESS"))) + 1 :]
        named = {int(row.split()[1]): row.split()[0] for row in rows if row.strip()}
        pids = {p["pid"]: p["role"] for p in info["processes"]}
        assert {named[pid] for pid in pids} == {"register", "gateway", "worker"}
        assert all(float(row.split()[2]) > 1 for row in rows if row.strip())  # MiB
        as_json = json.loads(gw("status", "--run-dir", "run", "--json", cwd=tmp_path).stdout)
        assert as_json["gateways"][gateway["internal"]]["clients"] == 6

        listing = gw("connections", "--run-dir", "run", cwd=tmp_path)
        assert "6 connections" in listing.stdout
        (row,) = [line for line in listing.stdout.splitlines() if probes[0].client_id in line]
        assert "alice" in row and "room-7" in row and "127.0.0.1:" in row

        # scale up and down under load: every request answered
        load = asyncio.create_task(exchange(probes, 40))
        up = await asyncio.to_thread(gw, "scale", "--run-dir", "run", "4", cwd=tmp_path)
        assert up.returncode == 0 and up.stdout.strip() == "workers: 4", up.stderr
        down = await asyncio.to_thread(gw, "scale", "--run-dir", "run", "1", cwd=tmp_path)
        assert down.returncode == 0 and down.stdout.strip() == "workers: 1", down.stderr
        assert await load == 6 * 40  # 0 lost

        # rolling reload with clients connected: they stay, and are served by new workers
        await probes[0].send({"pid": True})
        old = {(await probes[0].json())["pid"]}
        reload = await asyncio.to_thread(gw, "reload", "--run-dir", "run", cwd=tmp_path)
        assert reload.returncode == 0, reload.stderr
        assert reload.stdout.strip().endswith("reloaded")
        (replaced,) = [line for line in reload.stdout.splitlines() if "replaced: pid " in line]
        assert f"(was {next(iter(old))})" in replaced  # the one worker left after scale 1
        assert await exchange(probes, 3) == 6 * 3  # the same connections, still served
        await probes[0].send({"pid": True})
        assert (await probes[0].json())["pid"] not in old  # by the new worker

        logs = gw("logs", "--run-dir", "run", "--no-follow", "-n", "5", cwd=tmp_path)
        assert logs.returncode == 0 and len(logs.stdout.splitlines()) == 5
    finally:  # in a thread: the probes answer the gateway's closing handshakes meanwhile
        stop = await asyncio.to_thread(gw, "stop", "--run-dir", "run", cwd=tmp_path)
    assert stop.returncode == 0, stop.stderr
    assert "nothing left listening" in stop.stdout
    # the gateway drained while the workers still ran: every close event was handled
    log = (tmp_path / "run" / "gw.log").read_text()
    assert "6 clients closed, 0 events unacknowledged, 0 never handled" in log, log[-3000:]
    # scale, reload and stop are planned: no warning; the workers that stopped left at
    # INFO; the supervisor says once how every child exited (the children do not). (The
    # register's "heard from nobody" is about the machine: at --heartbeat 0.2 a loaded
    # one can leave it 0.3 s without a frame.)
    warnings = [
        line for line in log.splitlines() if " WARNING " in line and "heard from nobody" not in line
    ]
    assert not warnings, log[-3000:]
    assert log.count(" INFO gateway.workers") > log.count("left: it stopped") >= 4  # 3 + reload
    assert "stopped 3 processes, each exited 0" in log
    assert "SIGTERM received" not in log and "worker: stopped" not in log
    assert not (tmp_path / "run" / "gw.pid").exists()
    for probe in probes:
        with pytest.raises(ConnectionClosed) as closed:
            await probe.recv(timeout=10 * UNIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert gw("stop", "--run-dir", "run", cwd=tmp_path).stdout.startswith("not running from run/")
    status = gw("status", "--run-dir", "run", "--timeout", "0.5", cwd=tmp_path)
    assert status.returncode == 1 and "no register answered" in status.stderr
    assert "no cluster was started from run/ either" in status.stderr
    scale = gw("scale", "--run-dir", "run", "2", cwd=tmp_path)
    assert (
        scale.returncode == 1
        and "no cluster running from run/ (make start or gw start first)" in scale.stderr
    )


def test_restart_needs_the_secrets_the_cluster_was_started_with(tmp_path: Path) -> None:
    secret = "a-token-secret-of-32-bytes-or-more!"
    start = start_probe(tmp_path, *QUICK, "--auth-secret", secret, "--auth-optional")
    assert start.returncode == 0, start.stderr
    try:
        saved = (tmp_path / "run" / "gw.args").read_text()
        assert secret not in saved and "GW_AUTH_SECRET" in saved  # its name only
        first = json.loads((tmp_path / "run" / "gw.json").read_text())["pid"]
        refused = gw("restart", "--run-dir", "run", cwd=tmp_path)
        assert refused.returncode == 1, refused.stdout
        assert "started with GW_AUTH_SECRET" in refused.stderr
        assert "nothing was stopped" in refused.stderr and secret not in refused.stderr
        os.kill(first, 0)  # still running
        done = gw("restart", "--run-dir", "run", cwd=tmp_path, env={"GW_AUTH_SECRET": secret})
        assert done.returncode == 0, done.stderr
        assert "nothing left listening" in done.stdout and "cluster running" in done.stdout
        assert json.loads((tmp_path / "run" / "gw.json").read_text())["pid"] != first
    finally:
        stop = gw("stop", "--run-dir", "run", cwd=tmp_path)
    assert stop.returncode == 0, stop.stderr


def test_restart_starts_the_cluster_that_runs(tmp_path: Path) -> None:
    """What was given in the environment at gw start (an HTTP API, GW_API_PORT) is
    there after a gw restart from an environment without it, and so are the workers
    gw scale made (not the count gw start was given)."""
    from tests.cluster.httpapi import KEY

    def roles() -> list[str]:
        info = json.loads((tmp_path / "run" / "gw.json").read_text())
        return sorted(p["role"] for p in info["processes"])

    # no workers at first (GW_WORKER_COUNT=0, as gw up --workers 0): those gw scale
    # starts are gw worker --single children, which must not read a count of 0 from it
    given = {"GW_API_PORT": "0", "GW_API_KEY": KEY, "GW_WORKER_COUNT": "0"}
    args = ("--heartbeat", "0.2", "--drain-time", "0.5")
    start = start_probe(tmp_path, *args, env=given)
    assert start.returncode == 0, start.stderr
    try:
        assert roles() == ["api", "gateway", "register"]
        saved = (tmp_path / "run" / "gw.args").read_text()
        assert KEY not in saved and '"GW_API_PORT": "0"' in saved
        scale = gw("scale", "--run-dir", "run", "2", cwd=tmp_path)
        assert scale.returncode == 0, scale.stderr
        done = gw("restart", "--run-dir", "run", cwd=tmp_path, env={"GW_API_KEY": KEY})
        assert done.returncode == 0, done.stderr
        assert roles() == ["api", "gateway", "register", "worker", "worker"]
    finally:
        stop = gw("stop", "--run-dir", "run", cwd=tmp_path)
    assert stop.returncode == 0, stop.stderr


def test_make_run_makes_the_http_apis_key_once_and_gives_it_in_the_environment(
    tmp_path: Path,
) -> None:
    """make run / make start serve the HTTP API: its key is made once in a file only its
    owner reads, kept, and handed over in the environment (GW_API_KEY, if set, instead),
    never on a command line."""
    key_file = tmp_path / "data" / "api-key"
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", f"API_KEY_FILE={key_file}", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            env=clean,
        )

    made = make(str(key_file))
    assert made.returncode == 0, made.stderr
    key = key_file.read_text().strip()
    assert len(key) >= 40 and (key_file.stat().st_mode & 0o777) == 0o600
    assert make(str(key_file)).returncode == 0 and key_file.read_text().strip() == key
    planned = make("-n", "run").stdout  # what make run would do
    assert (
        "--api-port 8790" in planned
        and f'GW_API_KEY="${{GW_API_KEY:-$(cat {key_file})}}"' in planned
    )
    assert key not in planned
    assert "--api-port" not in make("-n", "run", "API_PORT=").stdout


def test_a_stop_that_does_not_end_is_forced_on_demand(tmp_path: Path) -> None:
    """A worker whose on_worker_stop never returns: gw stop says so past its timeout;
    gw stop --force then kills every process of the cluster (the original's immediate
    stop), and nothing is left listening."""
    start = start_probe(tmp_path, "--drain-time", "0.2", env={"PROBE_STOP_HANGS": "1"})
    assert start.returncode == 0, start.stderr
    pids = [p["pid"] for p in json.loads((tmp_path / "run" / "gw.json").read_text())["processes"]]
    try:
        stuck = gw("stop", "--run-dir", "run", "--timeout", "2", cwd=tmp_path)
        assert stuck.returncode == 1 and "gw stop --force kills it" in stuck.stderr
        assert any(_exists(pid) for pid in pids)  # the hung worker at least
    finally:
        forced = gw("stop", "--run-dir", "run", "--timeout", "0", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "killing every process" in forced.stderr and "nothing left listening" in forced.stdout
    assert not [pid for pid in pids if _exists(pid)]


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_background_cluster_with_the_http_api(tmp_path: Path) -> None:
    from tests.cluster.httpapi import KEY, OTHER_KEY, HttpApi, cmdline

    start = start_probe(
        tmp_path, *QUICK, "--api-port", "0", "--api-key", KEY, "--api-key", OTHER_KEY
    )
    assert start.returncode == 0, start.stderr
    try:
        (line,) = [line for line in start.stdout.splitlines() if "/api/v1/" in line]
        assert line.split()[0] == "api" and "openapi.json" in line
        info = json.loads((tmp_path / "run" / "gw.json").read_text())
        (api,) = [p for p in info["processes"] if p["role"] == "api"]
        saved = (tmp_path / "run" / "gw.args").read_text()
        assert KEY not in saved and OTHER_KEY not in saved and "GW_API_KEY" in saved
        for pid in [info["pid"]] + [p["pid"] for p in info["processes"] if "pid" in p]:
            assert KEY not in cmdline(pid)
        async with HttpApi(api["listen"], key=OTHER_KEY) as http:  # both keys given work
            assert (await http.call("get_all_client_id_count")).status == 200
        status = gw("status", "--run-dir", "run", cwd=tmp_path)
        assert status.returncode == 0 and f"api-{api['pid']}" in status.stdout, status.stderr
    finally:  # in a thread: the probes answer the gateway's closing handshakes meanwhile
        stop = await asyncio.to_thread(gw, "stop", "--run-dir", "run", cwd=tmp_path)
    assert stop.returncode == 0, stop.stderr
    assert "nothing left listening" in stop.stdout  # the API's port is checked too
    assert KEY not in (tmp_path / "run" / "gw.log").read_text()


async def test_metrics_and_readiness(gw_cluster: Cluster) -> None:
    register = gw_cluster.register("--metrics-listen", "127.0.0.1:0")
    gateway = gw_cluster.gateway(register, "--metrics-listen", "127.0.0.1:0")
    assert http_get(register.info["metrics"], "/readyz") == (200, "ready\n")
    address = gateway.info["metrics"]
    assert http_get(address, "/healthz") == (200, "ok\n")
    eventually(
        lambda: (answer := http_get(address, "/readyz"))[0] == 503 and "no worker" in answer[1]
    )
    worker = gw_cluster.worker(register, PROBE, "--metrics-listen", "127.0.0.1:0")
    eventually(lambda: http_get(address, "/readyz")[0] == 200)
    probe = await Probe.open(gateway)
    await probe.send({"pid": True})
    await probe.json()
    gateway_metrics = http_get(address, "/metrics")[1]
    assert metric(gateway_metrics, "gw_gateway_clients") == 1
    assert metric(gateway_metrics, "gw_gateway_workers") == 1
    assert metric(gateway_metrics, "gw_gateway_registers_linked") == 1
    assert metric(gateway_metrics, "gw_gateway_registers") == 1  # what GwRegisterDown compares
    assert metric(gateway_metrics, 'gw_gateway_events_total{kind="message"}') == 1
    assert metric(gateway_metrics, "gw_gateway_bytes_in_total") > 0
    assert metric(gateway_metrics, "process_resident_memory_bytes") > 0
    (worker_address,) = [p["metrics"] for p in worker.info["processes"]]
    assert http_get(worker_address, "/readyz")[0] == 200
    worker_metrics = http_get(worker_address, "/metrics")[1]
    assert metric(worker_metrics, 'gw_worker_events_total{kind="message"}') == 1
    assert metric(worker_metrics, "gw_worker_handler_seconds_count") >= 3  # with (ws_)connect
    assert http_get(address, "/nothing")[0] == 404
    await probe.close()


@pytest.fixture
def gw_cluster(gw: Cluster) -> Cluster:
    return gw


async def test_drain_closes_every_client_with_1012_and_loses_nothing(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--drain-time", "2", "--metrics-listen", "127.0.0.1:0")
    worker = gw.worker(register, PROBE)
    observer = await Probe.open(gateway, "/?uid=observer")
    probes = [await Probe.open(gateway) for _ in range(20)]
    other = gw.gateway(register)  # where the clients would reconnect
    drain = await asyncio.to_thread(run_gw, "drain", "--gateway", gateway.info["internal"])
    assert drain.returncode == 0, drain.stderr
    assert "drained and gone" in drain.stdout
    for probe in [*probes, observer]:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await probe.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert gateway.proc.wait(20 * UNIT) == 0
    assert "draining 21 clients" in gateway.logs()
    # every close event reached the worker: the worker saw the close of each
    assert "21 clients closed, 0 events unacknowledged" in gateway.logs()
    # a count now is complete once the worker has let the drained gateway go
    await asyncio.to_thread(worker.wait_log, f"gateway {gateway.info['internal']} left the cluster")
    fresh = await Probe.open(other)
    assert await fresh.result("get_all_client_id_count") == 1
    await fresh.close()


def test_logs_as_json(gw: Cluster) -> None:
    register = gw.register("--log-format", "json")
    register.stop()
    lines = [line for line in register.logs().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert entries and all(
        {"time", "level", "logger", "pid", "message"} <= e.keys() for e in entries
    )
    assert any("register listening on" in e["message"] for e in entries)


@pytest.mark.parametrize("command", ["register", "gateway", "worker", "up", "api"])
def test_help_shows_every_options_environment_variable(command: str) -> None:
    import click

    from common.cli import main

    result = subprocess.run(
        [sys.executable, "-m", "common.cli", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        check=True,
    )
    text = " ".join(result.stdout.split())
    cmd = main.get_command(click.Context(main), command)
    assert cmd is not None
    options = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]
    assert len(options) > 3
    for param in options:
        if param.name == "with_commands":  # repeatable commands: no environment variable
            continue
        assert param.envvar, param.name
        assert f"env var: {param.envvar}" in text, param.name


@pytest.mark.parametrize(
    ("target", "command"),
    [
        ("start", "start --run-dir run --app examples.chat.worker.app --with"),
        ("stop", "stop"),
        ("restart", "restart"),
        ("reload", "reload"),
        ("status", "status"),
        ("scale WORKERS=3", "scale --run-dir run 3"),
        ("logs", "logs"),
        ("connections", "connections"),
    ],
)
def test_each_make_target_is_one_gw_command(target: str, command: str) -> None:
    # under `make test`, an inner make would announce its directory (MAKELEVEL)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *target.split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        check=True,
        env=env,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert ".venv/bin/gw " in last and command in last, last
    assert "secrets.token" not in last or last.startswith("GW_AUTH_SECRET=")
