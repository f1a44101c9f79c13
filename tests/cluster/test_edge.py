"""The client edge over real sockets: authentication before the upgrade, origins,
rate limits, connection caps, bounded memory per client, and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.frames import Frame, Opcode

from tests.cluster.client import Probe
from tests.harness import UNIT, Cluster, GwProcess, ws_url

IDENTITY = "tests.cluster.apps.identity"
PROBE = "tests.cluster.apps.probe"
SECRET = "edge-test-secret-0123456789abcdef"


def token(secret: str = SECRET, ttl: float = 60, **claims: Any) -> str:
    return jwt.encode({"exp": int(time.time() + ttl), **claims}, secret, algorithm="HS256")


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, open_timeout=10 * UNIT, **kwargs)


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 10 * UNIT))


async def refused(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as raised:
        await open_ws(url, **kwargs)
    return raised.value.response.status_code


# -- authentication before the upgrade --------------------------------------------------


async def test_tokens_are_checked_before_the_upgrade_and_claims_reach_handlers(
    gw: Cluster,
) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--auth-secret", SECRET)
    gw.worker(register, IDENTITY)
    observer = await open_ws(ws_url(gateway, f"/?observer=1&token={token(uid='watch')}"))
    await recv_json(observer)  # uid_at_connect
    await recv_json(observer)  # data_auth

    # refused before the 101: missing, forged, expired, signed with another secret
    assert await refused(ws_url(gateway)) == 401
    assert await refused(ws_url(gateway, "/?token=not.a.jwt")) == 401
    assert await refused(ws_url(gateway, f"/?token={token(ttl=-5, uid='late')}")) == 401
    forged = token("another-secret-of-at-least-32-bytes", uid="x")
    assert await refused(ws_url(gateway, f"/?token={forged}")) == 401
    assert await refused(ws_url(gateway, f"/?token={token(uid='')}")) == 401  # not bindable

    # a valid token, in the query string: the uid is bound before the first event
    ws = await open_ws(ws_url(gateway, f"/?token={token(uid='alice', name='Alice')}"))
    first, second = await recv_json(ws), await recv_json(ws)
    assert first["uid_at_connect"] == "alice"
    assert first["auth"]["uid"] == "alice" and first["auth"]["name"] == "Alice"
    assert second["data_auth"]["name"] == "Alice" and second["current_auth"]["uid"] == "alice"
    await ws.send("hi")
    assert (await recv_json(ws))["auth"]["name"] == "Alice"  # on every event
    # in an Authorization header (non-browser clients)
    bearer = {"Authorization": f"Bearer {token(uid='bob')}"}
    ws2 = await open_ws(ws_url(gateway), additional_headers=bearer)
    assert (await recv_json(ws2))["uid_at_connect"] == "bob"

    # the observer saw the two accepted clients' events only: refused ones sent none
    events = []
    while len(events) < 5:  # connect+ws_connect for alice and bob, alice's message
        events.append(await recv_json(observer))
    assert {e["event"] for e in events} == {"connect", "ws_connect", "message"}
    assert len({e["client_id"] for e in events}) == 2
    for client in (ws, ws2, observer):
        await client.close()
    logs = gateway.logs()
    assert "refused a connection from 127.0.0.1: 401" in logs
    assert SECRET not in logs and "not.a.jwt" not in logs  # no secret nor token logged


async def test_auth_optional_lets_anonymous_clients_in_but_not_bad_tokens(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--auth-secret", SECRET, "--auth-optional")
    gw.worker(register, IDENTITY)
    ws = await open_ws(ws_url(gateway))
    first = await recv_json(ws)
    assert first == {"uid_at_connect": None, "auth": None}
    assert await recv_json(ws) == {"data_auth": None, "current_auth": None}
    assert await refused(ws_url(gateway, f"/?token={token(ttl=-1, uid='x')}")) == 401
    await ws.close()


async def test_an_auth_hook_decides_and_a_broken_hook_costs_one_request(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--auth-hook", "tests.cluster.apps.hook:decide")
    gw.worker(register, IDENTITY)
    ws = await open_ws(ws_url(gateway, "/?user=carol"))
    first = await recv_json(ws)
    assert first["uid_at_connect"] == "carol" and first["auth"]["via"] == "hook"
    assert await refused(ws_url(gateway, "/?deny=403")) == 403
    assert await refused(ws_url(gateway, "/?bug=1")) == 500
    anonymous = await open_ws(ws_url(gateway))
    assert (await recv_json(anonymous))["auth"] is None
    for client in (ws, anonymous):
        await client.close()
    assert "failed to accept a connection" in gateway.logs()  # the bug, with its traceback


def test_a_missing_auth_hook_is_a_clear_error(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.start(
        "gateway", "--listen", "127.0.0.1:0", "--start-port", "0", "--register",
        register.info["listen"], "--auth-hook", "no.such:hook", ready=False,
    )  # fmt: skip
    assert gateway.proc.wait(20 * UNIT) != 0
    assert "cannot load --auth-hook 'no.such:hook'" in gateway.logs()


async def test_allowed_origins(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--allowed-origins", "https://chat.example,https://b.example")
    gw.worker(register, PROBE)
    assert await refused(ws_url(gateway), origin="https://evil.example") == 403
    probe = await Probe.open(gateway, origin="https://chat.example")
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()
    no_origin = await Probe.open(gateway)  # not a browser: no Origin header, let in
    await no_origin.close()


# -- limits ---------------------------------------------------------------------------------


async def test_rate_limit_closes_with_1008_and_counts(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--rate-limit", "5")
    gw.worker(register, PROBE)
    polite = await Probe.open(gateway)
    flooder = await Probe.open(gateway)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(40):  # burst 10, then 5/s: far over
            await flooder.ws.send(json.dumps({"pid": True}))
        while True:
            await flooder.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "rate limit"
    await polite.send({"pid": True})  # within its own budget: served
    assert "pid" in await polite.json()
    status = await polite.result("get_status")
    (only,) = status.values()
    assert only["closed_rate_limit"] == 1
    assert gateway.logs().count("over --rate-limit") == 1  # one line, not one per message
    await polite.close()


async def test_connection_caps_refuse_with_503(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--max-connections-per-ip", "2")
    gw.worker(register, PROBE)
    a, b = await Probe.open(gateway), await Probe.open(gateway)
    assert await refused(ws_url(gateway)) == 503
    await b.close()
    c = await eventually_open(gateway)  # a slot is free again
    status = await a.result("get_status")
    assert next(iter(status.values()))["refused_503"] >= 1
    for probe in (a, c):
        await probe.close()
    capped = gw.gateway(register, "--max-connections", "1")
    first = await Probe.open(capped)
    assert await refused(ws_url(capped)) == 503
    await first.close()


async def eventually_open(gateway: GwProcess) -> Probe:
    deadline = time.monotonic() + 10 * UNIT
    while True:
        try:
            return await Probe.open(gateway)
        except InvalidStatus:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


# -- bounded memory per client -------------------------------------------------------------


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def raw_client(address: str) -> socket.socket:
    """A WebSocket client on a raw socket: it sends, and never reads what we send."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10 * UNIT)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # read nothing, hold little
    return sock


async def test_a_ping_flood_from_a_client_that_never_reads_is_bounded(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--max-send-buffer", str(256 << 10))
    gw.worker(register, PROBE)
    pid = gateway.info["pid"]
    other = await Probe.open(gateway)
    await other.send({"pid": True})
    await other.json()
    before = rss(pid)
    chunk = Frame(Opcode.PING, b"x" * 125).serialize(mask=True) * 256  # 33 KB of pings
    sock = raw_client(gateway.info["websocket"])
    sock.setblocking(False)
    sent, checked, ended = 0, 0, None
    deadline = time.monotonic() + 20 * UNIT
    while ended is None and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:  # the gateway does not read us (now): wait a little
            await asyncio.sleep(0.01)
        except OSError as exc:  # the gateway hung up on us
            ended = f"{type(exc).__name__}"
        if sent - checked > 1 << 20:  # every MiB sent: the other client is still served
            checked = sent
            start = time.monotonic()
            await other.send({"pid": True})
            await other.json()
            assert time.monotonic() - start < 2 * UNIT
    grown = rss(pid) - before
    sock.close()
    assert ended is not None, f"still connected after {sent} bytes of pings, never read"
    assert grown < 16 << 20, f"gateway grew {grown >> 20} MiB"
    await other.send({"pid": True})
    assert "pid" in await other.json()
    status = await other.result("get_status")
    (only,) = status.values()
    assert only["closed_control_flood"] == 1
    await other.close()


async def test_a_control_frame_flood_is_closed_with_1008(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, PROBE)
    probe = await Probe.open(gateway)
    for _ in range(200):  # pings answered, far over 50 at once and 10 a second
        await probe.ws.ping()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await probe.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "too many control frames"
    assert "flooded control frames" in gateway.wait_log("flooded control frames")


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    chain, key = folder / "chain.pem", folder / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    return ca, chain, key


async def test_tls_serves_wss_and_a_plain_client_fails_cleanly(
    gw: Cluster, tls: tuple[trustme.CA, Path, Path]
) -> None:
    ca, chain, key = tls
    register = gw.register()
    gateway = gw.gateway(register, "--tls-cert", str(chain), "--tls-key", str(key))
    assert gateway.info["tls"] is True
    gw.worker(register, PROBE)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    address = gateway.info["websocket"]
    secure = await Probe.open(f"wss://{address}", ssl=context)
    assert await secure.result("get_all_client_id_count") == 1
    with pytest.raises(InvalidMessage, match="did not receive a valid HTTP response"):
        await open_ws(f"ws://{address}/")  # plain HTTP on a TLS port: no answer, cleanly
    untrusted = ssl.create_default_context()  # does not trust our CA
    with pytest.raises(ssl.SSLCertVerificationError):
        await open_ws(f"wss://{address}/", ssl=untrusted)
    assert await secure.result("get_all_client_id_count") == 1  # still serving
    await secure.close()
    assert gateway.proc.poll() is None


def test_gw_up_passes_tls_through(gw: Cluster, tls: tuple[trustme.CA, Path, Path]) -> None:
    _, chain, key = tls
    cluster = gw.start("up", "--app", PROBE, "--register-listen", "127.0.0.1:0", "--listen",
                       "127.0.0.1:0", "--start-port", "0", "--heartbeat", "0.2", "--workers", "1",
                       "--tls-cert", str(chain), "--tls-key", str(key))  # fmt: skip
    (gateway,) = [p for p in cluster.info["processes"] if p["role"] == "gateway"]
    assert gateway["tls"] is True


async def test_idle_half_open_connections_cannot_lock_others_out(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--max-connections", "3", "--max-connections-per-ip", "2")
    gw.worker(register, PROBE)
    host, port = gateway.info["websocket"].rsplit(":", 1)
    idle = [socket.create_connection((host, int(port))) for _ in range(25)]  # say nothing
    try:
        # past twice its cap, one address's connections are dropped at once; and the
        # ones still in their handshake do not count against --max-connections
        probe = await Probe.open(gateway, local_addr=("127.0.0.2", 0))  # another address
        assert await probe.result("get_all_client_id_count") == 1
        # the gateway dropped all but twice the cap (4): they read as closed at once
        ready, _, _ = select.select(idle, [], [], 5 * UNIT)
        deadline = time.monotonic() + 5 * UNIT
        while len(ready) < 25 - 4 and time.monotonic() < deadline:
            ready, _, _ = select.select(idle, [], [], 0.1)
        assert len(ready) == 25 - 4, len(ready)
        for sock in ready:  # readable because dropped: end of stream, or reset
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""
        (only,) = (await probe.result("get_status")).values()
        assert only["closed_ip_cap"] == 25 - 4  # counted as drops, not as 503 answers
        assert only["refused_503"] == 0
    finally:
        for sock in idle:
            sock.close()
    await probe.close()


async def test_refusals_a_client_words_cannot_flood_the_log(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register, "--allowed-origins", "https://chat.example")
    for n in range(100):
        assert await refused(ws_url(gateway), origin=f"https-evil-{n}") == 403
    gateway.wait_log("not allowed")
    assert 1 <= gateway.logs().count("not allowed") <= 2  # one line a second, with a count


async def test_with_no_worker_one_client_cannot_fill_the_gateway(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)  # and no worker yet
    pid = gateway.info["pid"]
    before = rss(pid)
    async with connect(ws_url(gateway), max_size=None, close_timeout=0.5) as flooder:
        sent = 0
        try:
            async with asyncio.timeout(3 * UNIT):  # blocks once the gateway stops reading
                for _ in range(6400):
                    await flooder.send(b"x" * (16 << 10))  # 100 MiB in all, if read
                    sent += 1
        except TimeoutError:
            pass
        grown = rss(pid) - before
        assert sent < 6400, "the gateway read 100 MiB for a client no worker could take"
        assert grown < 48 << 20, f"gateway grew {grown >> 20} MiB"
        gw.worker(register, PROBE)  # a worker comes: the client's events go, in order
        other = await Probe.open(gateway)
        assert await other.result("get_all_client_id_count") == 2
        await other.close()
