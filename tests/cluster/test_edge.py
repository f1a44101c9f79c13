"""The client edge in a gateway process of its own: a hook that cannot load, bounded
memory per client (the process's RSS), control-frame floods, TLS, and half-open sockets
(authentication, origins, rate limits and caps: tests/inproc/test_edge.py)."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.frames import Frame, Opcode

from tests.cluster.client import Probe, open_ws
from tests.harness import ANY_PORTS, UNIT, Cluster, ws_url

IDENTITY = "tests.cluster.apps.identity"
PROBE = "tests.cluster.apps.probe"


# -- authentication before the upgrade --------------------------------------------------


def test_a_missing_auth_hook_is_a_clear_error(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.start(
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--start-port",
        "0",
        "--register",
        register.info["listen"],
        "--auth-hook",
        "no.such:hook",
        ready=False,
    )
    assert gateway.proc.wait(20 * UNIT) != 0
    assert "cannot load --auth-hook 'no.such:hook'" in gateway.logs()


# -- limits ---------------------------------------------------------------------------------


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
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
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


async def test_a_flood_of_empty_fragments_is_closed_and_others_are_served(gw: Cluster) -> None:
    """8 MB of empty continuation frames (a message that never nears the size limit):
    the flooder is closed 1009 after MAX_FRAGMENTS, said once in the log and counted;
    another client on the gateway is answered meanwhile."""
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, PROBE)
    other = await Probe.open(gateway)
    sock = raw_client(gateway.info["websocket"])
    sock.setblocking(False)
    empty = Frame(Opcode.CONT, b"", fin=False).serialize(mask=True)
    chunk = Frame(Opcode.TEXT, b"x", fin=False).serialize(mask=True) + empty * (1 << 16)
    sent, ended = 0, None
    deadline = time.monotonic() + 20 * UNIT
    while ended is None and sent < 8 << 20 and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:  # the gateway does not read us (now): wait a little
            await asyncio.sleep(0.01)
        except OSError as exc:  # the gateway hung up on us
            ended = type(exc).__name__
        start = time.monotonic()
        await other.send({"pid": True})
        assert "pid" in await other.json()
        assert time.monotonic() - start < 2 * UNIT
    sock.close()
    assert "sent a message in more than 4096 fragments: closed 1009" in gateway.wait_log(
        "closed 1009"
    )
    status = await other.result("get_status")
    (only,) = status.values()
    assert only["closed_fragments"] == 1
    await other.close()


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
    cluster = gw.start(
        "up",
        "--app",
        PROBE,
        *ANY_PORTS,
        "--heartbeat",
        "0.2",
        "--workers",
        "1",
        "--tls-cert",
        str(chain),
        "--tls-key",
        str(key),
    )
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
