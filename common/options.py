"""The options every ``gw`` command shares, and what turns them into a running process.

Each role's own command lives in its package (``register/cli.py``, ``gateway/cli.py``,
``business/cli.py``) and builds on these. Every option reads an environment variable
(``GW_...``), shown by ``--help``. The gateway's options are here, beside the
register option and the common ones, because ``gw up`` passes them through to its
gateway processes: they describe :class:`~common.config.GatewayConfig`, which is
common ground too.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, get_args

import click

from .config import (
    GatewayConfig,
    LogFormat,
    LogLevel,
    RouterName,
    Security,
    Timing,
    check_lan_ip,
    split_address,
)
from .exceptions import ConfigError
from .logs import JsonFormatter
from .service import Service, raise_open_file_limit, run

F = TypeVar("F", bound=Callable[..., Any])


def option(*names: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` that shows its environment variable and default in ``--help``."""
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
    "--register", "registers", envvar="GW_REGISTER", default="127.0.0.1:1236",
    callback=_addresses, help="Register address(es), comma-separated.",
)  # fmt: skip


def common_options(func: F) -> F:
    """--secret, --insecure, --heartbeat, --peer-timeout, --log-level, --log-format,
    --metrics-listen."""
    return apply(func, [
        option("--secret", envvar="GW_SECRET", default=None,
               help="Shared secret: internal links use CURVE keys derived from it."),
        option("--insecure", envvar="GW_INSECURE", is_flag=True,
               help="Allow internal ports on non-loopback addresses without --secret."),
        option("--heartbeat", envvar="GW_HEARTBEAT", type=float, default=1.0,
               help="Internal heartbeat period (s)."),
        option("--peer-timeout", envvar="GW_PEER_TIMEOUT", type=float, default=None,
               help="An internal peer silent this long is gone (default 3.5 x heartbeat)."),
        option("--log-level", envvar="GW_LOG_LEVEL", default="info",
               type=click.Choice(get_args(LogLevel))),
        option("--log-format", envvar="GW_LOG_FORMAT", default="text",
               type=click.Choice(get_args(LogFormat)), help="json: one JSON object per line."),
        option("--metrics-listen", envvar="GW_METRICS_LISTEN", default=None,
               callback=_address_or_none,
               help="HOST:PORT serving /metrics (Prometheus), /healthz and /readyz."),
    ])  # fmt: skip


COMMON = ("secret", "insecure", "heartbeat", "peer_timeout", "log_level", "log_format")


def gateway_options(func: F) -> F:
    """Every option of a gateway process (``gw gateway`` and ``gw up``)."""
    return apply(func, [
        option("--listen", envvar="GW_LISTEN", default="127.0.0.1:8783",
               help="Public WebSocket address."),
        option("--lan-ip", envvar="GW_LAN_IP", default="127.0.0.1",
               help="This host's IPv4 address workers reach this gateway on (advertised, "
                    "and carried in client_ids)."),
        option("--internal-listen", envvar="GW_INTERNAL_LISTEN", default=None,
               help="Where the internal port binds, e.g. 0.0.0.0 in a container (default: "
                    "--lan-ip)."),
        option("--public-address", envvar="GW_PUBLIC_ADDRESS", default=None,
               help="HOST:PORT this gateway reports as its WebSocket address (default: "
                    "where it listens; --lan-ip if it listens on 0.0.0.0)."),
        option("--start-port", envvar="GW_START_PORT", type=int, default=2900,
               help="Internal port of process 0 (+1 per process; 0: any free port)."),
        option("--reuse-port", envvar="GW_REUSE_PORT", is_flag=True,
               help="Share the WebSocket port with other gateways started so (SO_REUSEPORT; "
                    "--count N does it for its own processes): to replace a gateway in "
                    "place. Without it a busy port is an error."),
        option("--ping-interval", envvar="GW_PING_INTERVAL", type=float, default=0.0,
               help="Application heartbeat tick (s); 0 disables it."),
        option("--ping-not-response-limit", envvar="GW_PING_NOT_RESPONSE_LIMIT", type=int,
               default=0, help="Close a client silent for this many ticks (0: never)."),
        option("--ping-data", envvar="GW_PING_DATA", default="",
               help="Message sent to clients on every tick."),
        option("--ws-ping-interval", envvar="GW_WS_PING_INTERVAL", type=float, default=20.0,
               help="WebSocket ping period (s); 0 disables it."),
        option("--ws-ping-timeout", envvar="GW_WS_PING_TIMEOUT", type=float, default=None,
               help="A client whose pong is this late is closed (s; default: the ping "
                    "period)."),
        option("--max-message-size", envvar="GW_MAX_MESSAGE_SIZE", type=int, default=1 << 20,
               help="Largest client message (bytes)."),
        option("--max-send-buffer", envvar="GW_MAX_SEND_BUFFER", type=int, default=4 << 20,
               help="Bytes queued to one slow client before closing it."),
        option("--max-pending-events", envvar="GW_MAX_PENDING_EVENTS", type=int,
               default=10_000, help="Events held while no worker is connected."),
        option("--compression/--no-compression", envvar="GW_COMPRESSION", default=False,
               show_default=True, help="permessage-deflate for clients."),
        option("--drain-time", envvar="GW_DRAIN_TIME", type=float, default=10.0,
               help="On SIGTERM or gw drain: close clients (1012) in waves over this long, "
                    "so they reconnect elsewhere gradually; 0: all at once (1001)."),
        option("--router", envvar="GW_ROUTER", default="least", callback=_router,
               help="First pick of a client's worker: least, random or "
                    "PACKAGE.MODULE:FUNCTION(workers) -> worker."),
        option("--tls-cert", envvar="GW_TLS_CERT", default=None, type=click.Path(dir_okay=False),
               help="PEM certificate (chain): serve wss:// on --listen."),
        option("--tls-key", envvar="GW_TLS_KEY", default=None, type=click.Path(dir_okay=False),
               help="PEM private key of --tls-cert."),
        option("--auth-secret", envvar="GW_AUTH_SECRET", default=None,
               help="Verify an HS256 JWT (?token= or Authorization: Bearer) before the "
                    "upgrade: missing, forged or expired -> 401. Its claims reach handlers."),
        option("--auth-optional", envvar="GW_AUTH_OPTIONAL", is_flag=True,
               help="With --auth-secret: let requests without a token in, anonymous."),
        option("--auth-hook", envvar="GW_AUTH_HOOK", default=None,
               help="PACKAGE.MODULE:FUNCTION(request data) -> claims dict, None, or an "
                    "HTTP status to refuse."),
        option("--allowed-origins", envvar="GW_ALLOWED_ORIGINS", default=None,
               help="Comma-separated Origins allowed (others: 403)."),
        option("--rate-limit", envvar="GW_RATE_LIMIT", type=float, default=0.0,
               help="Messages per second per connection, burst 2x (over: close 1008); 0: off."),
        option("--max-connections", envvar="GW_MAX_CONNECTIONS", type=int, default=0,
               help="Connections per gateway process (over: 503); 0: no cap."),
        option("--max-connections-per-ip", envvar="GW_MAX_CONNECTIONS_PER_IP", type=int,
               default=0, help="Connections per remote address (over: 503); 0: no cap."),
    ])  # fmt: skip


def timing(heartbeat: float, peer_timeout: float | None, query_timeout: float = 5.0) -> Timing:
    return Timing(heartbeat, peer_timeout or heartbeat * 3.5, query_timeout)


def security(params: dict[str, Any]) -> Security:
    return Security(params["secret"], params["insecure"])


def gateway_config(params: dict[str, Any], registers: tuple[str, ...], index: int) -> GatewayConfig:
    """A gateway process's configuration from :func:`gateway_options` and
    :func:`common_options` values."""
    ws_ping = params["ws_ping_interval"] or None
    return GatewayConfig(
        listen=params["listen"],
        lan_ip=check_lan_ip(params["lan_ip"]),
        internal_listen=params["internal_listen"],
        public_address=params["public_address"],
        start_port=params["start_port"],
        reuse_port=params["reuse_port"],
        registers=registers,
        ping_interval=params["ping_interval"],
        ping_not_response_limit=params["ping_not_response_limit"],
        ping_data=params["ping_data"],
        ws_ping_interval=ws_ping,
        ws_ping_timeout=(params["ws_ping_timeout"] or ws_ping) if ws_ping else None,
        max_message_size=params["max_message_size"],
        max_send_buffer=params["max_send_buffer"],
        max_pending_events=params["max_pending_events"],
        compression=params["compression"],
        router=params["router"],
        tls_cert=params["tls_cert"],
        tls_key=params["tls_key"],
        auth_secret=params["auth_secret"],
        auth_optional=params["auth_optional"],
        auth_hook=params["auth_hook"],
        allowed_origins=tuple(
            o.strip() for o in (params["allowed_origins"] or "").split(",") if o.strip()
        ),
        rate_limit=params["rate_limit"],
        max_connections=params["max_connections"],
        max_connections_per_ip=params["max_connections_per_ip"],
        drain_time=params["drain_time"],
        process_index=index,
        timing=timing(params["heartbeat"], params["peer_timeout"]),
        security=security(params),
        metrics_listen=params["metrics_listen"],
    )


# Options that must not appear on a child's command line (``ps`` shows it to every
# user of the machine): children get them through their environment variable.
SECRETS = {"secret": "GW_SECRET", "auth_secret": "GW_AUTH_SECRET", "api_key": "GW_API_KEY"}


def child_args(params: dict[str, Any], skip: Sequence[str] = ()) -> list[str]:
    """Turn parsed options back into argv for a child process (secrets excepted: call
    :func:`export_secrets` so that children inherit them)."""
    argv: list[str] = []
    for name, value in params.items():
        if name in skip or name in SECRETS or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, tuple):
            argv += [flag, ",".join(value)]
        else:
            argv += [flag, str(value)]
    return argv


def metrics_args(metrics_listen: str | None, index: int) -> list[str]:
    """``--metrics-listen`` of a supervisor's child ``index``: its own port (base + index)."""
    if not metrics_listen:
        return []
    host, port = split_address(metrics_listen)
    return ["--metrics-listen", f"{host}:{port + index if port else 0}"]


def export_secrets(params: dict[str, Any]) -> None:
    """Put this process's secrets in its environment, for the children it starts."""
    for name, variable in SECRETS.items():
        if params.get(name):  # several API keys: comma-separated, as GW_API_KEY takes them
            value = params[name]
            os.environ[variable] = ",".join(value) if isinstance(value, tuple) else value


def setup(log_level: str, log_format: str = "text") -> None:
    """Logging to stderr (text, or one JSON object a line), and the open-file limit
    raised (many clients, many sockets)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
        )
    logging.basicConfig(level=getattr(logging, log_level.upper()), handlers=[handler])
    raise_open_file_limit()


class Refused(click.ClickException):
    """A role that cannot start as configured (a bad option, a busy port): one line on
    stderr, ``Error: ...``, and exit code 2, as click's usage errors; a supervisor
    that sees a child exit 2 before it was ready stops, and says nothing more."""

    exit_code = 2


def serve(service: Service) -> None:
    """Run a role until SIGTERM/SIGINT; its configuration errors become clear CLI errors."""
    try:
        run(service)
    except (ConfigError, OSError) as exc:
        raise Refused(f"{service.role}: {exc}") from None
