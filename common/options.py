"""The options every ``gw`` command shares (what turns them into a running process is
:mod:`common.launch`).

Each role's own command lives in its package (``register/cli.py``, ``gateway/cli.py``,
``business/cli.py``) and builds on these. Every option reads an environment variable
(``GW_...``), shown by ``--help``. The gateway's options are here, beside the
register option and the common ones, because ``gw up`` passes them through to its
gateway processes: they describe :class:`~common.config.GatewayConfig`, which is
common ground too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, get_args

import click

from .config import (
    LogFormat,
    LogLevel,
    RouterName,
    split_address,
)
from .exceptions import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


class Amount(click.FloatRange):
    """A finite number of at least ``min`` (0 unless given): NaN and infinity are no
    amount of seconds, bytes or messages (``--heartbeat nan`` was a traceback)."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


# how many processes one command may start (each ~35 MB): a typo, not a cluster, past it
MAX_PROCESSES = 256


def option(*names: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` that shows its environment variable and default in ``--help``.

    A plain ``float`` is an :class:`Amount` of at least 0, a plain ``int`` at least 0
    (every number of ours is a count, a size, a port or a duration): options that need
    more say so with their own type."""
    if attrs.get("type") is float:
        attrs["type"] = Amount(min=0)
    elif attrs.get("type") is int:
        attrs["type"] = click.IntRange(min=0)
    attrs.setdefault("show_envvar", True)
    if "default" in attrs and not attrs.get("is_flag"):
        attrs.setdefault("show_default", True)
    return click.option(*names, **attrs)


def apply(func: F, options: Sequence[Callable[[F], F]]) -> F:
    for decorate in reversed(options):
        func = decorate(func)
    return func


def _addresses(ctx: click.Context, param: click.Parameter, value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in values:
        for address in str(item).split(","):
            if address.strip():
                try:
                    split_address(address.strip())
                except ConfigError as exc:
                    raise click.BadParameter(str(exc)) from None
                out.append(address.strip().removeprefix("tcp://"))
    if not out:  # "" or "," names no register: no "no register answered at :" later
        raise click.BadParameter("no address given (HOST:PORT, comma-separated)")
    return tuple(out)


def _address_or_none(ctx: click.Context, param: click.Parameter, value: Any) -> str | None:
    if value is None:
        return None
    try:
        split_address(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return str(value)


def _router(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value in get_args(RouterName) or ":" in value:
        return value
    raise click.BadParameter("least, random, or PACKAGE.MODULE:FUNCTION")


register_option = option(
    "--register",
    "registers",
    envvar="GW_REGISTER",
    default="127.0.0.1:1236",
    callback=_addresses,
    help="Register address(es), comma-separated.",
)


def common_options(func: F) -> F:
    """--secret, --insecure, --heartbeat, --peer-timeout, --log-level, --log-format,
    --metrics-listen."""
    return apply(
        func,
        [
            option(
                "--secret",
                envvar="GW_SECRET",
                default=None,
                help="Shared secret: internal links use CURVE keys derived from it.",
            ),
            option(
                "--insecure",
                envvar="GW_INSECURE",
                is_flag=True,
                help="Allow internal ports on non-loopback addresses without --secret.",
            ),
            option(
                "--heartbeat",
                envvar="GW_HEARTBEAT",
                type=Amount(min=0.01),
                default=1.0,
                help="Internal heartbeat period (s).",
            ),
            option(
                "--peer-timeout",
                envvar="GW_PEER_TIMEOUT",
                type=Amount(min=0.01),
                default=None,
                help="An internal peer silent this long is gone (default 3.5 x heartbeat).",
            ),
            option(
                "--log-level",
                envvar="GW_LOG_LEVEL",
                default="info",
                type=click.Choice(get_args(LogLevel)),
            ),
            option(
                "--log-format",
                envvar="GW_LOG_FORMAT",
                default="text",
                type=click.Choice(get_args(LogFormat)),
                help="json: one JSON object per line.",
            ),
            option(
                "--metrics-listen",
                envvar="GW_METRICS_LISTEN",
                default=None,
                callback=_address_or_none,
                help="HOST:PORT serving /metrics (Prometheus), /healthz and /readyz.",
            ),
        ],
    )


COMMON = ("secret", "insecure", "heartbeat", "peer_timeout", "log_level", "log_format")


def gateway_options(func: F) -> F:
    """Every option of a gateway process (``gw gateway`` and ``gw up``)."""
    return apply(
        func,
        [
            option(
                "--listen",
                envvar="GW_LISTEN",
                default="127.0.0.1:8783",
                help="Public WebSocket address.",
            ),
            option(
                "--lan-ip",
                envvar="GW_LAN_IP",
                default="127.0.0.1",
                help="This host's IPv4 address workers reach this gateway on (advertised, "
                "and carried in client_ids).",
            ),
            option(
                "--internal-listen",
                envvar="GW_INTERNAL_LISTEN",
                default=None,
                help="Where the internal port binds, e.g. 0.0.0.0 in a container (default: "
                "--lan-ip).",
            ),
            option(
                "--public-address",
                envvar="GW_PUBLIC_ADDRESS",
                default=None,
                help="HOST:PORT this gateway reports as its WebSocket address (default: "
                "where it listens; --lan-ip if it listens on 0.0.0.0).",
            ),
            option(
                "--start-port",
                envvar="GW_START_PORT",
                type=click.IntRange(0, 65535),
                default=2900,
                help="Internal port of process 0 (+1 per process; 0: any free port).",
            ),
            option(
                "--reuse-port",
                envvar="GW_REUSE_PORT",
                is_flag=True,
                help="Share the WebSocket port with other gateways started so (SO_REUSEPORT; "
                "--count N does it for its own processes): to replace a gateway in "
                "place. Without it a busy port is an error.",
            ),
            option(
                "--ping-interval",
                envvar="GW_PING_INTERVAL",
                type=float,
                default=0.0,
                help="Application heartbeat tick (s); 0 disables it.",
            ),
            option(
                "--ping-not-response-limit",
                envvar="GW_PING_NOT_RESPONSE_LIMIT",
                type=int,
                default=0,
                help="Close a client silent for this many ticks (0: never).",
            ),
            option(
                "--ping-data",
                envvar="GW_PING_DATA",
                default="",
                help="Message sent on each tick to the clients silent since the last one.",
            ),
            option(
                "--ws-ping-interval",
                envvar="GW_WS_PING_INTERVAL",
                type=float,
                default=20.0,
                help="WebSocket ping period (s); 0 disables it.",
            ),
            option(
                "--ws-ping-timeout",
                envvar="GW_WS_PING_TIMEOUT",
                type=Amount(min=0.01),
                default=None,
                help="A client whose pong is this late is closed (s; default: the ping period).",
            ),
            option(
                "--max-message-size",
                envvar="GW_MAX_MESSAGE_SIZE",
                type=click.IntRange(min=1),
                default=1 << 20,
                help="Largest client message (bytes).",
            ),
            option(
                "--max-send-buffer",
                envvar="GW_MAX_SEND_BUFFER",
                type=click.IntRange(min=1),
                default=4 << 20,
                help="Bytes queued to one slow client before closing it.",
            ),
            option(
                "--max-pending-events",
                envvar="GW_MAX_PENDING_EVENTS",
                type=int,
                default=10_000,
                help="Events held while no worker is connected.",
            ),
            option(
                "--compression/--no-compression",
                envvar="GW_COMPRESSION",
                default=False,
                show_default=True,
                help="permessage-deflate for clients.",
            ),
            option(
                "--drain-time",
                envvar="GW_DRAIN_TIME",
                type=float,
                default=10.0,
                help="On SIGTERM or gw drain: close clients (1012) in waves over this long, "
                "so they reconnect elsewhere gradually; 0: all at once (1001).",
            ),
            option(
                "--router",
                envvar="GW_ROUTER",
                default="least",
                callback=_router,
                help="First pick of a client's worker: least, random or "
                "PACKAGE.MODULE:FUNCTION(workers) -> worker.",
            ),
            option(
                "--tls-cert",
                envvar="GW_TLS_CERT",
                default=None,
                type=click.Path(dir_okay=False),
                help="PEM certificate (chain): serve wss:// on --listen.",
            ),
            option(
                "--tls-key",
                envvar="GW_TLS_KEY",
                default=None,
                type=click.Path(dir_okay=False),
                help="PEM private key of --tls-cert.",
            ),
            option(
                "--auth-secret",
                envvar="GW_AUTH_SECRET",
                default=None,
                help="Verify an HS256 JWT (?token= or Authorization: Bearer) before the "
                "upgrade: missing, forged or expired -> 401. Its claims reach handlers.",
            ),
            option(
                "--auth-optional",
                envvar="GW_AUTH_OPTIONAL",
                is_flag=True,
                help="With --auth-secret: let requests without a token in, anonymous.",
            ),
            option(
                "--auth-hook",
                envvar="GW_AUTH_HOOK",
                default=None,
                help="PACKAGE.MODULE:FUNCTION(request data) -> claims dict, None, or an "
                "HTTP status to refuse.",
            ),
            option(
                "--allowed-origins",
                envvar="GW_ALLOWED_ORIGINS",
                default=None,
                help="Comma-separated Origins allowed (others: 403).",
            ),
            option(
                "--rate-limit",
                envvar="GW_RATE_LIMIT",
                type=float,
                default=0.0,
                help="Messages per second per connection, burst 2x (over: close 1008); 0: off.",
            ),
            option(
                "--max-connections",
                envvar="GW_MAX_CONNECTIONS",
                type=int,
                default=0,
                help="Connections per gateway process (over: 503); 0: no cap.",
            ),
            option(
                "--max-connections-per-ip",
                envvar="GW_MAX_CONNECTIONS_PER_IP",
                type=int,
                default=0,
                help="Connections per remote address (over: 503); 0: no cap.",
            ),
        ],
    )
