"""Settings of each role, as frozen dataclasses built by the CLI (or by tests).

Times are in seconds. Addresses are ``host:port`` (a ZeroMQ endpoint is made with
:func:`zmq_endpoint`). Every default matches GatewayWorker's where it has one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from .exceptions import ConfigError

RouterName = Literal["least", "random"]  # the first pick of a client's worker
LogLevel = Literal["debug", "info", "warning", "error"]


def split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:1236"`` -> ``("127.0.0.1", 1236)``; a ``tcp://`` prefix is allowed."""
    text = address.removeprefix("tcp://").strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def zmq_endpoint(address: str) -> str:
    """``"127.0.0.1:1236"`` -> ``"tcp://127.0.0.1:1236"``."""
    host, port = split_address(address)
    return f"tcp://{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Security:
    """Internal-link security: CURVE keys derived from ``secret`` when set.

    Without a secret, internal ports only bind to loopback unless ``insecure``.
    """

    secret: str | None = None
    insecure: bool = False

    def check_bind(self, host: str, what: str) -> None:
        """Refuse an unauthenticated internal port on a non-loopback address."""
        if self.secret is None and not self.insecure and not is_loopback(host):
            raise ConfigError(
                f"{what} would listen on {host} without --secret: anyone reaching it "
                "could push to or kick any client. Set --secret (CURVE encryption and "
                "authentication) or pass --insecure to accept the risk."
            )


@dataclass(frozen=True, slots=True)
class Timing:
    """Heartbeats between internal peers."""

    heartbeat: float = 1.0  # announce/subscribe/hello period
    timeout: float = 3.5  # a peer silent this long is gone
    query_timeout: float = 5.0  # default deadline of a query


@dataclass(frozen=True, slots=True)
class RegisterConfig:
    listen: str = "127.0.0.1:1236"
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    listen: str = "127.0.0.1:8783"  # public WebSocket address
    lan_ip: str = "127.0.0.1"  # internal address workers reach
    start_port: int = 2900  # internal port of the first process; 0 = any free port
    registers: tuple[str, ...] = ("127.0.0.1:1236",)
    ping_interval: float = 0.0  # application heartbeat tick (0 = off)
    ping_not_response_limit: int = 0  # ticks without client data before closing
    ping_data: str = ""  # sent to clients on each tick when set
    ws_ping_interval: float | None = 20.0  # WebSocket ping/pong keepalive
    ws_ping_timeout: float | None = 20.0
    max_message_size: int = 1 << 20  # bytes of one client message
    max_send_buffer: int = 4 << 20  # bytes queued to one client before closing it
    max_pending_events: int = 10_000  # events held while no worker is connected
    compression: bool = False  # permessage-deflate (costs ~64 KiB per connection)
    router: RouterName = "least"
    # the edge (all off by default): TLS, admission before the upgrade, limits
    tls_cert: str | None = None  # PEM certificate chain: serve wss://
    tls_key: str | None = None  # its private key (PEM)
    auth_secret: str | None = None  # verify an HS256 JWT before the upgrade
    auth_optional: bool = False  # ...but let requests without a token in, anonymous
    auth_hook: str | None = None  # PACKAGE.MODULE:FUNCTION deciding on the request
    allowed_origins: tuple[str, ...] = ()  # browser Origins allowed (empty: any)
    rate_limit: float = 0.0  # messages per second per connection (burst 2x; 0: off)
    max_connections: int = 0  # per gateway process (0: no cap)
    max_connections_per_ip: int = 0  # per remote address (0: no cap)
    process_index: int = 0
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    app: str = "examples.echo.app"
    registers: tuple[str, ...] = ("127.0.0.1:1236",)
    name: str = "worker"
    max_concurrency: int = 1000  # events handled at once (one client's in order)
    stop_timeout: float = 10.0  # grace for in-flight handlers on stop
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)
