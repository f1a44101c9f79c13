"""From a ``gw`` command's options to a running role: its configuration, the arguments
and secrets of the children it starts, logging, and a clean one-line refusal.

The options themselves are :mod:`common.options`'s; each role's command
(``register/cli.py``, ``gateway/cli.py``, ``business/cli.py``) parses them, then
uses these.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from .config import GatewayConfig, Security, Timing, check_lan_ip, split_address
from .exceptions import ConfigError
from .logs import JsonFormatter
from .service import Service, raise_open_file_limit, run


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


GC_YOUNG = 10_000  # allocations between young collections (CPython's default: 700)


def tune_gc() -> None:
    """The collector's young generation collected every :data:`GC_YOUNG` allocations
    rather than 700 (its later thresholds as CPython has them). A server of 100,000
    connections allocates fast: at 700, what is only in flight (a frame being sent, a
    request being read) is often caught by a young collection and promoted, until the
    old generation's growth sets off a full pass over every connection's objects. In
    S8's reconnect storm that was 3 full passes holding the surviving gateways' loops
    3.2 s in all (wall clock, on two shared cores); at 10,000, none, and the connect,
    send_to_all and private-message p99s lower (docs/benchmarks.md)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, middle, old)


def serve(service: Service) -> None:
    """Run a role until SIGTERM/SIGINT; its configuration errors become clear CLI errors."""
    tune_gc()
    try:
        run(service)
    except (ConfigError, OSError) as exc:
        raise Refused(f"{service.role}: {exc}") from None
