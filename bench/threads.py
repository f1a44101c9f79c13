"""Where the server CPU goes, per thread: ``python -m bench.threads [--scenario S4]``.

Runs the cluster under S3's load (100 pairs ping-pong through one worker; or S4's:
1,000 clients in 10 groups, 20 senders), a closed loop then an open loop at
``--rate`` messages/s, and prints for every thread of
the server processes (the gateway's and the worker's main thread and ZeroMQ I/O
thread): user and kernel CPU per message, and voluntary (it slept) and involuntary
(it was preempted) context switches per delivered frame, from /proc/PID/task/TID.
"""

from __future__ import annotations

import argparse
import os

from .loadgen import LoadGen
from .phases import load_spec, run_phase
from .servers import CLOCK_TICKS, ClusterUnderTest

Sample = dict[tuple[int, str, str], tuple[int, int, int, int]]


def sample(pids: list[int]) -> Sample:
    """(pid, tid, name) -> (utime ticks, stime ticks, voluntary, involuntary switches)."""
    found: Sample = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rpartition(")")[2].split()
            found[(pid, tid, name)] = (
                int(fields[11]),
                int(fields[12]),
                int(status["voluntary_ctxt_switches"]),
                int(status["nonvoluntary_ctxt_switches"]),
            )
    return found


def report(before: Sample, after: Sample, roles: dict[int, str], messages: int) -> list[str]:
    lines = ["  process  thread            user us  kernel us  slept  preempted   (per frame)"]
    for key in sorted(after):
        if key not in before:
            continue
        user, system, slept, preempted = (
            b - a for a, b in zip(before[key], after[key], strict=True)
        )
        if not (user or system or slept):
            continue
        per = 1e6 / CLOCK_TICKS / messages  # ticks -> microseconds per frame
        lines.append(
            f"  {roles.get(key[0], '?'):8s} {key[2]:16s} {user * per:8.1f} "
            f"{system * per:10.1f} {slept / messages:6.2f} {preempted / messages:10.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["S3", "S4"], default="S3")
    parser.add_argument(
        "--rate", type=float, default=None, help="open loop, messages/s (default: S3 4000, S4 450)"
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()
    if args.scenario == "S3":
        n, groups, join, kind, senders = 200, 1, "uid", "pingpong", list(range(0, 200, 2))
    else:
        n, groups, join, kind, senders = 1000, 10, "group", "group", list(range(20))
    rate = args.rate or (4000.0 if args.scenario == "S3" else 450.0)
    with ClusterUnderTest() as server:
        roles = dict.fromkeys(server.pids, "worker")
        roles[server.pids[0]] = "register"
        roles.update(dict.fromkeys(server.gateway_pids, "gateway"))
        with LoadGen(load_spec(server, n, groups, join), args.procs) as load:
            load.ask("connect")
            phases = {
                "closed loop": {},
                f"open loop at {rate:g}/s": {"closed": False, "rate": rate},
            }
            for name, extra in phases.items():
                before = sample(server.pids)
                phase = run_phase(
                    server, load, kind=kind, senders=senders, duration=args.seconds, **extra
                )
                after = sample(server.pids)
                print(
                    f"\n{name}: {phase.received} frames delivered, {phase.rate():.0f}/s, "
                    f"p50 {phase.p(50):.2f} ms, p99 {phase.p(99):.2f} ms, server CPU "
                    f"{phase.per_frame_us():.1f} us per frame"
                )
                print("\n".join(report(before, after, roles, max(phase.received, 1))))


if __name__ == "__main__":
    main()
