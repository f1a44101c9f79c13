"""``python -m bench``: run the scenarios against the cluster and the baseline, print
one table (see docs/benchmarks.md for what each figure means).

    python -m bench                      # everything, ~4.5 minutes on 2 cores
    python -m bench --quick              # smaller and shorter: a smoke run (< 1 minute)
    python -m bench --scenarios S1,S3    # only these
    python -m bench --scenarios S8       # 100,000 clients on this machine (make bench-scale)
    python -m bench --scenarios S9       # the HTTP API beside the Python push client
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace

import click

from common.service import raise_open_file_limit

from .phases import Settings
from .report import Row, table
from .scenarios import (
    capacity,
    everyone,
    fanout,
    fanout_tls,
    idle_and_connect,
    private,
)

ALL = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S9")
KNOWN = (*ALL, "S8")  # S8 (100,000 clients, several minutes) runs only when named


def _scenarios(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(s.strip().upper() for s in value.split(",") if s.strip())
    unknown = [s for s in chosen if s not in KNOWN]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; choose among {', '.join(KNOWN)}")
    return chosen


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version

    import zmq

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"websockets {version('websockets')}, pyzmq {zmq.__version__} "
        f"(libzmq {zmq.zmq_version()}); {platform.system()} {platform.release()}"
    )


@click.command()
@click.option("--quick", is_flag=True, help="Small counts, 2 s phases: a smoke run.")
@click.option(
    "--scenarios",
    default=",".join(ALL),
    show_default=True,
    callback=_scenarios,
    help="Comma-separated subset of S1..S9 (S7: S4 over TLS vs plain; S8: 100,000 "
    "clients, only when named; S9: the HTTP API).",
)
@click.option(
    "--clients",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="S8: clients to hold.",
)
@click.option(
    "--crowd-procs",
    type=int,
    default=0,
    help="S8: load-generator processes (0: one per 15,000 clients).",
)
@click.option(
    "--gateway-procs",
    type=int,
    default=0,
    help="S8: gateway processes, over 2 ports (0: one per 15,000 clients).",
)
@click.option("--procs", type=int, default=2, show_default=True, help="Load-generator processes.")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Business-worker processes in the cluster.",
)
@click.option("--duration", type=float, default=None, help="Seconds per traffic phase.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=None,
    help="S3/S4 closed-loop runs per server, alternating (default 3; --quick: 1).",
)
@click.option("--no-capacity", is_flag=True, help="Skip the 20,000-connection check of S1.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the rows as JSON here.",
)
def main(
    quick: bool,
    scenarios: tuple[str, ...],
    clients: int,
    crowd_procs: int,
    gateway_procs: int,
    procs: int,
    workers: int,
    duration: float | None,
    repeat: int | None,
    no_capacity: bool,
    json_path: str | None,
) -> None:
    """Benchmark the cluster side by side with a single-process websockets server."""
    hard = raise_open_file_limit()
    cfg = Settings.quick(procs, workers) if quick else Settings(procs, workers)
    if duration is not None:
        cfg = replace(cfg, duration=duration)
    if repeat is not None:
        cfg = replace(cfg, repeat=repeat)
    needed = max(cfg.clients, cfg.capacity, cfg.everyone) // max(procs, 1) + 100
    if hard < needed:
        click.echo(f"warning: open-file limit {hard} may be too low", err=True)
    started = time.monotonic()
    rows: list[Row] = []
    if "S1" in scenarios or "S2" in scenarios:
        rows += idle_and_connect(cfg, "S1" in scenarios, "S2" in scenarios)
        if "S1" in scenarios and not no_capacity:
            rows += capacity(cfg)
    if "S3" in scenarios:
        rows += private(cfg)
    if "S4" in scenarios:
        rows += fanout(cfg)
    if "S5" in scenarios:
        rows += everyone(cfg)
    if "S7" in scenarios:
        rows += fanout_tls(cfg)
    if "S6" in scenarios:
        from .routing import routing

        rows += routing(procs)
    if "S9" in scenarios:
        from .api import http_api

        rows += http_api(cfg)
    extra: list[str] = []
    if "S8" in scenarios:
        from .scale import LimitError, ScaleSettings, s8

        scale = ScaleSettings(
            clients=clients,
            crowd_procs=crowd_procs,
            gateway_procs=gateway_procs,
            workers=max(workers, 2),
        )
        try:
            found, extra = s8(scale, log=lambda line: click.echo(line, err=True))
        except LimitError as exc:
            raise click.ClickException(f"S8 cannot run {clients:,} clients here:\n{exc}") from None
        rows += found
    elapsed = time.monotonic() - started
    click.echo()
    click.echo(f"machine: {machine()}")
    click.echo(f"settings: {asdict(cfg)}; run took {elapsed:.0f}s")
    click.echo(table(rows))
    if extra:
        click.echo("\nS8, per gateway process:")
        click.echo("\n".join(extra))
    if json_path:
        with open(json_path, "w") as out:
            json.dump(
                [
                    {
                        k: getattr(r, k)
                        for k in (
                            "scenario",
                            "metric",
                            "cluster",
                            "baseline",
                            "ratio",
                            "target",
                            "verdict",
                        )
                    }
                    for r in rows
                ],
                out,
                indent=1,
            )


if __name__ == "__main__":
    sys.exit(main())
