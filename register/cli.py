"""``gw register``: run the register (service discovery)."""

from __future__ import annotations

from typing import Any

import click

from common.config import RegisterConfig
from common.launch import security, serve, setup, timing
from common.options import common_options, option

from .server import RegisterServer


@click.command()
@option(
    "--listen",
    envvar="GW_REGISTER_LISTEN",
    default="127.0.0.1:1236",
    help="Address to bind (port 0: any free port).",
)
@common_options
def register(listen: str, **params: Any) -> None:
    """Run the register (service discovery)."""
    setup(params["log_level"], params["log_format"])
    config = RegisterConfig(
        listen,
        timing(params["heartbeat"], params["peer_timeout"]),
        security(params),
        metrics_listen=params["metrics_listen"],
    )
    serve(RegisterServer(config))
