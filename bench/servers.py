"""The servers under test, as child processes, and what /proc says about them.

:class:`ClusterUnderTest` starts ``gw register``, one ``gw gateway`` per gateway (each
on its own port 0, so the load generator spreads clients over them as a load
balancer would) and ``gw worker --count N`` with the bench app; :class:`Baseline`
starts :mod:`bench.baseline`. Both read the ``GW-READY {json}`` line of each process
for its address and pids. Server CPU is utime+stime of every one of those pids
(the register, the gateways, the worker supervisor and its workers).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

from common import ready
from common.processes import rss_bytes

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (a process that is gone counts 0)."""
    return sum(cpu_split(pids))


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """(utime, stime) of these processes: user and kernel CPU seconds."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


class _Child:
    """One child process whose ready line we wait for."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pumping = threading.Thread(target=self._pump, daemon=True)
        self._pumping.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def ready(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"not ready: {self.proc.args!r}\n{self.logs()}") from None
            if line is None:
                raise RuntimeError(f"exited before ready: {self.proc.args!r}\n{self.logs()}")
            info = ready.parse(line)
            if info is not None:
                return info

    def logs(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._pumping.join(5)  # it reads the pipe to its end, then we close it
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        os.unlink(self.log.name)
        return self.proc.returncode


class Children:
    """Processes started in order by :meth:`start` and stopped in reverse; ``with``
    starts them on entry (stopping those that started if one fails) and stops them
    on exit."""

    children: list[_Child]
    stop_timeout = 30.0  # s: a child's graceful stop, then it is killed

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop(timeout=self.stop_timeout)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Server(Children):
    """What a scenario needs from a server under test."""

    name = ""
    ca: str | None = None  # a CA file the load generator must trust (wss://)
    urls: list[tuple[str, int]]
    pids: list[int]
    gateway_pids: list[int]

    def __init__(self) -> None:
        self.children: list[_Child] = []
        self.urls, self.pids, self.gateway_pids = [], [], []

    def _start(self, argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
        child = _Child(argv, env)
        self.children.append(child)
        # the Popen pid: the register's ready line does not carry one
        return {**child.ready(), "pid": child.proc.pid}

    def cpu(self) -> float:
        return cpu_seconds(self.pids)

    def kernel_cpu(self) -> float:
        """The system (kernel) part of :meth:`cpu`."""
        return cpu_split(self.pids)[1]

    def gateway_rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.gateway_pids)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Baseline(Server):
    name = "baseline"

    def __init__(self, compression: bool = False) -> None:
        super().__init__()
        self.compression = compression

    def start(self) -> None:
        argv = ["-m", "bench.baseline", "--listen", "127.0.0.1:0"]
        info = self._start(argv + (["--compression"] if self.compression else []))
        self.urls = [_address(info["websocket"])]
        self.pids = self.gateway_pids = [info["pid"]]


class ClusterUnderTest(Server):
    name = "cluster"

    def __init__(
        self,
        gateways: int = 1,
        workers: int = 1,
        compression: bool = False,
        tls: tuple[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.gateways, self.workers, self.compression = gateways, workers, compression
        self.tls = tls  # (certificate chain, key) files: serve wss://
        if tls is not None:
            self.name = "cluster+tls"
        self.register = ""

    def start(self) -> None:
        quiet = ["--log-level", "warning"]
        cli = ["-m", "common.cli"]
        info = self._start([*cli, "register", "--listen", "127.0.0.1:0", *quiet])
        self.register = info["listen"]
        self.pids.append(info["pid"])
        for _ in range(self.gateways):
            info = self._start(
                [
                    *cli,
                    "gateway",
                    "--listen",
                    "127.0.0.1:0",
                    "--start-port",
                    "0",
                    "--register",
                    self.register,
                    "--ws-ping-interval",
                    "0",
                    *quiet,
                    *(["--compression"] if self.compression else []),
                    *(["--tls-cert", self.tls[0], "--tls-key", self.tls[1]] if self.tls else []),
                ]
            )
            self.urls.append(_address(info["websocket"]))
            self.gateway_pids.append(info["pid"])
        self.pids += self.gateway_pids
        if self.workers:
            info = self._start(
                [
                    *cli,
                    "worker",
                    "--app",
                    "bench.app",
                    "--register",
                    self.register,
                    "--count",
                    str(self.workers),
                    *quiet,
                ]
            )
            self.pids.append(info["pid"])
            self.pids += [p["pid"] for p in info["processes"]]
        asyncio.run(self._wait_for_workers())

    async def _wait_for_workers(self, timeout: float = 30) -> None:
        """Every gateway has every worker's Hello (no event waits in a queue)."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.status()
            counts = [len(s["workers"]) for s in status.values()]
            if len(counts) == self.gateways and all(n == self.workers for n in counts):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers never reached every gateway: {counts}")
            await asyncio.sleep(0.1)

    async def status(self) -> dict[str, Any]:
        from business.client import AsyncGatewayClient

        async with AsyncGatewayClient(self.register, timeout=5) as client:
            return dict(await client.get_status())
