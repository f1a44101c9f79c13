"""S8's cluster, as a team runs it: a register, gateway groups (``gw gateway --count N``,
its processes sharing one port, one group per port), and ``gw worker --count W``.

Each process serves ``/metrics`` (port 0: the ready lines say where), from which the
bench reads the event-loop lag; ``gw status``'s query gives each gateway's pid,
clients and memory. The server CPU is that of every process of the cluster,
supervisors included.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common.processes import rss_bytes

from .servers import Children, _Child, cpu_seconds, cpu_split

LAG = re.compile(r'^gw_event_loop_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M)
FULL_GC = re.compile(
    r'^gw_gc_pause_seconds_(count|sum)\{generation="2"\} ([0-9.e+-]+)$', re.M
)  # the collector's full passes: how many, and the seconds they held their processes


def lag_buckets(metrics_text: str) -> Counter[float]:
    """The cumulative loop-lag histogram of one /metrics page: {upper bound: count}."""
    return Counter({float(le): float(n) for le, n in LAG.findall(metrics_text)})


def lag_quantile(before: Counter[float], after: Counter[float], q: float) -> float | None:
    """The bucket bound (s) under which a fraction ``q`` of the samples taken between two
    readings fell (cumulative buckets, summed over processes); None: no sample."""
    bounds = sorted(after)
    delta = [after[b] - before.get(b, 0.0) for b in bounds]
    total = delta[-1] if delta else 0.0
    if total <= 0:
        return None
    for bound, count in zip(bounds, delta, strict=True):
        if count >= q * total:
            return bound
    return bounds[-1]


def scrape(address: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as page:
            return str(page.read().decode())
    except OSError:
        return ""  # a process that is gone (the storm's victim)


@dataclass
class Process:
    role: str
    pid: int
    metrics: str = ""
    group: int = 0  # gateways: which port group


@dataclass
class Fleet(Children):
    """Start with :meth:`start`, stop with :meth:`stop` (or ``with``)."""

    stop_timeout = 120.0  # a gateway of 15,000 clients drains
    gateway_groups: int
    gateway_procs: int  # in all, spread over the groups
    workers: int
    children: list[_Child] = field(default_factory=list)
    register: str = ""
    urls: list[tuple[str, int]] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    supervisors: list[int] = field(default_factory=list)

    def _start(self, *argv: str) -> dict[str, Any]:
        child = _Child(
            ["-m", "common.cli", *argv, "--log-level", "warning", "--metrics-listen", "127.0.0.1:0"]
        )
        self.children.append(child)
        return {**child.ready(timeout=120), "pid": child.proc.pid}

    def start(self) -> None:
        info = self._start("register", "--listen", "127.0.0.1:0")
        self.register = info["listen"]
        self.processes.append(Process("register", info["pid"], info["metrics"]))
        per_group = -(-self.gateway_procs // self.gateway_groups)
        for group in range(self.gateway_groups):
            info = self._start(
                "gateway",
                "--listen",
                "127.0.0.1:0",
                "--start-port",
                "0",
                "--register",
                self.register,
                "--count",
                str(per_group),
            )
            children = info.get("processes", [info])  # --count 1: no supervisor
            if "processes" in info:
                self.supervisors.append(info["pid"])
            host, _, port = children[0]["websocket"].rpartition(":")
            self.urls.append((host, int(port)))
            self.processes += [Process("gateway", p["pid"], p["metrics"], group) for p in children]
        info = self._start(
            "worker",
            "--app",
            "bench.app",
            "--register",
            self.register,
            "--count",
            str(self.workers),
        )
        self.supervisors.append(info["pid"])
        self.processes += [Process("worker", p["pid"], p["metrics"]) for p in info["processes"]]

    def wait_linked(self, status: Any, timeout: float = 60) -> None:
        """Until every gateway has every worker (``status``: a ``get_status`` call)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = [len(s["workers"]) for s in status().values()]
            if len(counts) == len(self.gateways()) and all(n >= self.workers for n in counts):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers never reached every gateway: {counts}")
            time.sleep(0.2)

    def gateways(self) -> list[Process]:
        return [p for p in self.processes if p.role == "gateway"]

    def pids(self, role: str | None = None) -> list[int]:
        own = [p.pid for p in self.processes if role is None or p.role == role]
        return own + (self.supervisors if role is None else [])

    def cpu(self, role: str | None = None) -> float:
        """CPU seconds of the cluster's processes (of one role: without supervisors)."""
        return cpu_seconds(self.pids(role))

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of every process of the cluster."""
        return cpu_split(self.pids())

    def rss(self, role: str) -> int:
        total = 0
        for pid in self.pids(role):
            with contextlib.suppress(OSError):  # gone
                total += rss_bytes(pid)
        return total

    @staticmethod
    def rss_of(process: Process) -> int:
        try:
            return rss_bytes(process.pid)
        except OSError:
            return 0  # gone

    def lag(self, processes: list[Process]) -> Counter[float]:
        total: Counter[float] = Counter()
        for process in processes:
            total.update(lag_buckets(scrape(process.metrics)))
        return total

    def full_gc(self, processes: list[Process]) -> dict[str, float]:
        """The processes' full GC passes, summed: {"count": passes, "sum": seconds}."""
        total = {"count": 0.0, "sum": 0.0}
        for process in processes:
            for name, value in FULL_GC.findall(scrape(process.metrics)):
                total[name] += float(value)
        return total


def per_gateway(before: dict[int, int], peak: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per gateway process: RSS before its clients came, its clients and RSS at
    the peak (and what each client added), its RSS once they were gone."""
    gone = {s["pid"]: s["rss_bytes"] for s in after.values()}
    lines = [
        "| gateway (internal address) | pid | RSS before, MB | clients | RSS, MB | "
        "KB per client | RSS once they are gone, MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for address, s in sorted(peak.items()):
        rss, start, after_rss = s["rss_bytes"], before.get(s["pid"], 0), gone.get(s["pid"])
        lines.append(
            f"| {address} | {s['pid']} | {start / 2**20:,.1f} | {s['clients']:,} | "
            f"{rss / 2**20:,.1f} | {(rss - start) / 1024 / max(s['clients'], 1):,.2f} | "
            f"{'(killed)' if after_rss is None else f'{after_rss / 2**20:,.1f}'} |"
        )
    return lines
