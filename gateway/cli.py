"""``gw gateway``: run gateway process(es)."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click

from common.exceptions import ConfigError
from common.launch import (
    Refused,
    child_args,
    export_secrets,
    gateway_config,
    metrics_args,
    serve,
    setup,
)
from common.options import MAX_PROCESSES, common_options, gateway_options, option, register_option
from common.supervisor import Child, Supervisor, gw_command, reserve_port

from .connection import PROTOCOL_LOGGER
from .server import GatewayServer


@click.command()
@gateway_options
@register_option
@option(
    "--count",
    envvar="GW_GATEWAY_COUNT",
    type=click.IntRange(1, MAX_PROCESSES),
    default=1,
    help="Gateway processes (sharing the WebSocket port).",
)
@click.option("--process-index", type=int, default=0, hidden=True)
@common_options
def gateway(registers: tuple[str, ...], count: int, process_index: int, **params: Any) -> None:
    """Run gateway process(es): WebSocket clients in, events out to workers."""
    setup(params["log_level"], params["log_format"])
    # websockets logs every connection opened or refused at INFO: too chatty for a
    # gateway with 10,000 clients (its warnings and errors still show)
    logging.getLogger(PROTOCOL_LOGGER).setLevel(logging.WARNING)
    if count == 1:
        try:
            server = GatewayServer(gateway_config(params, registers, process_index))
        except ConfigError as exc:
            raise Refused(str(exc)) from None
        serve(server)
        return
    export_secrets(params)
    params["listen"] = reserve_port(params["listen"])
    params["reuse_port"] = True  # the processes share their port
    base = [
        *child_args({**params, "register": registers}, skip=("metrics_listen",)),
        "--count",
        "1",
    ]
    children = [
        Child(
            f"gateway-{i}",
            gw_command(
                "gateway",
                *base,
                "--process-index",
                str(i),
                *metrics_args(params["metrics_listen"], i),
            ),
            0,
        )
        for i in range(count)
    ]
    supervisor = Supervisor("gateway", stop_timeout=params["drain_time"] + 30)
    sys.exit(asyncio.run(supervisor.run([children])))
