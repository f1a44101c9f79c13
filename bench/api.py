"""S8: the HTTP API (``gw api``) beside the Python push client.

One register, one gateway, :data:`RECEIVERS` WebSocket clients connected to it (they
count every frame: no send may be lost), one ``gw api`` process. Three phases of
``cfg.duration`` seconds, each a ``send_to_client`` of the same 64-byte text to the
receivers in turn:

1. single calls: :data:`SINGLE` keep-alive connections, each in a closed loop
   (``POST /api/v1/send_to_client``, the next request once the answer is in);
2. batches: :data:`BATCHES` connections, each in a closed loop of
   ``POST /api/v1/batch`` carrying :data:`BATCH` sends;
3. the Python push client (:mod:`bench.pushload`, its own process) at the rate the
   batches reached, :data:`BATCH` sends per event-loop pass.

CPU per send is the ``gw api`` process's utime+stime over its phase (from /proc)
divided by the sends, and the push client process's own (getrusage) over its phase:
the same work past the push client (the gateway's, the receivers') is left out of
both. Latency is the HTTP round trip (request written to answer read), in the load
generator (this process, asyncio with a raw protocol per connection:
:mod:`bench.httpload`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .httpload import closed_loop, request
from .phases import Settings, log
from .pushload import MESSAGE
from .report import Row, percentile
from .servers import ROOT, ClusterUnderTest, cpu_seconds
from .wsclient import Client

RECEIVERS = 10
SINGLE = 16  # connections of the single-call phase
BATCHES = 4  # connections of the batch phase
BATCH = 100  # sends per batch request
KEY = "bench-api-key-0123456789abcdef"


@dataclass
class Load:
    """One phase: what was sent, how long it took, what it cost, what arrived."""

    sends: int
    seconds: float
    cpu: float  # seconds: the gw api process's, or the push client's
    latencies: list[int] = field(default_factory=list)  # microseconds, ascending
    refused: int = 0  # answers other than 200
    lost: int = 0

    @property
    def rate(self) -> float:
        return self.sends / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_send_us(self) -> float | None:
        return self.cpu / self.sends * 1e6 if self.sends else None

    def ms(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else value / 1e3


class _Receivers:
    """WebSocket clients on the gateway that count what they receive."""

    def __init__(self) -> None:
        self.received = 0
        self.clients: list[Client] = []

    async def connect(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        for index in range(RECEIVERS):
            _, client = await loop.create_connection(
                lambda i=index: Client(host, port, self._on_frame, index=i),  # type: ignore[misc]
                host, port,
            )  # fmt: skip
            await client.handshake
            self.clients.append(client)

    def _on_frame(self, client: Client, payload: bytes) -> None:
        self.received += 1

    async def settle(self, expected: int, quiet: float = 1.0) -> int:
        """Wait until ``expected`` frames arrived, or none for ``quiet`` s; the missing."""
        last, seen = time.monotonic(), self.received
        while self.received < expected and time.monotonic() - last < quiet:
            await asyncio.sleep(0.01)
            if self.received != seen:
                last, seen = time.monotonic(), self.received
        return max(0, expected - self.received)


async def _client_ids(register: str) -> list[str]:
    from business.client import AsyncGatewayClient

    async with AsyncGatewayClient(register, timeout=5) as push:
        for _ in range(200):  # the gateway's state: no event to wait on
            found = list(await push.get_all_client_id_list())
            if len(found) == RECEIVERS:
                return sorted(found)
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{len(found)} receivers connected, not {RECEIVERS}")


async def _http_phase(api: tuple[str, int], pid: int, per_connection: list[list[bytes]],
                      sends_each: int, seconds: float, receivers: _Receivers) -> Load:  # fmt: skip
    before, cpu = receivers.received, cpu_seconds([pid])
    begun = time.monotonic()
    conns = await closed_loop(*api, per_connection, seconds)
    elapsed, used = time.monotonic() - begun, cpu_seconds([pid]) - cpu
    statuses: Counter[int] = Counter()
    latencies: list[int] = []
    for conn in conns:
        statuses.update(conn.statuses)
        latencies += conn.latencies
    sends = statuses[200] * sends_each
    lost = await receivers.settle(before + sends)
    return Load(sends, elapsed, used, sorted(latencies), sum(statuses.values()) - statuses[200],
                lost)  # fmt: skip


async def _push_phase(register: str, cids: list[str], rate: float, seconds: float,
                      receivers: _Receivers) -> Load:  # fmt: skip
    before = receivers.received
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.pushload", "--register", register, "--client-ids",
        ",".join(cids), "--rate", f"{rate:.0f}", "--seconds", str(seconds), "--chunk",
        str(BATCH), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()  # the receivers count meanwhile: same loop
    result = json.loads(out.decode().strip().splitlines()[-1])
    lost = await receivers.settle(before + result["sent"])
    return Load(result["sent"], result["seconds"], result["cpu"], lost=lost)


async def _measure(server: ClusterUnderTest, api: tuple[str, int], pid: int,
                   seconds: float) -> dict[str, Load]:  # fmt: skip
    receivers = _Receivers()
    await receivers.connect(*server.urls[0])
    cids = await _client_ids(server.register)

    def body(n: int) -> dict[str, str]:
        return {"client_id": cids[n % len(cids)], "message": MESSAGE}

    def post(path: str, payload: Any) -> bytes:
        return request(*api, path, json.dumps(payload).encode(), KEY)

    singles = [[post("/api/v1/send_to_client", body(c + n)) for n in range(len(cids))]
               for c in range(SINGLE)]  # fmt: skip
    batch = [{"call": "send_to_client", "args": body(n)} for n in range(BATCH)]
    batches = [[post("/api/v1/batch", batch)] for _ in range(BATCHES)]
    await _http_phase(api, pid, singles[:2], 1, 0.5, receivers)  # warm-up: links, caches
    found: dict[str, Load] = {}
    log(f"S8 HTTP API: single calls, {SINGLE} keep-alive connections, closed loop")
    found["single"] = await _http_phase(api, pid, singles, 1, seconds, receivers)
    log(f"S8 HTTP API: batches of {BATCH}, {BATCHES} connections, closed loop")
    found["batch"] = await _http_phase(api, pid, batches, BATCH, seconds, receivers)
    rate = found["batch"].rate
    log(f"S8 Python push client: {rate:.0f} sends/s, {BATCH} per loop pass")
    found["push"] = await _push_phase(server.register, cids, rate, seconds, receivers)
    for client in receivers.clients:
        client.abort()
    return found


def start_api(server: ClusterUnderTest) -> tuple[tuple[str, int], int]:
    """``gw api`` beside the cluster; its address and pid."""
    info = server._start(
        ["-m", "common.cli", "api", "--listen", "127.0.0.1:0", "--register", server.register,
         "--log-level", "warning"], env={"GW_API_KEY": KEY},
    )  # fmt: skip
    host, _, port = info["listen"].rpartition(":")
    return (host, int(port)), int(info["pid"])


def http_api(cfg: Settings) -> list[Row]:
    with ClusterUnderTest(gateways=1, workers=0) as server:
        api, pid = start_api(server)
        found = asyncio.run(_measure(server, api, pid, cfg.duration))
    single, batch, push = found["single"], found["batch"], found["push"]
    push_label = (
        f"(baseline column: the Python push client at {push.rate:,.0f}/s, the batches' rate)"
    )
    return [
        Row("S8 HTTP API", f"sends/s, single calls ({SINGLE} keep-alive connections)",
            single.rate, None, ">= 3,000/s", lambda v, r: v >= 3000, 0),
        Row("S8 HTTP API", "single call latency p50, ms", single.ms(50), None, digits=2),
        Row("S8 HTTP API", "  p99", single.ms(99), None, digits=2),
        Row("S8 HTTP API", f"CPU per send, us, single calls (gw api) {push_label}",
            single.cpu_per_send_us, push.cpu_per_send_us, digits=1),
        Row("S8 HTTP API", f"sends/s, batches of {BATCH} ({BATCHES} connections)", batch.rate,
            None, digits=0),
        Row("S8 HTTP API", f"batch latency p50, ms ({BATCH} sends)", batch.ms(50), None,
            digits=2),
        Row("S8 HTTP API", "  p99", batch.ms(99), None, digits=2),
        Row("S8 HTTP API", f"CPU per send, us, batches of {BATCH} (gw api) {push_label}",
            batch.cpu_per_send_us, push.cpu_per_send_us, "<= 1.5x",
            lambda v, r: r is not None and r <= 1.5, 1),
        Row("S8 HTTP API", "refused requests (answers other than 200)",
            single.refused + batch.refused, None, "0", lambda v, r: v == 0, 0, False),
        Row("S8 HTTP API", "lost sends (gw api; baseline column: the push client)",
            single.lost + batch.lost, push.lost, "0", lambda v, r: v == 0, 0, False),
    ]  # fmt: skip
