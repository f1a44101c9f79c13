"""S8, one machine and 100,000 clients: connect, idle, send_to_all, a group storm,
private messages across gateways, a reconnect storm, and the memory after.

The cluster is :class:`~bench.fleet.Fleet` (gateway groups sharing a port each, as
GatewayWorker's gateway ``count``); the clients are :mod:`bench.crowd` processes, each
from its own loopback source address. Before anything starts, the machine's limits are
checked against the plan (:mod:`bench.limits`): a run that cannot fit says which limit
stops it. Figures are rows of the bench's table; :func:`~bench.fleet.per_gateway` is a table of its
own, one line per gateway process.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .crowd import Crowds, marker
from .fleet import Fleet, Process, lag_quantile, per_gateway
from .limits import Plan, problems, read
from .report import Row, percentile

CLIENTS_PER_PROCESS = 15_000  # under the 20,000 open files a process may hold here
STORM_GROUPS = 50  # groups a message reaches each second during the reconnect storm


class LimitError(Exception):
    """The machine cannot hold this plan; the message says which limit, and the fix."""


@dataclass(frozen=True)
class ScaleSettings:
    clients: int = 100_000
    groups: int = 1_000
    gateway_groups: int = 2  # ports, each shared by its gateway processes
    gateway_procs: int = 0  # 0: enough for CLIENTS_PER_PROCESS each
    crowd_procs: int = 0  # 0: likewise
    workers: int = 2
    concurrency: int = 100  # handshakes in flight per crowd process
    idle: float = 60.0
    broadcasts: int = 10
    spacing: float = 2.0  # seconds between two send_to_all
    traffic: float = 10.0  # seconds of the group storm and of the private messages
    group_rate: float = 200.0  # group messages a second, in all
    private_rate: float = 1_000.0
    backoff: tuple[float, float] = (0.5, 10.0)  # reconnects: U(0, min(cap, base * 2**n))
    storm_limit: float = 60.0
    quiet: float = 2.0  # a phase is over once nothing arrived for this long

    def procs(self) -> tuple[int, int]:
        """(gateway processes, crowd processes)."""
        need = math.ceil(self.clients / CLIENTS_PER_PROCESS)
        gateways = self.gateway_procs or max(2 * self.gateway_groups, need)  # 2+ share a port
        gateways = -(-gateways // self.gateway_groups) * self.gateway_groups
        return gateways, self.crowd_procs or max(2, need)


def _ms(values: list[int], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else value / 1e3


def _merge(results: list[dict[str, Any]], key: str) -> list[int]:
    out = array("q")
    for result in results:
        out.frombytes(result[key])
    return sorted(out)


def check(cfg: ScaleSettings) -> tuple[Plan, list[str]]:
    """The plan, and what may slow it; LimitError if something stops it."""
    gateways, crowds = cfg.procs()
    plan = Plan(cfg.clients, gateways, crowds, crowds, cfg.gateway_groups, cfg.concurrency)
    stop, slow = problems(read(), plan)
    if stop:
        raise LimitError("\n".join(f"- {line}" for line in stop))
    return plan, slow


def spec(cfg: ScaleSettings, fleet: Fleet, crowds: int) -> dict[str, Any]:
    return {
        "n": cfg.clients,
        "groups": cfg.groups,
        "urls": fleet.urls,
        "sources": [f"127.0.0.{2 + i}" for i in range(crowds)],
        "backoff": cfg.backoff,
    }


def timed(*argv: str) -> tuple[float, str]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "common.cli", *argv], capture_output=True, text=True, timeout=300
    )
    return time.monotonic() - start, done.stdout


def s8(cfg: ScaleSettings, log: Any = print) -> tuple[list[Row], list[str]]:
    """Run S8; return the rows and the per-gateway lines."""
    from business.client import GatewayClient

    plan, slow = check(cfg)
    for line in slow:
        log(f"S8 warning: {line}")
    log(
        f"S8: {cfg.clients:,} clients, {plan.gateway_procs} gateway processes on "
        f"{cfg.gateway_groups} ports, {cfg.workers} workers, {plan.crowd_procs} load "
        f"processes from 127.0.0.2-{1 + plan.crowd_procs}"
    )
    with Fleet(cfg.gateway_groups, plan.gateway_procs, cfg.workers) as fleet:
        push = GatewayClient(fleet.register, timeout=30)
        try:
            fleet.wait_linked(push.get_status)
            return _run(cfg, fleet, push, plan.crowd_procs, log)
        finally:
            push.close()


def _run(
    cfg: ScaleSettings, fleet: Fleet, push: Any, procs: int, log: Any
) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    rss0 = {role: fleet.rss(role) for role in ("gateway", "worker", "register")}
    before = {p.pid: fleet.rss_of(p) for p in fleet.gateways()}
    with Crowds(spec(cfg, fleet, procs), procs) as crowds:
        log("S8 connect")
        connected = crowds.ask("connect", {"concurrency": cfg.concurrency})
        ok = sum(r["ok"] for r in connected)
        failures: Counter[str] = Counter()
        for r in connected:
            failures.update(r["failures"])
        for why, count in failures.most_common():
            log(f"S8 connect failures: {count:,} x {why}")
        wall = max(r["wall"] for r in connected)
        up, entered = _merge(connected, "upgrade_us"), _merge(connected, "enter_us")
        held = push.get_all_client_id_count()
        rows += [
            Row(
                "S8 connect",
                "clients held (connected and joined)",
                ok,
                target=f">= {cfg.clients:,}",
                check=lambda v, r: v >= cfg.clients,
                digits=0,
            ),
            Row(
                "S8 connect",
                "clients the cluster counts (get_all_client_id_count)",
                held,
                target="= held",
                check=lambda v, r: v == ok,
                digits=0,
            ),
            Row(
                "S8 connect",
                "failed connects",
                sum(failures.values()),
                target="0",
                check=lambda v, r: v == 0,
                digits=0,
                compare=False,
            ),
            Row("S8 connect", "connected+joined /s", ok / wall if wall else None, digits=0),
            Row("S8 connect", "handshake (TCP connect to 101) p50, ms", _ms(up, 50)),
            Row("S8 connect", "handshake (TCP connect to 101) p99, ms", _ms(up, 99)),
            Row("S8 connect", "to joined (101, then enter answered) p50, ms", _ms(entered, 50)),
            Row("S8 connect", "to joined (101, then enter answered) p99, ms", _ms(entered, 99)),
        ]
        rows += _idle(cfg, fleet, crowds, ok, rss0, log)
        at_peak = push.get_status()
        peak = sum(s["rss_bytes"] for s in at_peak.values())
        rows += _operate(fleet, ok, log)
        rows += _broadcast(cfg, fleet, crowds, push, ok, log)
        rows += _traffic(cfg, crowds, "G", log)
        rows += _traffic(cfg, crowds, "P", log)
        rows += _storm(cfg, fleet, crowds, push, log)
    log("S8 disconnected: waiting for the gateways to count 0 clients")
    deadline = time.monotonic() + 60
    while push.get_all_client_id_count() and time.monotonic() < deadline:
        time.sleep(0.5)
    after = push.get_status()
    lines = per_gateway(before, at_peak, after)
    rows += [
        Row(
            "S8 after",
            "gateway RSS before the clients came, MB (all processes)",
            rss0["gateway"] / 2**20,
            digits=0,
        ),
        Row("S8 after", "gateway RSS at the peak, MB", peak / 2**20, digits=0),
        Row(
            "S8 after",
            "gateway RSS once every client is gone, MB",
            sum(s["rss_bytes"] for s in after.values()) / 2**20,
            digits=0,
        ),
    ]
    return rows, lines


def _idle(
    cfg: ScaleSettings, fleet: Fleet, crowds: Crowds, ok: int, rss0: dict[str, int], log: Any
) -> list[Row]:
    log(f"S8 idle {cfg.idle:g}s (default keepalive: a ping every 20 s per client)")
    crowds.ask("mark", {"kinds": []})
    gateways = fleet.gateways()
    lag0, cpu0 = fleet.lag(gateways), fleet.cpu()
    roles0 = {role: fleet.cpu(role) for role in ("gateway", "worker", "register")}
    time.sleep(cfg.idle)
    cpu, lag = fleet.cpu() - cpu0, fleet.lag(gateways)
    roles = {role: (fleet.cpu(role) - roles0[role]) / cfg.idle * 100 for role in roles0}
    dropped = sum(r["lost"] for r in crowds.ask("storm", {"limit": 0}))
    per = {role: (fleet.rss(role) - rss0[role]) / max(ok, 1) for role in rss0}
    p99 = lag_quantile(lag0, lag, 0.99)
    return [
        Row("S8 idle", "clients dropped while idle", dropped, target="0",
            check=lambda v, r: v == 0, digits=0, compare=False),
        Row("S8 idle", "server CPU while idle, % of a core (all processes)", cpu / cfg.idle * 100,
            target="<= 10", check=lambda v, r: v <= 10, digits=2),
        Row("S8 idle", "  of which the gateways, %", roles["gateway"], digits=2),
        Row("S8 idle", "  the workers, %", roles["worker"], digits=2),
        Row("S8 idle", "  the register, %", roles["register"], digits=2),
        Row("S8 idle", "gateway RSS per connection, KB", per["gateway"] / 1024, target="<= 5 KB",
            check=lambda v, r: v <= 5),
        Row("S8 idle", "worker RSS per connection, KB", per["worker"] / 1024, digits=2),
        Row("S8 idle", "register RSS per connection, KB", per["register"] / 1024, digits=2),
        Row("S8 idle", "gateway loop lag p99 (every process, sweeps included), ms",
            None if p99 is None else p99 * 1e3, target="<= 50",
            check=lambda v, r: v <= 50, digits=0),
    ]  # fmt: skip


def _operate(fleet: Fleet, ok: int, log: Any) -> list[Row]:
    log("S8 gw status, gw connections")
    status_s, _ = timed("status", "--register", fleet.register)
    listing_s, text = timed("connections", "--register", fleet.register, "--json")
    listed = sum(1 for line in text.splitlines() if line.startswith("{"))
    return [
        Row("S8 operate", "gw status answers in, s", status_s, digits=2),
        Row("S8 operate", "gw connections lists every client in, s", listing_s,
            target=f"{listed:,} of {ok:,} listed", check=lambda v, r: listed == ok, digits=2),
    ]  # fmt: skip


def _broadcast(
    cfg: ScaleSettings, fleet: Fleet, crowds: Crowds, push: Any, ok: int, log: Any
) -> list[Row]:
    log(f"S8 send_to_all x{cfg.broadcasts}, each once the one before reached everyone")
    crowds.ask("mark", {"kinds": ["A"]})
    stamps = {}
    (user0, sys0), load0 = fleet.cpu_split(), crowds.cpu()
    for seq in range(1, cfg.broadcasts + 1):
        stamps[seq] = time.monotonic_ns()
        push.send_to_all({"s8": marker("A", seq, stamps[seq])})
        crowds.ask("await", {"kind": "A", "seq": seq, "limit": 30.0})
        time.sleep(cfg.spacing)
    user, system = (b - a for a, b in zip((user0, sys0), fleet.cpu_split(), strict=True))
    cpu, load = user + system, crowds.cpu() - load0
    results = crowds.ask("report", {"kind": "A", "expect": cfg.broadcasts, "quiet": cfg.quiet})
    lat = _merge(results, "lat_us")
    last = {seq: max(r["last"].get(seq, 0) for r in results) - t for seq, t in stamps.items()}
    rounds = sorted(max(v, 0) // 1000 for v in last.values())
    lost = sum(r["missing"] for r in results)
    return [
        Row("S8 send_to_all", f"the last of {ok:,} clients has it, p99 of {cfg.broadcasts} "
            "rounds, ms", _ms(rounds, 99), target="<= 2000", check=lambda v, r: v <= 2000,
            digits=0),
        Row("S8 send_to_all", "the last client has it, p50 of the rounds, ms", _ms(rounds, 50),
            digits=0),
        Row("S8 send_to_all", "server CPU per round (every process), s",
            cpu / cfg.broadcasts, digits=2),
        Row("S8 send_to_all", "  of which the kernel's (the sends, and on loopback the "
            "receivers' TCP), s", system / cfg.broadcasts, digits=2),
        Row("S8 send_to_all", "load generator CPU per round (receiving it), s",
            load / cfg.broadcasts, digits=2),
        Row("S8 send_to_all", "floor: both CPUs per round over 2 cores, ms",
            (cpu + load) / cfg.broadcasts / 2 * 1e3, digits=0),
        Row("S8 send_to_all", "floor without any of our code (the kernel's part and the "
            "load generator) over 2 cores, ms", (system + load) / cfg.broadcasts / 2 * 1e3,
            digits=0),
        Row("S8 send_to_all", "per client p50, ms", _ms(lat, 50)),
        Row("S8 send_to_all", "per client p99, ms", _ms(lat, 99)),
        Row("S8 send_to_all", "lost", lost, target="0", check=lambda v, r: v == 0, digits=0,
            compare=False),
        Row("S8 send_to_all", "duplicated", sum(r["extra"] for r in results), target="0",
            check=lambda v, r: v == 0, digits=0, compare=False),
    ]  # fmt: skip


def _traffic(cfg: ScaleSettings, crowds: Crowds, kind: str, log: Any) -> list[Row]:
    rate = cfg.group_rate if kind == "G" else cfg.private_rate
    name = "S8 group storm" if kind == "G" else "S8 private"
    stride = max(2, 2 * int(cfg.clients / (rate * 4)))  # even: the partner is on the other port
    log(f"{name}: {rate:g} messages/s for {cfg.traffic:g}s")
    crowds.ask("mark", {"kinds": [kind]})
    sent = crowds.ask(
        "traffic",
        {
            "kind": kind,
            "rate": rate,
            "duration": cfg.traffic,
            "start_ns": time.monotonic_ns() + 200_000_000,
            "stride": stride,
        },
    )
    results = crowds.ask("report", {"kind": kind, "quiet": cfg.quiet})
    messages = sum(r["sent"] for r in sent)
    expected = sum(r["expected"] for r in sent)
    received = sum(r["received"] for r in results)
    lat = _merge(results, "lat_us")
    what = "deliveries (members of the group)" if kind == "G" else "messages"
    return [
        Row(name, f"{what} /s", received / cfg.traffic, target=f"{messages:,} sent", digits=0),
        Row(name, "latency p50, ms", _ms(lat, 50)),
        Row(name, "latency p99, ms", _ms(lat, 99)),
        Row(name, "lost", max(0, expected - received), target="0",
            check=lambda v, r: v == 0, digits=0, compare=False),
    ]  # fmt: skip


def _storm(cfg: ScaleSettings, fleet: Fleet, crowds: Crowds, push: Any, log: Any) -> list[Row]:
    victim = next(p for p in fleet.gateways() if p.group == 0)
    survivors = [p for p in fleet.gateways() if p.pid != victim.pid]
    clients = {s["pid"]: s["clients"] for s in push.get_status().values()}
    log(
        f"S8 reconnect storm: SIGKILL gateway pid {victim.pid} ({clients.get(victim.pid, 0):,} "
        "clients)"
    )
    crowds.ask("mark", {"kinds": ["R"]})
    lag0, rss0 = fleet.lag(survivors), {p.pid: fleet.rss_of(p) for p in survivors}
    gc0 = fleet.full_gc(survivors)
    peak = dict(rss0)
    killed = time.monotonic_ns()
    os.kill(victim.pid, signal.SIGKILL)
    crowds.send("storm", {"limit": cfg.storm_limit, "notice": cfg.quiet})
    # meanwhile, every second, a message to STORM_GROUPS groups in turn: the other
    # gateways' clients must get every one of theirs
    seq, groups_by_seq = 0, {}
    while not crowds.ready():
        seq += 1
        groups_by_seq[seq] = [
            (seq * STORM_GROUPS + j) % cfg.groups + 1 for j in range(STORM_GROUPS)
        ]
        push.send_to_group(groups_by_seq[seq], {"s8": marker("R", seq, time.monotonic_ns())})
        for p in survivors:
            peak[p.pid] = max(peak[p.pid], fleet.rss_of(p))
        time.sleep(1.0)
    storm = crowds.collect()
    results = crowds.ask(
        "report", {"kind": "R", "groups_by_seq": groups_by_seq, "quiet": cfg.quiet}
    )
    lag = lag_quantile(lag0, fleet.lag(survivors), 0.99)
    gc = fleet.full_gc(survivors)
    passes, held = gc["count"] - gc0["count"], gc["sum"] - gc0["sum"]
    lost = sum(r["lost"] for r in storm)
    back = sum(r["back"] for r in storm)
    took = (max(r["last_back_ns"] for r in storm) - killed) / 1e9 if back else None
    failed: Counter[str] = Counter()
    for r in storm:
        failed.update(r["failures"])
    for why, count in failed.most_common():
        log(f"S8 reconnect failures: {count:,} x {why}")
    restarted = {s["pid"]: s["clients"] for s in push.get_status().values()}
    new = sum(n for pid, n in restarted.items() if pid not in clients)
    growth = max(peak[p] - rss0[p] for p in peak) / 2**20
    fleet.processes = [p for p in fleet.processes if p.pid != victim.pid]
    return [
        Row("S8 reconnect", f"all {lost:,} clients of the killed gateway back and joined, s",
            took, target="<= 30", check=lambda v, r: v <= 30 and back == lost),
        Row("S8 reconnect", "clients not back", lost - back, target="0",
            check=lambda v, r: v == 0, digits=0, compare=False),
        Row("S8 reconnect", "reconnect attempts", sum(r["attempts"] for r in storm), digits=0),
        Row("S8 reconnect", "failed attempts", sum(failed.values()), digits=0, compare=False),
        Row("S8 reconnect", "clients the restarted gateway took", new, digits=0),
        Row("S8 reconnect", "lost by the other gateways' clients meanwhile",
            sum(r["missing"] for r in results), target="0", check=lambda v, r: v == 0,
            digits=0, compare=False),
        Row("S8 reconnect", "the other gateways meanwhile: loop lag p99, ms",
            None if lag is None else lag * 1e3, digits=0),
        Row("S8 reconnect", "  their full GC passes meanwhile (every process)", passes,
            digits=0),
        Row("S8 reconnect", "  the time those passes held their loops, ms (wall clock)",
            held * 1e3, digits=0),
        Row("S8 reconnect", "the other gateways meanwhile: most RSS growth of one, MB", growth),
    ]  # fmt: skip


__all__ = ["LimitError", "Process", "ScaleSettings", "check", "s8"]
