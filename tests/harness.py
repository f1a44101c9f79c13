"""Start real ``gw`` processes on loopback and talk to them.

Every process binds port 0; its ready line tells the ports it got. Timeouts are
multiples of ``UNIT`` seconds, scaled by the environment variable GW_TEST_SCALE.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import ready

ROOT = Path(__file__).resolve().parent.parent
UNIT = float(os.environ.get("GW_TEST_SCALE", "1"))
# Fast internal heartbeats so that failure detection happens within a test's time.
FAST = ["--heartbeat", "0.2", "--log-level", "debug"]
# gw up (or start) on loopback, every port chosen by the OS (read back from GW-READY)
ANY_PORTS = ["--register-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--start-port", "0"]


def run_gw(
    *args: str, cwd: Path = ROOT, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One ``gw`` command run to its end, its output captured (``env``: the whole
    environment; by default this one, with the project importable from ``cwd``)."""
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout * UNIT,
        env={**os.environ, "PYTHONPATH": str(ROOT)} if env is None else env,
    )


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test runner dies, so no process outlives it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: best effort only
        pass


class ReadyProcess:
    """A child process that prints one ``GW-READY {json}`` line once it serves.

    Its stderr goes to a log file (``logs()``, ``wait_log()``); ``stop()`` sends
    SIGTERM and returns the exit code.
    """

    def __init__(
        self,
        command: list[str],
        name: str,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        session: bool = False,
    ) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"{name.replace(' ', '-')}-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})},
            text=True,
            preexec_fn=_die_with_parent,
            start_new_session=session,  # its own process group, as a shell gives a command
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.info: dict[str, Any] = {}

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_ready(self, timeout: float = 20 * UNIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.name} not ready:\n{self.logs()}") from None
            if line is None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.wait()}) before ready:\n{self.logs()}"
                )
            info = ready.parse(line)
            if info is not None:
                self.info = info
                return info

    def logs(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 10 * UNIT) -> str:
        """Wait until ``text`` appears in the process's log; return the log."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs()
            if text in logs:
                return logs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} never logged by {self.name}:\n{logs[-4000:]}")
            time.sleep(0.02)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5 * UNIT)

    def stop(self, timeout: float = 20 * UNIT) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} ignored SIGTERM:\n{self.logs()}") from None
        self._pump_thread.join(5 * UNIT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode


class GwProcess(ReadyProcess):
    """One ``gw`` subcommand running as a child process."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, session: bool = False
    ) -> None:
        self.args = list(args)
        super().__init__(
            [sys.executable, "-m", "common.cli", *args], f"gw {args[0]}", env, session=session
        )


class Cluster:
    """Processes started for one test; all stopped (and checked) at teardown."""

    def __init__(self) -> None:
        self.processes: list[GwProcess] = []

    def start(
        self,
        *args: str,
        ready: bool = True,
        env: dict[str, str] | None = None,
        session: bool = False,
    ) -> GwProcess:
        process = GwProcess(*args, env=env, session=session)
        self.processes.append(process)
        if ready:
            process.wait_ready()
        return process

    def register(self, *extra: str) -> GwProcess:
        return self.start("register", "--listen", "127.0.0.1:0", *FAST, *extra)

    def gateway(self, register: GwProcess | str, *extra: str) -> GwProcess:
        address = register if isinstance(register, str) else register.info["listen"]
        return self.start(
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--start-port",
            "0",
            "--register",
            address,
            *FAST,
            "--ws-ping-interval",
            "0",
            *extra,
        )

    def worker(self, register: GwProcess | str, app: str, *extra: str, count: int = 1) -> GwProcess:
        address = register if isinstance(register, str) else register.info["listen"]
        return self.start(
            "worker", "--app", app, "--register", address, "--count", str(count), *FAST, *extra
        )

    @staticmethod
    def linked(gateway: GwProcess, workers: GwProcess, timeout: float = 10 * UNIT) -> None:
        """Wait until ``gateway`` has taken the Hello of every process of ``workers``: a
        worker's ready line means it reached the register's gateways, not that each of
        them has it yet (until then the gateway routes to the workers it has)."""
        pids = [p["pid"] for p in workers.info.get("processes", [workers.info])]
        eventually(lambda: all(f"(pid {pid}) connected" in gateway.logs() for pid in pids), timeout)

    def stop_all(self) -> dict[str, int]:
        """Stop in reverse order of start; return {args[0]+index: exit code}."""
        codes = {}
        for index, process in reversed(list(enumerate(self.processes))):
            running = process.proc.poll() is None
            code = process.stop()
            if running:
                codes[f"{process.args[0]}{index}"] = code
        return codes


def ws_url(gateway: GwProcess | str, path: str = "/") -> str:
    """The WebSocket URL of a gateway process (or of a ``host:port``)."""
    address = gateway if isinstance(gateway, str) else gateway.info["websocket"]
    if address.startswith(("ws://", "wss://")):  # a URL already (wss:// for TLS)
        return address.rstrip("/") + path
    return f"ws://{address}{path}"


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out by itself (to bind(0) and to connect())."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED: set[int] = set()  # the ports free_port gave in this process


def free_port() -> int:
    """A loopback port free now (for a process that must come back on the same one).

    Below the kernel's ephemeral range, at random: between this check and the child's
    bind, no connection of another test can be given it as its local port, as it could
    be one that bind(0) had chosen. Each of the suite's processes (pytest-xdist) picks
    from its own share of that range, and never gives a port twice: two tests never
    pick the same one."""
    low = _ephemeral_low()
    ports = range(max(1024, low - 12000), low)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    share = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    mine = [port for port in ports[index % share :: share] if port not in _HANDED]
    for port in random.sample(mine, min(200, len(mine))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def eventually(check: Callable[[], Any], timeout: float = 10 * UNIT, interval: float = 0.02) -> Any:
    """Poll a condition that has no event to wait on (e.g. another process's state)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition never held: {check}")
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Any], timeout: float = 5 * UNIT, interval: float = 0.005
) -> Any:
    """:func:`eventually` for a test that runs in the event loop (it keeps running)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition never held: {check}")
        await asyncio.sleep(interval)


@contextmanager
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.stop_all()


async def closed_within(url: str, seconds: float, drip: bytes = b"") -> float:
    """Connect, send ``drip`` a byte at a time every 0.2 s (nothing if empty), and return
    how long the server took to close the connection (fails past ``seconds``)."""
    parts = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    loop_time = asyncio.get_running_loop().time
    began = loop_time()
    try:
        async with asyncio.timeout(seconds):
            for byte in drip:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
                if reader.at_eof():
                    break
            while await reader.read(1024):
                pass
    except ConnectionError:  # closed while we wrote: closed all the same
        pass
    finally:
        writer.close()
    return loop_time() - began
