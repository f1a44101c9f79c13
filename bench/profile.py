"""Profile one server process under the S4 (or S3) load with py-spy.

    python -m bench.profile [--scenario S4|S3] [--role gateway|worker] [--seconds 8]
                            [--rate 3000]

Runs the cluster with the scenario's closed-loop load (or, with ``--rate``, an open
loop at that many messages a second: the "moderate load" of issue 14) and ``py-spy record`` on the
chosen process (py-spy must be installed: ``pip install py-spy``; it needs ptrace,
so root or ``kernel.yama.ptrace_scope=0``), then prints the functions with the most
samples, by self time and by inclusive time. The collapsed stacks stay in the file
printed at the end (load it in speedscope.app or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter

from .loadgen import LoadGen
from .phases import load_spec
from .servers import ClusterUnderTest


def summarize(path: str, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(path) as stacks:
        for line in stacks:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            n = int(count)
            total += n
            own[frames[-1]] += n
            for name in set(frames):
                inclusive[name] += n
    lines = [f"{total} samples", "", "self %  function"]
    lines += [f"{n / total * 100:5.1f}  {name}" for name, n in own.most_common(top)]
    lines += ["", "total %  function"]
    lines += [f"{n / total * 100:5.1f}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=["S3", "S4"], default="S4")
    parser.add_argument("--role", choices=["gateway", "worker"], default="gateway")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="Open loop at this many messages a second (0: closed loop).",
    )
    args = parser.parse_args()
    # the virtualenv's bin folder may not be on PATH (make bench runs .venv/bin/python)
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if spy is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    with tempfile.NamedTemporaryFile(prefix="bench-profile-", suffix=".txt", delete=False) as f:
        out = f.name
    with ClusterUnderTest() as server:
        pid = server.gateway_pids[0] if args.role == "gateway" else server.pids[-1]
        if args.scenario == "S4":
            spec, senders, kind = load_spec(server, 1000, 10, "group"), list(range(20)), "group"
        else:
            spec, senders, kind = (
                load_spec(server, 200, 1, "uid"),
                list(range(0, 200, 2)),
                "pingpong",
            )
        with LoadGen(spec, args.procs) as load:
            load.ask("connect")
            argv = [
                spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(args.seconds),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                out,
                "--nonblocking",
            ]
            record = threading.Thread(
                target=subprocess.run, args=(argv,), kwargs={"capture_output": True}
            )
            record.start()
            phase = {"kind": kind, "senders": senders, "duration": args.seconds + 1}
            if args.rate:
                phase.update(closed=False, rate=args.rate)
            load.ask("phase", phase)
            record.join()
    print(summarize(out))
    print(f"\ncollapsed stacks: {out}")


if __name__ == "__main__":
    main()
