"""``gw worker``: business workers under a supervisor."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import click

from common.config import WorkerConfig
from common.exceptions import ConfigError
from common.launch import (
    Refused,
    child_args,
    export_secrets,
    metrics_args,
    security,
    serve,
    setup,
    timing,
)
from common.options import MAX_PROCESSES, Amount, common_options, option, register_option
from common.supervisor import Child, Supervisor, gw_command

from .handlers import load
from .worker import Worker


@click.command()
@option("--app", envvar="GW_APP", required=True, help="App module: PACKAGE.MODULE.")
@register_option
@option(
    "--count",
    envvar="GW_WORKER_COUNT",
    type=click.IntRange(1, MAX_PROCESSES),
    default=1,
    help="Worker processes, restarted if they crash (SIGHUP: rolling reload).",
)
@option("--name", envvar="GW_WORKER_NAME", default="worker", help="Name prefix in logs.")
@option(
    "--max-concurrency",
    envvar="GW_MAX_CONCURRENCY",
    type=click.IntRange(min=1),
    default=1000,
    help="Events handled at once per process.",
)
@option(
    "--query-timeout",
    envvar="GW_QUERY_TIMEOUT",
    type=Amount(min=0.001),
    default=5.0,
    help="Default deadline of API queries (s).",
)
@option(
    "--start-timeout",
    envvar="GW_START_TIMEOUT",
    type=Amount(min=0.001),
    default=10.0,
    help="Exit (no ready line) if no register accepted our handshake by then (s).",
)
@click.option("--supervised/--single", default=True, hidden=True)
@common_options
def worker(
    app: str,
    registers: tuple[str, ...],
    count: int,
    name: str,
    max_concurrency: int,
    query_timeout: float,
    start_timeout: float,
    supervised: bool,
    **params: Any,
) -> None:
    """Run business worker process(es) under a supervisor."""
    setup(params["log_level"], params["log_format"])
    if not supervised:
        sys.path.insert(0, os.getcwd())
        config = WorkerConfig(
            app=app,
            registers=registers,
            name=name,
            max_concurrency=max_concurrency,
            start_timeout=start_timeout,
            timing=timing(params["heartbeat"], params["peer_timeout"], query_timeout),
            security=security(params),
            metrics_listen=params["metrics_listen"],
        )
        try:
            loaded = load(app)
        except ConfigError as exc:
            raise Refused(str(exc)) from None
        serve(Worker(config, loaded))
        return
    export_secrets(params)
    base = child_args(
        {
            "app": app,
            "register": registers,
            "name": name,
            "max_concurrency": max_concurrency,
            "query_timeout": query_timeout,
            "start_timeout": start_timeout,
            **params,
        },
        skip=("metrics_listen",),
    )
    children = [
        Child(
            f"worker-{i}",
            gw_command("worker", *base, "--single", *metrics_args(params["metrics_listen"], i)),
            0,
        )
        for i in range(count)
    ]
    sys.exit(asyncio.run(Supervisor("worker").run([children], reload_stage=0)))
