"""``gw status --watch`` (make top): in a real terminal (tmux) and through a pipe."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cluster.client import Probe
from tests.harness import ROOT, UNIT, Cluster, GwProcess, run_gw

PROBE = "tests.cluster.apps.probe"
# the gateway table's columns, after the address
COLUMNS = (
    "clients",
    "workers",
    "pending",
    "in",
    "out",
    "events",
    "commands",
    "redelivered",
    "refused",
    "rss",
)


def started(gw: Cluster) -> tuple[GwProcess, GwProcess]:
    """A register, a gateway and two probe workers linked to it."""
    register = gw.register()
    gateway = gw.gateway(register)
    workers = gw.worker(register, PROBE, count=2)
    gw.linked(gateway, workers)
    return register, gateway


def gateway_row(screen: str, address: str) -> dict[str, str] | None:
    """The gateway's row of the table on ``screen``, by column (None if not shown)."""
    for line in screen.splitlines():
        cells = line.split()
        if cells and cells[0] == address and len(cells) == 1 + len(COLUMNS):
            return dict(zip(COLUMNS, cells[1:], strict=True))
    return None


def rate(screen: str, address: str, column: str) -> float | None:
    row = gateway_row(screen, address)
    if row is None or row[column] == "-":
        return None
    return float(row[column])


class Tmux:
    """A tmux server of our own (its own socket, no config file) with one window."""

    def __init__(self) -> None:
        self.server = f"gw-test-{os.getpid()}-{time.monotonic_ns()}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.server, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10 * UNIT,
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "watch")

    async def until(self, check: Callable[[str], Any], timeout: float = 20 * UNIT) -> str:
        """Read the screen (in a thread: the test's clients keep running) until ``check``."""
        deadline = time.monotonic() + timeout
        while True:
            screen = await asyncio.to_thread(self.screen)
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise TimeoutError(f"never on screen ({check}):\n{screen}")
            await asyncio.sleep(0.1)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (make tmux installs Debian's)")
    server = Tmux()
    try:
        yield server
    finally:
        subprocess.run(
            ["tmux", "-L", server.server, "kill-server"], capture_output=True, timeout=10 * UNIT
        )


async def chatter(probes: list[Probe], until: asyncio.Event) -> int:
    """Each probe asks its worker for its pid again and again, until ``until``."""

    async def one(probe: Probe) -> int:
        done = 0
        while not until.is_set():
            await probe.send({"pid": True})
            done += "pid" in await probe.json(timeout=10 * UNIT)
        return done

    return sum(await asyncio.gather(*(one(p) for p in probes)))


@pytest.mark.timeout(120 * UNIT)
async def test_watch_redraws_the_rates_in_place_in_a_terminal(gw: Cluster, tmux: Tmux) -> None:
    register, gateway = started(gw)
    address = gateway.info["internal"]
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "common.cli",
            "status",
            "--register",
            register.info["listen"],
            "--watch",
            "0.5",
        ]
    )
    tmux(
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "200",
        "-y",
        "50",
        "-c",
        str(ROOT),
        "-e",
        f"PYTHONPATH={ROOT}",
        f"{command}; echo gw-exit=$?",
        ";",
        "set-option",
        "-w",
        "-t",
        "watch",
        "remain-on-exit",
        "on",
    )
    idle = await tmux.until(lambda s: rate(s, address, "in") == 0)  # a second refresh
    assert gateway_row(idle, address) is not None and "total: 1 gateway, 2 workers" in idle

    probes = [await Probe.open(gateway) for _ in range(4)]
    stop = asyncio.Event()
    traffic = asyncio.create_task(chatter(probes, stop))
    try:  # while it flows: messages in and out, events and commands per second
        busy = await tmux.until(
            lambda s: (rate(s, address, "in") or 0) > 0 and (rate(s, address, "out") or 0) > 0
        )
        assert (rate(busy, address, "events") or 0) > 0, busy
        assert (rate(busy, address, "commands") or 0) > 0, busy
        assert gateway_row(busy, address)["clients"] == "4"  # type: ignore[index]
        assert "msg in 0/s" not in busy and "msg in -/s" not in busy
    finally:
        stop.set()
        answered = await traffic
    assert answered > 0
    # the traffic stopped: the rates fall back to 0; the tables were redrawn in place
    calm = await tmux.until(lambda s: rate(s, address, "in") == 0)
    assert calm.count("gw status --watch 0.5s") == 1, calm
    assert calm.count("GATEWAY ") == 2  # the gateways' header and the workers'

    tmux("send-keys", "-t", "watch", "C-c")
    ended = await tmux.until(lambda s: "gw-exit=" in s)
    assert "gw-exit=0" in ended and "Traceback" not in ended, ended


def test_watch_without_a_terminal_prints_each_refresh(gw: Cluster) -> None:
    register, gateway = started(gw)
    watching = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "common.cli",
            "status",
            "--register",
            register.info["listen"],
            "--watch",
            "0.2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert watching.stdout is not None
        seen: list[str] = []
        while sum(line.startswith("gw status --watch 0.2s") for line in seen) < 3:
            seen.append(watching.stdout.readline())  # three refreshes, one after the other
            assert seen[-1], watching.stderr.read() if watching.stderr else ""
        watching.send_signal(signal.SIGINT)
        rest, err = watching.communicate(timeout=20 * UNIT)
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.wait()
    assert watching.returncode == 0, err
    out = "".join(seen) + rest
    assert "\x1b" not in out and "Traceback" not in err
    assert out.count(f"{gateway.info['internal']}  0 ") >= 3  # its row, in every refresh


def test_watch_is_for_people_not_json() -> None:
    result = run_gw("status", "--watch", "--json", timeout=30)
    assert result.returncode == 2 and "--watch is for people" in result.stderr
