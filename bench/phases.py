"""How a scenario runs its load: the settings, one measured phase over every
load-generator process, and closed loops on both servers then an open loop at one rate.

The scenarios themselves (S1..S7, their rows) are in :mod:`bench.scenarios`.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .loadgen import LoadGen
from .report import percentile
from .servers import Baseline, ClusterUnderTest, Server


@dataclass(frozen=True)
class Settings:
    procs: int = 2  # load-generator processes
    workers: int = 1  # business-worker processes of the cluster
    duration: float = 8.0  # seconds of traffic per phase
    idle: float = 10.0  # seconds of the idle measurement (S1)
    clients: int = 10_000  # S1/S2
    capacity: int = 20_000  # S1 capacity check, 2 gateways
    fanout: int = 1_000  # S4 clients (in 10 groups)
    everyone: int = 5_000  # S5 clients
    pairs: int = 100  # S3 pairs
    concurrency: int = 50  # handshakes in flight per load-generator process
    repeat: int = 3  # S3/S4 closed-loop runs per server, alternating between them

    @classmethod
    def quick(cls, procs: int = 2, workers: int = 1) -> Settings:
        return cls(
            procs,
            workers,
            duration=1.5,
            idle=1.0,
            clients=500,
            capacity=1_000,
            fanout=500,
            everyone=1_000,
            pairs=50,
            repeat=1,
        )


@dataclass
class Phase:
    """Merged results of one phase over every load-generator process."""

    received: int
    sent: Counter[str]
    lat: list[int]  # ascending, microseconds
    span: float  # seconds from the first send to the last frame received
    server_cpu: float  # seconds
    server_kernel_cpu: float  # seconds: the system part of server_cpu
    loadgen_cpu: float  # seconds
    dropped: int
    unexpected: int
    late: int  # frames of earlier phases that arrived after they ended (and, for the
    # last phase, the drain's)

    def per_frame_us(self) -> float | None:
        return self.server_cpu / self.received * 1e6 if self.received else None

    def rate(self, count: int | None = None) -> float:
        return (self.received if count is None else count) / self.span if self.span else 0.0

    def p(self, q: float, scale: float = 1e-3) -> float | None:
        value = percentile(self.lat, q)
        return None if value is None else value * scale  # ms by default

    def kernel_percent(self) -> float | None:
        return self.server_kernel_cpu / self.server_cpu * 100 if self.server_cpu else None

    def loadgen_percent(self) -> float:
        return self.loadgen_cpu / self.span * 100 if self.span else 0.0


def run_phase(server: Server, load: LoadGen, **phase: Any) -> Phase:
    cpu, kernel = server.cpu(), server.kernel_cpu()
    # one start for every load-generator process (they share CLOCK_MONOTONIC), a
    # little ahead so that each has its command before the first frame can arrive
    results = load.ask("phase", {"start_ns": time.monotonic_ns() + 100_000_000, **phase})
    server_cpu, server_kernel = server.cpu() - cpu, server.kernel_cpu() - kernel
    behind = max(r["behind_ns"] for r in results) / 1e6
    if behind > 0:  # its first frames were sorted out all the same (see LoadProcess)
        log(f"note: a load-generator process began the phase {behind:.1f} ms late")
    lat = array("q")
    sent: Counter[str] = Counter()
    for result in results:
        lat.frombytes(result["lat_us"])
        sent.update(result["sent"])
    start = min(r["start_ns"] for r in results)
    last = max(r["last_rx_ns"] for r in results)
    return Phase(
        received=sum(r["received"] for r in results),
        sent=sent,
        lat=sorted(lat),
        span=max(0.0, (last - start) / 1e9),
        server_cpu=server_cpu,
        server_kernel_cpu=server_kernel,
        loadgen_cpu=sum(r["cpu"] for r in results),
        dropped=sum(r["dropped"] for r in results),
        unexpected=sum(r["unexpected"] for r in results),
        late=sum(r["late"] for r in results),
    )


def drain(load: LoadGen) -> int:
    """After a server's last phase: the frames that still arrived (late, not lost)."""
    return sum(r["late"] for r in load.ask("drain"))


def load_spec(
    server: Server, n: int, groups: int, join: str, compression: bool = False, concurrency: int = 50
) -> dict[str, Any]:
    return {
        "urls": server.urls,
        "n": n,
        "groups": groups,
        "join": join,
        "compression": compression,
        "concurrency": concurrency,
        "ca": server.ca,
    }


def connect(server: Server, load: LoadGen, n: int) -> dict[str, Any]:
    cpu, start = server.cpu(), time.monotonic()
    results = load.ask("connect")
    wall = time.monotonic() - start
    durations = array("q")
    failures: Counter[str] = Counter()
    for result in results:
        durations.frombytes(result["durations_us"])
        failures.update(result["failures"])
    ok = sum(r["ok"] for r in results)
    return {
        "ok": ok,
        "failed": n - ok,
        "failures": dict(failures),
        "rate": ok / wall,
        "durations": sorted(durations),
        "cpu_per_client_us": (server.cpu() - cpu) / max(ok, 1) * 1e6,
        "loadgen_cpu": sum(r["cpu"] for r in results),
        "wall": wall,
    }


def both_servers(
    cfg: Settings, gateways: int = 1, compression: bool = False, workers: int | None = None
) -> list[Callable[[], Server]]:
    w = cfg.workers if workers is None else workers
    return [
        lambda: ClusterUnderTest(gateways=gateways, workers=w, compression=compression),
        lambda: Baseline(compression=compression),
    ]


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def spec_of(n: int, groups: int, join: str) -> Callable[[Server], dict[str, Any]]:
    return lambda server: load_spec(server, n, groups, join)


@dataclass
class Runs:
    """One server's closed-loop runs (alternating with the other server's) and its open loop."""

    closed: list[Phase]
    paced: Phase
    sets_rate: bool = False  # its median closed-loop rate was the lower: it set the open loop's

    @property
    def median(self) -> Phase:
        """The closed-loop run of median CPU per frame: the table's saturation figures.

        The open loop's rate is the median of the runs' rates (see
        :func:`closed_then_paced`), which may come from another run."""
        ranked = sorted(self.closed, key=lambda p: p.per_frame_us() or 0.0)
        return ranked[(len(ranked) - 1) // 2]

    def spread(self) -> str:
        """Every closed-loop run's CPU per frame, for the table's label."""
        return " / ".join(f"{p.per_frame_us() or 0:.1f}" for p in self.closed)


def closed_then_paced(
    cfg: Settings,
    name: str,
    what: str,
    spec: Callable[[Server], dict[str, Any]],
    kind: str,
    senders: list[int],
    rate_of: Callable[[Phase], float],
    unit: str,
    servers: list[Callable[[], Server]] | None = None,
) -> dict[str, Runs]:
    """Closed loops on both servers, alternating, then an open loop at one rate on each.

    ``cfg.repeat`` closed-loop runs per server, taken in turns (cluster, baseline,
    cluster, ...) so that a noisy moment of the machine does not land on one server
    only; the table reports each server's median run. The open loop's rate is half
    of the lower of the two median closed-loop rates: both servers can sustain it,
    and their latency and CPU per frame are compared under the same load. Both
    servers stay up (their clients connected) throughout; the idle one costs next
    to nothing, and CPU is counted per server.
    """
    closed: dict[str, list[Phase]] = {}
    paced: dict[str, Phase] = {}
    with contextlib.ExitStack() as stack:
        running: list[tuple[Server, LoadGen]] = []
        for factory in servers or both_servers(cfg):
            server = stack.enter_context(factory())
            log(f"{name} {server.name}: {what}")
            load = stack.enter_context(LoadGen(spec(server), cfg.procs))
            connect(server, load, spec(server)["n"])
            running.append((server, load))
            closed[server.name] = []
        for turn in range(cfg.repeat):
            for server, load in running:
                log(f"{name} {server.name}: closed loop, run {turn + 1} of {cfg.repeat}")
                closed[server.name].append(
                    run_phase(server, load, kind=kind, senders=senders, duration=cfg.duration)
                )
        rates = {k: statistics.median(rate_of(p) for p in v) for k, v in closed.items()}
        slower = min(rates, key=rates.__getitem__)
        rate = max(rates[slower] / 2, 1.0)  # (a closed loop that got nothing back: 0)
        for server, load in running:
            log(f"{name} {server.name}: open loop at {rate:.0f} {unit} (same for both)")
            paced[server.name] = run_phase(
                server,
                load,
                kind=kind,
                senders=senders,
                duration=cfg.duration,
                closed=False,
                rate=rate,
            )
        for server, load in running:
            paced[server.name].late += drain(load)
    return {k: Runs(closed[k], paced[k], k == slower) for k in closed}
