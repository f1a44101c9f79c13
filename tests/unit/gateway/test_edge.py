"""gateway.edge: who gets in, what each client's connection reports, what is counted.

No sockets: real :class:`~gateway.connection.Connection` s on fake transports, the
client's bytes made by websockets' tooling, a real dispatcher whose events go to a
recording sink (one worker linked). The edge's counters and the events it submits are
what is checked.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any, cast

import jwt
import pytest

from common import ids
from common.config import GatewayConfig
from common.frames import EventKind
from gateway.addresses import Addresses
from gateway.admission import Policy
from gateway.clients import Client, ClientIndex
from gateway.connection import Connection
from gateway.dispatch import Dispatcher
from gateway.edge import Edge, policy_of
from gateway.fanout import Fanout
from gateway.flow import ClientFlow
from gateway.keepalive import Keepalive
from gateway.router import LinkedWorker, WorkerPool
from gateway.stream import Drop, Traffic

from .wire import PEER, FakeTransport, close_frame, close_of, read_frames, read_response, text
from .wire import upgrade_request as request

SECRET = "s" * 32
EPOCH = 0x1234ABCD


class Sent:
    """The dispatcher's EventSink: what would have left for the worker."""

    def __init__(self) -> None:
        self.events: list[tuple[str, EventKind, Any]] = []

    def send_event(
        self,
        worker: LinkedWorker,
        seq: int,
        client: Client,
        kind: EventKind,
        payload: Any,
        redelivered: bool,
    ) -> None:
        self.events.append((client.client_id, kind, payload))

    def kinds(self) -> list[EventKind]:
        return [kind for _, kind, _ in self.events]


class Gateway:
    """An edge with what it needs, a worker linked; and the connections made to it."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        policy: Policy | None = None,
        reachable: bool = True,
    ) -> None:
        self.config = config or GatewayConfig(ws_ping_interval=None)
        self.index = ClientIndex()
        self.fanout = Fanout()
        self.sent = Sent()
        pool = WorkerPool("least", 2)
        pool.hello(b"w1", "w1", 1, 0.0)
        self.dispatcher = Dispatcher(pool, self.sent, ClientFlow(self.fanout, 2), 4)
        self.addresses = Addresses(EPOCH, "10.0.0.1")
        self.addresses.bound("tcp://10.0.0.1:2900", "0.0.0.0", 8282, "10.0.0.1:8282")
        self.traffic = Traffic()
        self.reachable = reachable
        self.clock = 100.0
        self.edge = Edge(
            self.config,
            policy or policy_of(self.config),
            self.index,
            self.fanout,
            Keepalive(self.config, self.index, self.fanout),
            self.dispatcher,
            self.addresses,
            self.traffic,
            lambda: self.reachable,
            lambda: self.clock,
            time.time,
        )

    def connect(self, peer: tuple[str, int] = PEER) -> tuple[Connection[Client], FakeTransport]:
        conn = self.edge.connection()
        transport = FakeTransport()
        transport.get_extra_info = lambda name, default=None: peer  # type: ignore[method-assign]
        conn.connection_made(cast(asyncio.Transport, transport))
        return conn, transport

    def open(self, path: str = "/", *headers: str) -> tuple[Connection[Client], FakeTransport]:
        conn, transport = self.connect()
        conn.data_received(request(path, *headers))
        assert read_response(transport.take())[0].status_code == 101
        return conn, transport

    def refused(self, path: str = "/", *headers: str) -> tuple[int, dict[str, str], bytes]:
        conn, transport = self.connect()
        conn.data_received(request(path, *headers))
        response, _ = read_response(transport.take())
        assert conn.client is None
        return response.status_code, dict(response.headers.raw_items()), response.body or b""


def token(**claims: Any) -> str:
    return jwt.encode({"exp": time.time() + 60, **claims}, SECRET, algorithm="HS256")


async def test_an_accepted_client_gets_an_id_that_names_this_gateway() -> None:
    g = Gateway()
    conn, _ = g.open("/room?a=1", "User-Agent: t")
    client = conn.client
    assert client is not None and g.index.get(client.client_id) is client
    decoded = ids.decode(client.client_id)
    assert (decoded.ip, decoded.port, decoded.epoch) == ("10.0.0.1", 2900, EPOCH)
    assert client.remote == f"{PEER[0]}:{PEER[1]}" and client.plain and client.bucket is None
    # its connect event, then its request data (what on_websocket_connect gets)
    [(cid, connect, _)] = g.sent.events  # one in flight: the next leaves on its ack
    assert (cid, connect) == (client.client_id, EventKind.CONNECT)
    [(ws_connect, data)] = list(client.backlog or ())
    assert ws_connect is EventKind.WS_CONNECT
    assert data["path"] == "/room" and data["query"] == {"a": "1"} and data["auth"] is None
    assert data["server"]["GATEWAY_ADDR"] == "tcp://10.0.0.1:2900"
    assert data["server"]["GATEWAY_PORT"] == 8282
    assert data["server"]["GATEWAY_CLIENT_ID"] == client.client_id
    assert g.edge.counters.connections == 1
    second, _ = g.open()
    assert second.client is not None
    assert ids.decode(second.client.client_id).counter == decoded.counter + 1


async def test_healthz_is_answered_and_no_client_is_made() -> None:
    g = Gateway()
    status, _, body = g.refused("/healthz")
    assert (status, body) == (200, b"ok\n")
    assert not g.index.clients and g.sent.events == [] and g.edge.counters.connections == 0


async def test_while_stopping_every_upgrade_gets_503() -> None:
    g = Gateway()
    g.edge.stop_accepting()
    status, _, body = g.refused()
    assert (status, body) == (503, b"Server is shutting down.\n")


async def test_unreachable_refusals_say_when_to_retry_and_are_counted_by_status() -> None:
    g = Gateway(reachable=False)
    status, headers, _ = g.refused()
    assert status == 503 and headers["Retry-After"] == "5"
    assert g.edge.counters.refused == {401: 0, 403: 0, 503: 1}
    g.reachable = True
    g.open()
    assert g.edge.counters.refused[503] == 1 and g.edge.counters.connections == 1


async def test_a_missing_token_is_401_with_its_scheme() -> None:
    g = Gateway(GatewayConfig(ws_ping_interval=None, auth_secret=SECRET))
    status, headers, _ = g.refused()
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert g.edge.counters.refused[401] == 1


async def test_a_tokens_uid_is_bound_before_any_event_and_its_claims_go_along() -> None:
    g = Gateway(GatewayConfig(ws_ping_interval=None, auth_secret=SECRET))
    conn, _ = g.open(f"/?token={token(uid='ann', role='admin')}")
    client = conn.client
    assert (
        client is not None and client.uid == "ann" and g.index.uids == {"ann": [client.client_id]}
    )
    [(_, data)] = list(client.backlog or ())  # its websocket-connect event, next
    assert data["auth"]["uid"] == "ann" and data["auth"]["role"] == "admin"
    assert "token" not in data["query"]  # verified: handlers get the claims, never the token
    assert client.auth is not None  # what each event carries


async def test_any_status_a_hook_refuses_with_is_counted() -> None:
    policy = Policy(hook=lambda data: 429 if data["query"].get("deny") else None)
    g = Gateway(policy=policy)
    assert g.refused("/?deny=1")[0] == 429
    assert g.edge.counters.refused == {401: 0, 403: 0, 503: 0, 429: 1}


async def test_a_message_is_an_event_and_the_client_is_heard() -> None:
    g = Gateway()
    conn, _ = g.open()
    client = conn.client
    assert client is not None
    client.idle_ticks = 3
    conn.data_received(text("hello"))
    assert client.idle_ticks == 0 and g.edge.counters.messages_in == 1
    # its connect event is in flight: the rest waits behind it, in order
    assert g.sent.kinds() == [EventKind.CONNECT]
    backlog = list(client.backlog or ())
    assert [kind for kind, _ in backlog] == [EventKind.WS_CONNECT, EventKind.MESSAGE]
    assert backlog[-1] == (EventKind.MESSAGE, "hello")


async def test_over_the_rate_limit_a_client_is_closed_1008_and_counted() -> None:
    g = Gateway(GatewayConfig(ws_ping_interval=None, rate_limit=1.0))  # burst 2
    conn, transport = g.open()
    for n in range(3):
        conn.data_received(text(f"m{n}"))
    [close] = read_frames(transport.take())
    assert close_of(close).code == 1008 and close_of(close).reason == "rate limit"
    assert conn.dropped is Drop.RATE_LIMIT and g.edge.counters.messages_in == 2
    g.clock += 10.0  # refilled: too late, it failed
    conn.data_received(text("late"))
    assert g.edge.counters.messages_in == 2
    conn.connection_lost(None)
    assert g.edge.counters.closed_rate_limit == 1 and g.edge.counters.closed_slow == 0


async def test_a_lost_client_leaves_the_index_and_its_close_event_follows() -> None:
    g = Gateway()
    conn, _ = g.open()
    client = conn.client
    assert client is not None
    g.index.join_group(client.client_id, "room")
    conn.data_received(close_frame(1000))
    conn.connection_lost(None)
    assert g.index.clients == {} and g.index.groups == {} and g.edge.per_ip == {}
    assert not g.edge.conns
    assert client.backlog is not None and client.backlog[-1] == (EventKind.CLOSE, None)


async def test_a_connection_lost_in_its_handshake_makes_no_event() -> None:
    g = Gateway()
    conn, _ = g.connect()
    assert g.edge.per_ip == {PEER[0]: 1}
    conn.connection_lost(None)
    assert g.edge.per_ip == {} and g.sent.events == []


async def test_far_over_its_per_ip_cap_an_address_is_dropped_at_accept() -> None:
    config = GatewayConfig(ws_ping_interval=None, max_connections_per_ip=1)
    g = Gateway(config)
    g.connect()
    g.connect()
    _, transport = g.connect()  # over twice the cap: not worth a 503
    assert transport.aborted and g.edge.counters.closed_ip_cap == 1
    assert g.edge.per_ip[PEER[0]] == 3  # until their connection_lost


async def test_close_all_aborts_handshakes_and_closes_open_clients() -> None:
    g = Gateway()
    waiting, waiting_transport = g.connect()
    conn, transport = g.open()
    closing = asyncio.ensure_future(g.edge.close_all(1001, 5.0))
    await asyncio.sleep(0)  # (it runs up to its wait for every connection to go)
    assert waiting_transport.aborted and g.edge.stopping
    [close] = read_frames(transport.take())
    assert close_of(close).code == 1001
    for c in (waiting, conn):
        c.connection_lost(None)
    await asyncio.wait_for(closing, 5.0)  # every connection gone: it returns


async def test_a_policy_is_checked_when_made() -> None:
    with pytest.raises(Exception, match="at least 32"):
        policy_of(replace(GatewayConfig(), auth_secret="short"))
    with pytest.raises(Exception, match="needs --auth-secret"):
        policy_of(replace(GatewayConfig(), auth_optional=True))
