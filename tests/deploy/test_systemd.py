"""deploy/systemd: the units run existing ``gw`` commands with options and settings their
role reads, a gateway gets longer than its drain to stop, and workers are reloaded one at
a time (``gw-reload-workers``, run here against stand-ins for systemctl and journalctl).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from .support import (
    DEFAULT_DRAIN_TIME,
    DEPLOY,
    SYSTEMD,
    UNIT,
    role,
    role_of,
    tool,
    unknown_envvars,
    unknown_options,
)

Unit = dict[str, list[tuple[str, str]]]
UNITS = sorted(SYSTEMD.glob("*.service"))
RELOAD = SYSTEMD / "gw-reload-workers"
CONFIG = "/etc/gatewayworker/"


def parse(path: Path) -> Unit:
    """A unit file: {section: [(key, value), ...]}, repeated keys kept in order."""
    unit: Unit = {}
    section = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            assert section not in unit, f"{path.name}: [{section}] twice"
            unit[section] = []
            continue
        assert section is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        unit[section].append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    (value,) = values(unit, section, key)
    return value


def command(unit: Unit) -> tuple[str, list[str]]:
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv[0] == "/opt/gatewayworker/.venv/bin/gw", argv[0]
    return role_of(argv)


def env_file(path: str) -> dict[str, str]:
    lines = path.splitlines() if "\n" in path else Path(path).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and line[0] != "#")


def example_of(environment_file: str) -> Path | None:
    """/etc/gatewayworker/gateway.env -> deploy/systemd/gateway.env.example (env -> env.example)."""
    name = environment_file.lstrip("-").removeprefix(CONFIG)
    example = SYSTEMD / f"{name}.example"
    return example if example.exists() else None


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", text)
    assert match, text
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_the_units() -> None:
    assert [u.name for u in UNITS] == [
        "gw-api.service",
        "gw-gateway.service",
        "gw-register.service",
        "gw-worker@.service",
        "gw-workers.service",
    ]
    roles = {}
    for path in UNITS:
        unit = parse(path)
        assert {"Unit", "Service", "Install"} <= set(unit), path.name
        role_name, args = command(unit)
        roles[path.name] = role_name
        assert not unknown_options(role_name, args), f"{path.name}: {args}"
        assert one(unit, "Service", "KillSignal") == "SIGTERM"
        assert one(unit, "Service", "User") == "gatewayworker"
    assert roles == {
        "gw-gateway.service": "gateway",
        "gw-register.service": "register",
        "gw-worker@.service": "worker",
        "gw-workers.service": "worker",
        "gw-api.service": "api",
    }
    # an instance is one worker process (systemd supervises it), named after the instance
    _, args = command(parse(SYSTEMD / "gw-worker@.service"))
    assert "--single" in args and args[args.index("--name") + 1].endswith("%i")


def test_settings_files_hold_what_their_role_reads() -> None:
    shared: dict[str, set[str]] = {}
    for path in UNITS:
        unit = parse(path)
        role_name, _ = command(unit)
        files = values(unit, "Service", "EnvironmentFile")
        assert files[0] == CONFIG + "env", f"{path.name}: the shared file first, and required"
        for name in files:
            assert name.lstrip("-").startswith(CONFIG), name
            example = example_of(name)
            if example is None:  # an optional per-instance file, documented beside
                assert name.startswith("-") and "%i" in name, f"{name}: no example"
                continue
            settings = env_file(str(example))
            if name == CONFIG + "env":
                for variable in settings:
                    shared.setdefault(variable, set()).add(role_name)
                continue
            unknown = unknown_envvars(role_name, list(settings))
            assert not unknown, f"{example.name}: {role_name} reads no {unknown}"
    for variable, roles in shared.items():
        readers = {r for r in roles if variable in role(r).envvars}
        assert readers, f"env.example: no role reads {variable}"
        # one value for every process on the machine: no per-process listen address
        assert "LISTEN" not in variable or len(readers) == 1, variable
    assert "GW_METRICS_LISTEN" not in shared


def test_a_gateway_gets_longer_than_its_drain_to_stop() -> None:
    unit = parse(SYSTEMD / "gw-gateway.service")
    drain = float(env_file(str(SYSTEMD / "gateway.env.example")).get("GW_DRAIN_TIME", "0"))
    timeout = seconds(one(unit, "Service", "TimeoutStopSec"))
    assert timeout >= max(drain, DEFAULT_DRAIN_TIME) + 10
    assert one(unit, "Service", "KillMode") == "mixed"  # its supervisor stops its processes


def test_the_api_gets_longer_than_its_requests_to_stop_and_its_key_from_a_file() -> None:
    from business.httpapi.server import STOP_TIMEOUT

    unit = parse(SYSTEMD / "gw-api.service")
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > STOP_TIMEOUT
    _, args = command(unit)
    assert "--api-key" not in args  # never on a command line: from api.env
    assert "GW_API_KEY" in env_file(str(SYSTEMD / "api.env.example"))


def test_nothing_restarts_every_worker_at_once() -> None:
    at_once = re.compile(r"(restart|reload)[\w-]*\s+\S*gw-worker@(\*|\{|%)")
    for path in [*SYSTEMD.iterdir(), DEPLOY / "README.md"]:
        found = at_once.search(path.read_text())
        assert not found, f"{path.name}: {found.group(0) if found else ''}"
    assert at_once.search("systemctl reload-or-restart 'gw-worker@*'")  # the old advice
    gateway = (SYSTEMD / "gw-gateway.service").read_text()
    assert "gw-reload-workers" in gateway and "systemctl reload gw-workers" in gateway


def test_supervised_workers_reload_one_at_a_time() -> None:
    unit = parse(SYSTEMD / "gw-workers.service")
    assert one(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "Service", "KillMode") == "mixed"
    # ...and `gw worker` says SIGHUP is its rolling reload
    from common.cli import main

    worker = main.get_command(click.Context(main), "worker")
    assert worker is not None
    assert re.search(r"SIGHUP[^.]*reload", worker.get_help(click.Context(worker)))


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    stub = tmp_path / "gw"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    names = []
    for path in UNITS:  # the real gw is not at /opt here: a stand-in, same arguments
        text = path.read_text().replace("/opt/gatewayworker/.venv/bin/gw", str(stub))
        name = path.name.replace("@.", "@1.")
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    bad = tmp_path / "bad.service"
    bad.write_text(f"[Service]\nExecStart={stub}\nRestart=sometimes\n")

    def verify(*units: str) -> str:
        done = subprocess.run(
            [analyze, "verify", *units], capture_output=True, text=True, timeout=30 * UNIT
        )
        return (done.stdout + done.stderr).strip() + ("" if done.returncode == 0 else " (failed)")

    assert "restart specifier" in verify(str(bad))  # it reads what it verifies
    assert verify(*names) == ""


# -- gw-reload-workers, against stand-ins ------------------------------------------------
FAKE_SYSTEMCTL = r"""#!/bin/sh
echo "systemctl $*" >> "$FAKE/log"
case "$1" in
  list-units) for u in $FAKE_UNITS; do echo "$u loaded active running worker"; done ;;
  restart) n=$(cat "$FAKE/n" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FAKE/n"
           echo "id-$n" > "$FAKE/invocation-$2" ;;
  show) eval "unit=\${$#}"; cat "$FAKE/invocation-$unit" ;;
  is-active) eval "unit=\${$#}"; [ ! -e "$FAKE/dead-$unit" ] ;;
  *) exit 2 ;;
esac
"""
# Ready on the second look at a start's own lines. Asked without that start's id, it
# answers with an older start's ready line, which must not count.
FAKE_JOURNALCTL = r"""#!/bin/sh
echo "journalctl $*" >> "$FAKE/log"
id=
for a in "$@"; do case "$a" in _SYSTEMD_INVOCATION_ID=*) id=${a#*=} ;; esac; done
[ -n "$id" ] || { echo 'GW-READY {"role": "worker", "old": true}'; exit 0; }
n=$(cat "$FAKE/polls-$id" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FAKE/polls-$id"
echo "worker starting"
if [ "$n" -ge 2 ] && [ ! -e "$FAKE/never" ]; then echo 'GW-READY {"role": "worker"}'; fi
exit 0
"""


def reload(tmp_path: Path, *args: str, units: str = "", timeout: int = 5) -> tuple[int, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, script in (("systemctl", FAKE_SYSTEMCTL), ("journalctl", FAKE_JOURNALCTL)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE": str(tmp_path),
        "FAKE_UNITS": units,
        "GW_RELOAD_POLL": "0.05",
        "GW_RELOAD_TIMEOUT": str(timeout),
    }
    done = subprocess.run(
        ["sh", str(RELOAD), *args], env=env, capture_output=True, text=True, timeout=30 * UNIT
    )
    return done.returncode, done.stdout + done.stderr


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "log").read_text().splitlines()


def test_reload_restarts_one_worker_at_a_time(tmp_path: Path) -> None:
    units = "gw-worker@1.service gw-worker@2.service gw-worker@3.service"
    code, output = reload(tmp_path, units=units)
    assert code == 0, output
    log = calls(tmp_path)
    restarts = [i for i, line in enumerate(log) if line.startswith("systemctl restart")]
    assert [log[i].split()[-1] for i in restarts] == units.split()
    for n, (start, end) in enumerate(zip(restarts, [*restarts[1:], len(log)], strict=True), 1):
        # between two restarts: this start's lines, looked at until its ready line showed
        polls = [line for line in log[start:end] if f"_SYSTEMD_INVOCATION_ID=id-{n}" in line]
        assert len(polls) == 2, log[start:end]
    assert output.count("ready") == 3


def test_reload_stops_at_a_worker_that_does_not_come_back(tmp_path: Path) -> None:
    units = "gw-worker@1.service gw-worker@2.service"
    (tmp_path / "never").touch()
    code, output = reload(tmp_path, units=units, timeout=1)
    assert code == 1 and "gw-worker@1.service not ready" in output
    assert [c for c in calls(tmp_path) if "restart" in c] == [
        "systemctl restart gw-worker@1.service"
    ]

    (tmp_path / "never").unlink()
    (tmp_path / "log").unlink()
    (tmp_path / "dead-gw-worker@1.service").touch()
    code, output = reload(tmp_path, units=units)
    assert code == 1 and "gw-worker@1.service did not start" in output
    assert [c for c in calls(tmp_path) if "restart" in c] == [
        "systemctl restart gw-worker@1.service"
    ]


def test_reload_of_named_units_or_of_none(tmp_path: Path) -> None:
    code, output = reload(tmp_path, "gw-worker@2.service", units="gw-worker@1.service")
    assert code == 0, output
    assert next(c for c in calls(tmp_path) if c.startswith("systemctl")).split()[1] == "restart"
    assert "systemctl restart gw-worker@2.service" in calls(tmp_path)
    assert "systemctl restart gw-worker@1.service" not in calls(tmp_path)
    code, output = reload(tmp_path, units="")
    assert code == 1 and "no running gw-worker@ instance" in output


def test_reload_script_passes_shellcheck() -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    done = subprocess.run(
        [shellcheck, "--shell=sh", str(RELOAD)], capture_output=True, text=True, timeout=30 * UNIT
    )
    assert done.returncode == 0, done.stdout
    assert os.access(RELOAD, os.X_OK)
