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
LogFormat = Literal["text", "json"]


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


def check_lan_ip(ip: str) -> str:
    """``--lan-ip``: a concrete unicast IPv4 address that others can reach us on.

    It is advertised to workers and carried in every client_id, so ``0.0.0.0`` (bind
    everywhere), a multicast or broadcast address, or a name would route nothing.
    """
    problem = bad_unicast_ipv4(ip)
    if problem is not None:
        raise ConfigError(
            f"--lan-ip {ip!r} is not an address others can reach ({problem}): give this "
            "host's own IPv4 address (to bind every interface, use --internal-listen 0.0.0.0)"
        )
    return ip


def bad_internal_address(address: object) -> str | None:
    """Why ``address`` cannot be a gateway's internal endpoint; None if it can.

    Gateways announce ``tcp://A.B.C.D:PORT`` and client_ids carry the same IPv4
    and port, so it must be a concrete unicast IPv4 (not 0.0.0.0, a multicast or a
    broadcast address) in its canonical spelling, and a port from 1 to 65535.
    Checked where an address enters (the register) and where it is used (workers
    and push clients): libzmq refuses a malformed one with an error that names
    nothing.
    """
    if not isinstance(address, str) or len(address) > 64:
        return "not a short string"
    if not address.startswith("tcp://"):
        return "not tcp://IPv4:PORT"
    host, sep, port = address[6:].rpartition(":")
    if not sep or not port.isdigit() or not port.isascii() or not 0 < int(port) < 65536:
        return "no port from 1 to 65535"
    problem = bad_unicast_ipv4(host)
    return None if problem is None else f"{host!r}: {problem}"


def bad_unicast_ipv4(host: str) -> str | None:
    """Why ``host`` is not a concrete unicast IPv4 literal; None if it is."""
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return "not an IPv4 address"
    if str(ip) != host:
        return "not in canonical form"
    if ip.is_unspecified:
        return "unspecified: 0.0.0.0 is where to listen, not an address to reach"
    if ip.is_multicast or ip.is_reserved:  # 224/4, and 240/4 with the broadcast address
        return "not a unicast address"
    return None


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


LINK_TIMEOUT_FLOOR = 0.5  # below this, a busy machine's scheduling hiccup looks like a death


@dataclass(frozen=True, slots=True)
class Timing:
    """Liveness between internal peers: one set of values, end to end.

    ``heartbeat`` (H, ``--heartbeat``) and ``timeout`` (T, ``--peer-timeout``,
    3.5 H unless set) drive everything else, so that one pair of options decides
    how fast a dead peer is noticed:

    - application heartbeats: a gateway announces itself, a worker or push client
      subscribes and says Hello, every H;
    - every ZeroMQ link: libzmq sends a PING every :attr:`ping_interval` and closes
      a link that heard nothing (data or PING) for :attr:`link_timeout`, at most
      1.5 H (and at most T, at least 0.5 s): a peer whose host is cut or frozen is
      noticed within :attr:`link_timeout` of its last byte, and a gateway then sends
      its unacknowledged events to another worker (within 2 H);
    - a register forgets a gateway or a subscriber silent for T;
    - a closed link is reconnected after 0.1 s, backing off to H; a connect that
      hears nothing for :attr:`link_timeout` is abandoned and retried (the kernel
      would otherwise wait for its own SYN retries, many seconds after the cut ends).
    """

    heartbeat: float = 1.0  # announce/subscribe/hello period
    timeout: float = 3.5  # a peer silent this long is gone
    query_timeout: float = 5.0  # default deadline of a query

    @property
    def link_timeout(self) -> float:
        """A ZeroMQ link that heard nothing for this long is dead (libzmq closes it)."""
        return max(LINK_TIMEOUT_FLOOR, min(1.5 * self.heartbeat, self.timeout))

    @property
    def ping_interval(self) -> float:
        """libzmq PINGs every link this often (a link needs 2 missed in a row to die)."""
        return self.link_timeout / 3

    @property
    def reconnect_max(self) -> float:
        """Longest pause between two attempts to reconnect a closed link."""
        return max(0.1, self.heartbeat)

    @property
    def settle(self) -> float:
        """How long a register that just started, or that heard from nobody for a
        while (:attr:`quiet`), waits before it calls its gateway list complete: a
        gateway's link has to time out, reconnect and carry its next announce."""
        return max(self.timeout, self.link_timeout + self.reconnect_max + self.heartbeat)

    @property
    def quiet(self) -> float:
        """A register that heard from nobody (gateway or subscriber) for longer than
        this was cut off, not its peers: its list may lack live gateways.

        Longer than a heartbeat (every gateway announces once per heartbeat), and
        short enough that no gateway was expired meanwhile (T - H of silence).
        """
        return max(self.heartbeat, min(1.5 * self.heartbeat, self.timeout - self.heartbeat))


@dataclass(frozen=True, slots=True)
class RegisterConfig:
    listen: str = "127.0.0.1:1236"
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None  # HOST:PORT of /metrics, /healthz, /readyz


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    listen: str = "127.0.0.1:8783"  # public WebSocket address
    lan_ip: str = "127.0.0.1"  # internal address workers reach (advertised, in client_ids)
    internal_listen: str | None = None  # where the internal port binds (default: lan_ip)
    public_address: str | None = None  # the WebSocket address reported (default: bound)
    start_port: int = 2900  # internal port of the first process; 0 = any free port
    reuse_port: bool = False  # share the WebSocket port (SO_REUSEPORT): --count N, replacing
    registers: tuple[str, ...] = ("127.0.0.1:1236",)
    ping_interval: float = 0.0  # application heartbeat tick (0 = off)
    ping_not_response_limit: int = 0  # ticks without client data before closing
    ping_data: str = ""  # sent on each tick to the clients silent since the last, when set
    ws_ping_interval: float | None = 20.0  # WebSocket ping/pong keepalive
    ws_ping_timeout: float | None = 20.0
    max_message_size: int = 1 << 20  # bytes of one client message
    max_send_buffer: int = 4 << 20  # bytes queued to one client before closing it
    max_pending_events: int = 10_000  # events held while no worker is connected
    compression: bool = False  # permessage-deflate (costs ~64 KiB per connection)
    router: RouterName | str = "least"  # or PACKAGE.MODULE:FUNCTION
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
    drain_time: float = 10.0  # on stop: close clients (1012) in waves over this long
    process_index: int = 0
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None  # HOST:PORT of /metrics, /healthz, /readyz


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    app: str = "examples.echo.app"
    registers: tuple[str, ...] = ("127.0.0.1:1236",)
    name: str = "worker"
    start_timeout: float = 10.0  # no register accepted our handshake by then: exit
    max_concurrency: int = 1000  # events handled at once (one client's in order)
    stop_timeout: float = 10.0  # grace for in-flight handlers on stop
    timing: Timing = field(default_factory=Timing)
    security: Security = field(default_factory=Security)
    metrics_listen: str | None = None  # HOST:PORT of /metrics, /healthz, /readyz


def public_address(config: GatewayConfig, host: str, port: int) -> str:
    """The WebSocket address the gateway reports: ``--public-address``, else where it
    listens (``--lan-ip`` when that is every interface, 0.0.0.0 reaches nobody)."""
    if config.public_address:
        return config.public_address
    if host in ("", "0.0.0.0", "::"):
        host = config.lan_ip
    return f"{host}:{port}"
