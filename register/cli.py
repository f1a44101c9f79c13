"""``gw register``: run the register (service discovery)."""

from __future__ import annotations

import click

from common.config import RegisterConfig
from common.options import common_options, option, security, serve, setup, timing

from .server import RegisterServer


@click.command()
@option("--listen", envvar="GW_REGISTER_LISTEN", default="127.0.0.1:1236",
        help="Address to bind (port 0: any free port).")  # fmt: skip
@common_options
def register(listen: str, secret: str | None, insecure: bool, heartbeat: float,
             peer_timeout: float | None, log_level: str) -> None:  # fmt: skip
    """Run the register (service discovery)."""
    setup(log_level)
    params = {"secret": secret, "insecure": insecure}
    config = RegisterConfig(listen, timing(heartbeat, peer_timeout), security(params))
    serve(RegisterServer(config))
