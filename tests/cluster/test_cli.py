"""The gw command: gw up, environment variables, rolling reload, status."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from common.background import in_the_foreground
from common.launch import Refused
from common.up import check_app
from tests.cluster.client import Probe
from tests.harness import ANY_PORTS, ROOT, UNIT, Cluster, GwProcess, free_port, run_gw

APP = "tests.cluster.apps.probe"


def up(
    gw: Cluster, *extra: str, env: dict[str, str] | None = None, session: bool = False
) -> GwProcess:
    return gw.start(
        "up",
        "--app",
        APP,
        *ANY_PORTS,
        "--heartbeat",
        "0.2",
        *extra,
        env=env,
        session=session,
    )


def by_role(process: GwProcess, role: str) -> list[dict]:
    return [p for p in process.info["processes"] if p["role"] == role]


async def test_gw_up_runs_the_whole_cluster(gw: Cluster) -> None:
    cluster = up(gw, "--workers", "2", "--gateways", "2")
    assert len(by_role(cluster, "register")) == 1
    gateways = by_role(cluster, "gateway")
    assert len(gateways) == 2 and len(by_role(cluster, "worker")) == 2
    # the two gateway processes share one WebSocket port (SO_REUSEPORT)
    assert gateways[0]["websocket"] == gateways[1]["websocket"]
    assert gateways[0]["internal"] != gateways[1]["internal"]
    probe = await Probe.open(gateways[0]["websocket"])
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()


def test_ctrl_c_stops_gw_up_cleanly(gw: Cluster) -> None:
    """Ctrl-C signals the whole process group: each role gets SIGINT, then SIGTERM
    from its supervisor; a role that has already stopped must not die of the second
    (it used to, about one run in three: exit 1)."""
    for _ in range(5):
        cluster = up(gw, "--workers", "2", session=True)
        os.killpg(cluster.proc.pid, signal.SIGINT)
        assert cluster.proc.wait(30 * UNIT) == 0, cluster.logs()[-3000:]


async def test_options_come_from_environment_variables(gw: Cluster) -> None:
    register = gw.register()
    env = {
        "GW_REGISTER": register.info["listen"],
        "GW_LISTEN": "127.0.0.1:0",
        "GW_START_PORT": "0",
        "GW_PING_DATA": "env-ping",
        "GW_PING_INTERVAL": "0.1",
    }
    gateway = gw.start("gateway", "--heartbeat", "0.2", env=env)
    gw.start("worker", "--app", APP, "--heartbeat", "0.2", env=env)
    probe = await Probe.open(gateway)
    assert await probe.recv() == "env-ping"
    await probe.close()


async def test_sighup_reloads_workers_one_by_one_clients_stay(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    workers = gw.worker(register, APP, count=2)
    old = {p["pid"] for p in workers.info["processes"]}
    probe = await Probe.open(gateway)
    workers.signal(signal.SIGHUP)
    logs = workers.wait_log("reloaded worker-1")
    assert "reloaded worker-0" in logs
    for _ in range(3):
        await probe.send({"pid": True})
        assert (await probe.json())["pid"] not in old
    await probe.close()


async def test_status_reports_every_gateway(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    probe = await Probe.open(gateway)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "common.cli",
            "status",
            "--json",
            "--register",
            register.info["listen"],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["missing"] == []
    (only,) = status["gateways"].values()
    assert only["clients"] == 1 and len(only["workers"]) == 1 and only["rss_bytes"] > 0
    await probe.close()


async def test_gw_drain_says_when_a_supervisor_replaced_the_gateway(gw: Cluster) -> None:
    """gw drain of a gw up gateway: it drains and stops, gw up starts a new one on the
    same internal port, and gw drain says so at once (it used to ask the new one until
    its --timeout, then fail)."""
    cluster = up(gw, "--start-port", str(free_port()))
    (old,) = by_role(cluster, "gateway")
    probe = await Probe.open(old["websocket"])
    drain = await asyncio.to_thread(run_gw, "drain", "--gateway", old["internal"], timeout=30)
    assert drain.returncode == 0, drain.stderr
    assert "drained and gone; its supervisor started a new gateway there" in drain.stdout
    new_pid = int(drain.stdout.rsplit("(pid ", 1)[1].split(")")[0])
    assert new_pid != old["pid"]
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await probe.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    # the count lines: one per change, never the same count twice in a row
    counts = [line for line in drain.stdout.splitlines() if line.endswith(" left")]
    assert all(a != b for a, b in itertools.pairwise(counts))


def test_a_cluster_in_the_foreground_is_named_to_who_looks_for_one_in_the_background(
    gw: Cluster,
) -> None:
    """make stop / reload / scale / logs look in run/; a make run cluster (gw up in the
    foreground, another terminal) is named by who holds its register port, with what to
    do with it instead."""
    cluster = up(gw)
    (register,) = by_role(cluster, "register")
    top = cluster.proc.pid
    hints = {
        doing: in_the_foreground(doing, address=register["listen"])
        for doing in ("", "stop", "reload", "scale", "logs")
    }
    for hint in hints.values():
        assert f"held by pid {register['pid']} (gw register" in hint
        assert f"started by pid {top} (gw up" in hint
    assert "Ctrl-C where that `gw up` runs" in hints[""]
    assert f"Ctrl-C where it runs stops it (or kill -TERM {top})" in hints["stop"]
    assert f"kill -HUP {top} reloads its workers" in hints["reload"]
    assert f"kill -TTIN {top} adds a worker, kill -TTOU {top} stops one" in hints["scale"]
    assert "logs to the terminal where it runs" in hints["logs"]
    nobody = f"127.0.0.1:{free_port()}"
    assert in_the_foreground("stop", address=nobody) == ""  # nobody there: nothing said


def test_bad_app_is_a_clear_error() -> None:
    result = run_gw("worker", "--app", "no.such.module", "--single", timeout=30)
    assert result.returncode == 2
    assert "cannot import app 'no.such.module'" in result.stderr


def test_an_app_whose_import_fails_is_one_line_naming_where(tmp_path: Path) -> None:
    """Its own code raised, or is not Python: the error and the file and line, exit 2
    (it was a traceback of click and importlib, exit 1)."""
    (tmp_path / "raises.py").write_text("\n\nraise RuntimeError('half-written')\n")
    (tmp_path / "bad.py").write_text("def on_message(:\n")
    for app, said in (
        ("raises", f"RuntimeError: half-written ({tmp_path / 'raises.py'}, line 3)"),
        ("bad", "SyntaxError: invalid syntax (bad.py, line 1)"),
        ("../../etc/passwd", "TypeError: the 'package' argument is required"),
    ):
        result = run_gw("worker", "--app", app, "--single", cwd=tmp_path, timeout=30)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"Error: cannot import app {app!r}: {said}"), line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("register", "--heartbeat", "nan"),
            "'--heartbeat' (env var: 'GW_HEARTBEAT'): 'nan' is not a finite number",
        ),
        (("register", "--heartbeat", "0"), "0.0 is not in the range x>=0.01"),
        (("gateway", "--drain-time", "inf"), "'inf' is not a finite number"),
        (("gateway", "--rate-limit", "-1"), "-1.0 is not in the range x>=0"),
        (("gateway", "--max-message-size", "0"), "0 is not in the range x>=1"),
        (("worker", "--app", "examples.echo.app", "--count", "100000"), "1<=x<=256"),
        (("worker", "--app", "examples.echo.app", "--count", "0"), "1<=x<=256"),
        (("up", "--gateways", "0"), "1<=x<=256"),
        (("up", "--workers", "-1"), "0<=x<=256"),
        (("status", "--timeout", "-1"), "-1.0 is not in the range x>=0"),
        (("status", "--register", ","), "no address given"),
        (("scale", "300"), "0<=x<=256"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(args: tuple[str, ...], said: str) -> None:
    """NaN, infinity, a negative duration, 100,000 workers: exit 2 before anything runs
    (they were a traceback, a loop at 100% CPU, or 1,100 forked workers)."""
    result = run_gw(*args, timeout=30)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_gw_up_refuses_an_app_it_cannot_find_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = run_gw("up", "--app", "no.such.module", *ANY_PORTS, cwd=tmp_path, timeout=30)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"Error: gw up: cannot import app 'no.such.module': no such module, installed or "
        f"in {tmp_path} (--app takes a module path, e.g. examples.echo.app)"
    ]  # one line: no register, gateway or worker was started to say more
    # a module of the current directory is found, as the workers find it
    (tmp_path / "here.py").write_text("def on_message(client_id, message): pass\n")
    monkeypatch.chdir(tmp_path)
    check_app("here")
    check_app("here:on_message")
    with pytest.raises(Refused):
        check_app("there")
    (tmp_path / "broken").mkdir()  # a package whose own code fails: one line all the same
    (tmp_path / "broken" / "__init__.py").write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(Refused, match=r"cannot import app 'broken\.app': RuntimeError"):
        check_app("broken.app")


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--with", "/nonexistent/cmd --flag"), "no program '/nonexistent/cmd'"),
        (("--with", ""), "an empty command"),
        (("--with", "python -c 'unbalanced"), "No closing quotation"),
        (("--control", "/nonexistent/dir/gw.sock"), "no folder /nonexistent/dir"),
    ],
)
def test_gw_up_refuses_what_it_cannot_run_before_starting_anything(
    tmp_path: Path, option: tuple[str, str], said: str
) -> None:
    """A --with command that cannot be run, a --control socket with no folder: one line,
    exit 2, nothing started (they were a traceback, and a cluster left running)."""
    result = run_gw(
        "up", "--app", "examples.echo.app", *ANY_PORTS, *option, cwd=tmp_path, timeout=30
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: gw up: ") and said in line, line
    assert "GW-READY" not in result.stdout


def test_a_child_that_cannot_be_run_ends_its_supervisor_cleanly() -> None:
    """The supervisor's own safety net (a program gone between gw up's check and the
    start): a ChildFailed naming it, which run() makes one line and a stop of the rest."""
    from common.supervisor import Child, ChildFailed, Supervisor

    async def run() -> None:
        supervisor = Supervisor("test")
        with pytest.raises(ChildFailed, match=r"x could not start: .*No such file"):
            await supervisor.spawn(Child("x", ["/nonexistent/program"], 0))

    asyncio.run(run())


def test_a_refused_child_ends_its_supervisor_with_one_line() -> None:
    """The child's own line says why; the supervisor adds nothing (it used to add
    "did not become ready", and at times asyncio's "Unknown child process": its kill
    reaped the child under the watcher, which then reported 255) and exits 2."""
    for _ in range(3):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "common.cli",
                "worker",
                "--app",
                "no.such.module",
                "--count",
                "2",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30 * UNIT,
        )
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr
        assert lines == ["Error: cannot import app 'no.such.module': No module named 'no'"] * 2


EXTRA = (
    "import json, signal, sys, threading; "
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "print('GW-READY ' + json.dumps({'role': 'extra', 'register': sys.argv[1]}), flush=True); "
    "threading.Event().wait()"
)


def test_gw_up_runs_extra_commands_with_the_cluster_addresses(gw: Cluster) -> None:
    cluster = up(gw, "--workers", "1", "--with", f'python -c "{EXTRA}" {{register}}')
    (extra,) = by_role(cluster, "extra")
    (register,) = by_role(cluster, "register")
    assert extra["register"] == register["listen"]


def test_secrets_never_reach_a_command_line(gw: Cluster) -> None:
    secret, auth = "internal-secret-for-the-test", "auth-secret-for-the-test-of-32-bytes!"
    cluster = up(gw, "--workers", "1", "--secret", secret, "--auth-secret", auth, "--auth-optional")
    pids = [cluster.proc.pid] + [p["pid"] for p in cluster.info["processes"] if "pid" in p]
    assert len(pids) == 4  # up, register, gateway, worker
    for pid in pids[1:]:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert secret not in cmdline and auth not in cmdline, cmdline
    assert secret not in cluster.logs() and auth not in cluster.logs()


async def test_gw_up_runs_the_http_api_and_gw_status_shows_it(gw: Cluster) -> None:
    from tests.cluster.httpapi import KEY, HttpApi, cmdline

    cluster = up(
        gw,
        "--workers",
        "1",
        "--api-port",
        "0",
        "--with",
        f'python -c "{EXTRA}" {{api}}',
        env={"GW_API_KEY": KEY},
    )
    (api,) = by_role(cluster, "api")
    (gateway,) = by_role(cluster, "gateway")
    (register,) = by_role(cluster, "register")
    (extra,) = by_role(cluster, "extra")
    assert extra["register"] == api["listen"]  # {api} in --with is its address
    command = cmdline(api["pid"])
    assert KEY not in command and api["listen"] in command
    probe = await Probe.open(gateway["websocket"])
    async with HttpApi(api["listen"]) as http:
        await http.result("send_to_client", client_id=probe.client_id, message="from http")
        assert await probe.recv() == "from http"
        assert (await http.call("get_all_client_id_count", _key="not-the-key-123456")).status == 401
    status = run_gw("status", "--register", register["listen"], timeout=30)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    (row,) = [line.split() for line in lines if line.startswith("api-")]
    assert row == [f"api-{api['pid']}", "1", "of", "1"]
    assert not any(line.startswith("gw-control") for line in lines)
    await probe.close()


def test_gw_up_wants_a_key_for_the_api() -> None:
    result = run_gw(
        "up",
        "--api-port",
        "0",
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "GW_API_KEY"},
    )
    assert result.returncode == 2  # a usage error, before anything starts
    needs = "--api-port: the HTTP API needs --api-key (or GW_API_KEY; make one with: python3"
    assert needs in result.stderr
    assert "GW-READY" not in result.stdout


CRASH_THEN_SLOW = (
    "import json, os, sys, time; mark = sys.argv[1]; first = not os.path.exists(mark); "
    "open(mark, 'a').close(); time.sleep(0 if first else 30); "
    "print('GW-READY ' + json.dumps({'role': 'child'}), flush=True); "
    "time.sleep(0.3 if first else 30)"
)


async def test_a_stop_during_a_restart_is_a_clean_stop(tmp_path: Path) -> None:
    """The child crashes; its replacement is still starting (no SIGTERM handler yet)
    when the supervisor is told to stop: that replacement dying of our SIGTERM is not
    a failure (it used to end the supervisor with exit code 1)."""
    import asyncio

    from common.supervisor import Child, Supervisor

    child = Child("child", [sys.executable, "-c", CRASH_THEN_SLOW, str(tmp_path / "mark")], 0)
    supervisor = Supervisor("test", stop_timeout=10)
    running = asyncio.ensure_future(supervisor.run([[child]]))
    first = None
    while not (child.starting and child.restarts and child.proc is not first):
        first = first or (child.proc if child.info else None)
        await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)  # run() handles it: stop everything
    assert await asyncio.wait_for(running, 20 * UNIT) == 0
    assert child.proc is not None and child.proc.returncode == -signal.SIGTERM
