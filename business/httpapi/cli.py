"""``gw api``: the HTTP API, a push client of the cluster that any backend can call."""

from __future__ import annotations

from typing import Any

import click

from common.config import split_address
from common.exceptions import ConfigError
from common.httpconns import IDLE_TIMEOUT, PER_ADDRESS
from common.launch import Refused, security, serve, setup, timing
from common.options import Amount, common_options, option, register_option

from .auth import check_exposure, parse_keys
from .server import ApiConfig, ApiServer


@click.command()
@option(
    "--listen",
    envvar="GW_API_LISTEN",
    default="127.0.0.1:8790",
    help="HTTP address (port 0: any free port).",
)
@register_option
@option(
    "--api-key",
    "api_keys",
    envvar="GW_API_KEY",
    multiple=True,
    help="An API key (16 characters or more); repeat it, or separate keys with commas, "
    "to accept several (key rotation). Best given in GW_API_KEY: a command line "
    "is visible to every user of the machine.",
)
@option(
    "--rate-limit",
    envvar="GW_API_RATE_LIMIT",
    type=float,
    default=0.0,
    help="Requests a second per API key (per address without keys), burst 2x; over "
    "it: 429. 0: no limit.",
)
@option(
    "--max-body",
    envvar="GW_API_MAX_BODY",
    type=click.IntRange(min=1024),
    default=4 << 20,
    help="Largest request body, in bytes (over it: 413).",
)
@option(
    "--idle-timeout",
    envvar="GW_API_IDLE_TIMEOUT",
    type=Amount(min=0.1),
    default=IDLE_TIMEOUT,
    help="Seconds a connection may go without a complete request (before its first, "
    "or after an answer) before it is closed.",
)
@option(
    "--max-connections-per-ip",
    "per_address",
    envvar="GW_API_MAX_CONNECTIONS_PER_IP",
    type=click.IntRange(min=1),
    default=PER_ADDRESS,
    help="Connections one address (an IPv6 /64) may hold at once; one more is closed "
    "as it is accepted. Behind a proxy every backend comes from it: raise it.",
)
@option(
    "--query-timeout",
    envvar="GW_QUERY_TIMEOUT",
    type=Amount(min=0.001),
    default=5.0,
    help="Default deadline of queries (s); a request may pass its own 'timeout'.",
)
@common_options
def api(
    listen: str,
    registers: tuple[str, ...],
    api_keys: tuple[str, ...],
    rate_limit: float,
    max_body: int,
    idle_timeout: float,
    per_address: int,
    query_timeout: float,
    **params: Any,
) -> None:
    """Run the HTTP API: every Gateway API call as POST /api/v1/<call>, for any backend.

    It refuses to start without an API key, unless it listens on a loopback address
    with --insecure. GET /api/v1/openapi.json describes every call.
    """
    setup(params["log_level"], params["log_format"])
    try:
        keys = parse_keys(api_keys)
        check_exposure(keys, split_address(listen)[0], params["insecure"])
    except ConfigError as exc:
        raise Refused(str(exc)) from None  # exit 2, as every role's refusal to start
    config = ApiConfig(
        listen=listen,
        registers=registers,
        keys=keys,
        rate_limit=rate_limit,
        max_body=max_body,
        idle_timeout=idle_timeout,
        per_address=per_address,
        timing=timing(params["heartbeat"], params["peer_timeout"], query_timeout),
        security=security(params),
        metrics_listen=params["metrics_listen"],
    )
    serve(ApiServer(config))
