"""The gateway's client edge: who gets in, what a client's connection reports, and limits.

:class:`Edge` is the :class:`~gateway.connection.ConnectionHandler` of every client
connection:

- an upgrade request is answered over HTTP (``/healthz``; 503 while stopping or past
  a connection cap; 401/403 from :mod:`gateway.admission`) or accepted: the client
  gets its client_id, its verified identity (a ``uid`` claim is bound at once), and
  its connect and websocket-connect events go to the dispatcher;
- each message goes to the dispatcher, within ``--rate-limit`` (over it: 1008);
- a lost connection leaves the index, and its close event goes to the dispatcher.

Every refusal and every client we drop is counted (:class:`EdgeCounters`) and
logged, at most one line a second per kind (:class:`~common.logs.Throttled`): a flood
cannot flood the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.http11 import Request

from common import ids
from common.config import GatewayConfig
from common.exceptions import ConfigError
from common.frames import EventKind
from common.limits import TokenBucket
from common.logs import Throttled
from common.protocol import pack_session

from .addresses import Addresses
from .admission import Admission, Policy, Refusal, admit, check_caps, load_hook
from .clients import Client, ClientIndex
from .connection import MAX_FRAGMENTS, Connection, new_protocol
from .dispatch import Dispatcher
from .fanout import Fanout
from .handshake import request_data
from .keepalive import Keepalive
from .stream import Drop, PassBudget, Traffic

log = logging.getLogger(__name__)

CLOSE_POLICY_VIOLATION = 1008
DRAIN_WAVES = 20  # a drain closes clients in this many waves (fewer if fewer clients)
DRAIN_RATE = 500.0  # clients a second a drain needs at least: 10 clients, 20 ms
UPGRADES_PER_PASS = 64  # upgrade requests answered per loop pass (~0.3 ms each)


# no register link and no worker: no worker can reach this gateway, a client would wait
UNREACHABLE = Refusal(
    503,
    "No business worker can reach this gateway; try again later.\n",
    "no register link and no worker",
    "unreachable",
)

MIN_AUTH_SECRET = 32  # bytes: RFC 7518 3.2, an HS256 key at least as long as the hash


def policy_of(config: GatewayConfig) -> Policy:
    """The admission policy of a configuration (its hook imported: ConfigError if not)."""
    secret = config.auth_secret
    if secret is not None and len(secret.encode()) < MIN_AUTH_SECRET:
        raise ConfigError(
            f"--auth-secret is {len(secret.encode())} bytes: an HS256 secret needs at least "
            f"{MIN_AUTH_SECRET} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if config.auth_optional and secret is None:
        raise ConfigError("--auth-optional needs --auth-secret")
    return Policy(
        max_connections=config.max_connections,
        max_connections_per_ip=config.max_connections_per_ip,
        allowed_origins=config.allowed_origins,
        auth_secret=config.auth_secret,
        auth_optional=config.auth_optional,
        hook=load_hook(config.auth_hook) if config.auth_hook else None,
    )


@dataclass(slots=True)
class EdgeCounters:
    """What the edge counts (``gw status`` and ``/metrics`` read it)."""

    connections: int = 0  # upgrades accepted
    messages_in: int = 0  # client messages received
    closed_slow: int = 0  # clients dropped: their write buffer was full (Drop.SLOW)
    closed_rate_limit: int = 0  # clients closed 1008 over --rate-limit
    closed_control_flood: int = 0  # clients closed 1008 for a flood of control frames
    closed_fragments: int = 0  # clients closed 1009: a message in too many fragments
    closed_ip_cap: int = 0  # connections dropped far over --max-connections-per-ip
    # upgrades refused, by HTTP status (an --auth-hook may refuse with any)
    refused: dict[int, int] = field(default_factory=lambda: {401: 0, 403: 0, 503: 0})


class Edge:
    """Every client connection of one gateway, from TCP accept to connection lost."""

    def __init__(
        self,
        config: GatewayConfig,
        policy: Policy,
        index: ClientIndex,
        fanout: Fanout,
        keepalive: Keepalive,
        dispatcher: Dispatcher,
        addresses: Addresses,
        traffic: Traffic,
        reachable: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.policy = policy
        self.index = index
        self.fanout = fanout
        self.keepalive = keepalive
        self.dispatcher = dispatcher
        self.addresses = addresses  # where client_ids point (known once bound)
        self.traffic = traffic  # every connection's bytes
        self._reachable = reachable  # False: no register link and no worker (503)
        self._clock = clock
        self._wall_clock = wall_clock  # token expiry is wall time
        self.counters = EdgeCounters()
        self.conns: set[Connection[Client]] = set()  # every TCP connection, handshake or open
        self.per_ip: Counter[str] = Counter()
        self.stopping = False  # refusing new clients (503): draining or stopping
        self.all_gone: asyncio.Event | None = None  # set when conns empties (on stop)
        self.log = Throttled(log)
        self.upgrades = PassBudget(UPGRADES_PER_PASS)  # a storm's requests, paced
        self._counter = 0

    def connection(self) -> Connection[Client]:
        """A new client connection (the factory ``create_server`` calls)."""
        cfg = self.config
        protocol = new_protocol(cfg.max_message_size, cfg.compression)
        return Connection(self, protocol, cfg.max_send_buffer, self.traffic, self.upgrades)

    def stop_accepting(self) -> None:
        """From now on every upgrade is refused (503) and ``/readyz`` says draining."""
        self.stopping = True

    # -- ConnectionHandler ----------------------------------------------------------------
    def connection_made(self, conn: Connection[Client]) -> None:
        self.conns.add(conn)
        ip = conn.peer[0]
        self.per_ip[ip] += 1
        cap = self.policy.max_connections_per_ip
        if cap and self.per_ip[ip] > 2 * cap:
            # far over its cap (idle half-open connections, say): not worth a 503
            self.counters.closed_ip_cap += 1
            self.log.info(
                "max-connections-per-ip",
                "dropped a connection from %s: %d open, --max-connections-per-ip %d",
                ip,
                self.per_ip[ip],
                cap,
            )
            conn.abort()

    def request_received(self, conn: Connection[Client], request: Request) -> None:
        """The upgrade request: accept it (a new client) or answer it over HTTP."""
        if request.path == "/healthz":
            conn.reject(http.HTTPStatus.OK, "ok\n")
            return
        if self.stopping:
            conn.reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
            return
        if not self._reachable():
            self._refuse(conn, UNREACHABLE)
            return
        # accepted clients count against --max-connections, not connections still in
        # their handshake (those time out): idle sockets cannot lock everyone out
        decision: Admission | Refusal | None = check_caps(
            self.policy, len(self.index.clients) + 1, self.per_ip[conn.peer[0]]
        )
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        if decision is None:
            decision = admit(
                self.policy,
                request.path,
                headers,
                self._wall_clock(),
                lambda claims: self._data(conn, request, "", claims),
            )
        if isinstance(decision, Refusal):
            self._refuse(conn, decision)
            return
        if not conn.accept(request):
            return
        self._counter += 1
        where = self.addresses
        client_id = ids.encode(where.lan_ip, where.internal_port, where.epoch, self._counter)
        client = Client(client_id, f"{conn.peer[0]}:{conn.peer[1]}", conn)
        client.plain = not conn.compressed
        client.since = self._wall_clock()
        claims = decision.claims
        if claims is not None:
            client.auth = pack_session(claims)
        if self.config.rate_limit > 0:
            rate = self.config.rate_limit
            client.bucket = TokenBucket(rate, 2 * rate, self._clock())
        conn.client = client
        self.index.add(client)
        if claims is not None and claims.get("uid") is not None:
            self.index.bind_uid(client_id, claims["uid"])  # before any event: trusted
        self.counters.connections += 1
        self.dispatcher.submit(client, EventKind.CONNECT, None)
        self.dispatcher.submit(
            client, EventKind.WS_CONNECT, self._data(conn, request, client_id, claims)
        )

    def _data(
        self,
        conn: Connection[Client],
        request: Request,
        client_id: str,
        claims: dict[str, Any] | None,
    ) -> dict[str, Any]:
        where = self.addresses
        data = request_data(
            request.path,
            request.headers.raw_items(),
            conn.peer,
            client_id,
            where.internal,
            where.public_port,
            hide_token=self.policy.auth_secret is not None,
        )
        data["auth"] = claims
        return data

    def _refuse(self, conn: Connection[Client], refusal: Refusal) -> None:
        refused = self.counters.refused
        refused[refusal.status] = refused.get(refusal.status, 0) + 1
        self.log.info(
            refusal.kind,
            "refused a connection from %s: %d, %s",
            conn.peer[0],
            refusal.status,
            refusal.reason,
        )
        headers = []
        if refusal.status == 503:
            headers.append(("Retry-After", "5"))
        if refusal.status == 401:
            headers.append(("WWW-Authenticate", "Bearer"))
        conn.reject(http.HTTPStatus(refusal.status), refusal.text, headers)

    def message_received(self, conn: Connection[Client], message: str | bytes) -> None:
        client = conn.client
        assert client is not None  # (every accepted connection has its client)
        bucket = client.bucket
        if bucket is not None and not bucket.take(self._clock()):
            conn.fail(CLOSE_POLICY_VIOLATION, "rate limit", Drop.RATE_LIMIT)
            return
        self.keepalive.heard(client)
        self.counters.messages_in += 1
        self.dispatcher.submit(client, EventKind.MESSAGE, message)

    def connection_lost(self, conn: Connection[Client]) -> None:
        self.conns.discard(conn)
        ip = conn.peer[0]
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]
        if not self.conns and self.all_gone is not None:
            self.all_gone.set()
        client = conn.client
        if client is None:
            return
        self.fanout.forget(conn)
        self._count_drop(conn, client)
        if self.index.remove(client.client_id) is not None:
            self.dispatcher.submit(client, EventKind.CLOSE, None)

    def _count_drop(self, conn: Connection[Client], client: Client) -> None:
        drop = conn.dropped
        if drop is not None:  # ours: counted by kind, said a line a second a kind
            counter, why = self._drop_said(drop)
            setattr(self.counters, counter, getattr(self.counters, counter) + 1)
            self.log.warning(drop.value, "client %s (%s) %s", client.client_id, client.remote, why)
        elif conn.close_code not in (None, 1000, 1001) and not self.stopping:  # (ours: planned)
            self.log.info(
                "closed",
                "client %s (%s) closed: %s %s",
                client.client_id,
                client.remote,
                conn.close_code,
                conn.close_reason,
            )

    # -- shutdown -----------------------------------------------------------------------------
    async def drain(self, duration: float, code: int, timeout: float) -> None:
        """Close every client with ``code``, in waves spread over ``duration`` (jittered),
        so that they do not all reconnect elsewhere at once; then as :meth:`close_all`.

        A handful of clients is no storm: the waves take at most one second per
        ``DRAIN_RATE`` clients.
        """
        self.stop_accepting()
        clients = [conn for conn in self.conns if conn.client is not None]
        random.shuffle(clients)
        span = min(duration, len(clients) / DRAIN_RATE)
        waves = max(1, min(DRAIN_WAVES, len(clients)))
        size = math.ceil(len(clients) / waves)
        log.info(
            "draining %d clients over %.1fs in %d waves (close code %d)%s",
            len(clients),
            span,
            waves,
            code,
            ""
            if span >= duration
            else f" (shorter than --drain-time {duration:g}s: few clients, at "
            f"{DRAIN_RATE:g} a second need no more)",
        )
        for wave in range(waves):
            for conn in clients[wave * size : (wave + 1) * size]:
                if conn in self.conns:
                    self.fanout.close_after(conn, code, "")
            if wave < waves - 1 and span > 0:
                await asyncio.sleep(span / waves * random.uniform(0.8, 1.2))
        await self.close_all(code, timeout)

    async def close_all(self, code: int, timeout: float) -> None:
        """Close every client with ``code`` (handshakes are aborted); abort the ones
        that do not finish their closing handshake within ``timeout``."""
        self.stop_accepting()
        self.all_gone = asyncio.Event()
        for conn in list(self.conns):
            if conn.client is None:  # still in its handshake
                conn.abort()
            else:  # (one closing already: nothing is written, nor closed again)
                self.fanout.close_after(conn, code, "")
        if not self.conns:
            return
        try:
            await asyncio.wait_for(self.all_gone.wait(), timeout)
        except TimeoutError:
            log.info(
                "%d clients did not answer the close within %gs: aborted", len(self.conns), timeout
            )
            for conn in list(self.conns):
                conn.abort()
            # their connection_lost (and close events) run in the next loop passes:
            # let them, before counting what the workers still have to acknowledge
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_gone.wait(), 1.0)

    def _drop_said(self, drop: Drop) -> tuple[str, str]:
        """The counter of a kind of drop, and what to say of it."""
        config = self.config
        return {
            Drop.SLOW: (
                "closed_slow",
                f"reads too slowly (> {config.max_send_buffer} bytes queued): dropped",
            ),
            Drop.RATE_LIMIT: (
                "closed_rate_limit",
                f"over --rate-limit {config.rate_limit:g}/s: closed 1008",
            ),
            Drop.CONTROL_FLOOD: ("closed_control_flood", "flooded control frames: closed 1008"),
            Drop.FRAGMENTS: (
                "closed_fragments",
                f"sent a message in more than {MAX_FRAGMENTS} fragments: closed 1009",
            ),
        }[drop]
