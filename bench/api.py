"""S9: the HTTP API (``gw api``) beside the Python push client.

One register, one gateway, one ``gw api`` process. Phases of ``cfg.duration`` seconds,
each of them ``send_to_client`` calls carrying the same 64-byte text, to client_ids
of that gateway in turn:

1. single calls: :data:`SINGLE` keep-alive connections, each in a closed loop
   (``POST /api/v1/send_to_client``, the next request once the answer is in);
2. batches: :data:`BATCHES` connections, each in a closed loop of
   ``POST /api/v1/batch`` carrying :data:`BATCH` sends;
3. the Python push client (:mod:`bench.pushload`, its own process) at the rate the
   batches reached, :data:`BATCH` sends per event-loop pass; then at the rate the
   single calls reached, one send per pass (as a backend pushes once per request).

CPU per send is the ``gw api`` process's utime+stime over its phase (from /proc)
divided by the sends, and the push client process's own (getrusage) over its phase.
What happens past them is the same for both and left out: the client_ids name no
connected client (the gateway takes each command and finds nobody to deliver to),
so that the gateway's deliveries, and a load generator reading them on the same two
cores, do not slow the side being measured. Nothing may be lost: the gateway's own
count of the commands it took (``gw status``'s ``commands``) must grow by every send
answered 200. (Delivery itself, through the API, is what tests/cluster/test_http_api.py
checks, frame by frame.) Latency is the HTTP round trip (request written to answer
read), in this process (asyncio, a raw protocol per connection: :mod:`bench.httpload`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .httpload import closed_loop, request
from .phases import Settings, log
from .pushload import MESSAGE
from .report import Row, percentile
from .servers import ROOT, ClusterUnderTest, cpu_seconds

TARGETS = 10  # client_ids sent to, in turn
SINGLE = 16  # connections of the single-call phase
BATCHES = 4  # connections of the batch phase
BATCH = 100  # sends per batch request
KEY = "bench-api-key-0123456789abcdef"


@dataclass
class Load:
    """One phase: what was sent, how long it took, what it cost, what the gateway took."""

    sends: int
    seconds: float
    cpu: float  # seconds: the gw api process's, or the push client's
    latencies: list[int] = field(default_factory=list)  # microseconds, ascending
    refused: int = 0  # answers other than 200
    lost: int = 0  # sends the gateway never took

    @property
    def rate(self) -> float:
        return self.sends / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_send_us(self) -> float | None:
        return self.cpu / self.sends * 1e6 if self.sends else None

    def ms(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else value / 1e3


class _Gateway:
    """The gateway's count of the commands it took (through a push client of our own)."""

    def __init__(self, register: str) -> None:
        from business.client import AsyncGatewayClient

        self.client = AsyncGatewayClient(register, timeout=5)
        self.address = ""

    async def __aenter__(self) -> _Gateway:
        await self.client.start()
        (self.address,) = self.client.gateways
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.close()

    def client_ids(self) -> list[str]:
        """Ids of this gateway that name no connected client (a random epoch's)."""
        from common import ids

        host, _, port = self.address.removeprefix("tcp://").rpartition(":")
        return [ids.encode(host, int(port), 12345, n) for n in range(1, TARGETS + 1)]

    async def commands(self) -> int:
        return int((await self.client.get_status())[self.address]["commands"])

    async def missing(self, before: int, sent: int, quiet: float = 1.0) -> int:
        """Wait until the gateway took ``sent`` more commands than ``before``, or took none
        for ``quiet`` s (another process's count: polled); the sends it never took."""
        last, seen = time.monotonic(), await self.commands()
        while seen - before < sent and time.monotonic() - last < quiet:
            await asyncio.sleep(0.02)
            now = await self.commands()
            if now != seen:
                last, seen = time.monotonic(), now
        return max(0, sent - (seen - before))


async def _http_phase(
    api: tuple[str, int],
    pid: int,
    per_connection: list[list[bytes]],
    sends_each: int,
    seconds: float,
    gateway: _Gateway,
) -> Load:
    before, cpu = await gateway.commands(), cpu_seconds([pid])
    begun = time.monotonic()
    conns = await closed_loop(*api, per_connection, seconds)
    elapsed, used = time.monotonic() - begun, cpu_seconds([pid]) - cpu
    statuses: Counter[int] = Counter()
    latencies: list[int] = []
    for conn in conns:
        statuses.update(conn.statuses)
        latencies += conn.latencies
    sends = statuses[200] * sends_each
    lost = await gateway.missing(before, sends)
    return Load(
        sends, elapsed, used, sorted(latencies), sum(statuses.values()) - statuses[200], lost
    )


async def _push_phase(
    register: str, cids: list[str], rate: float, seconds: float, chunk: int, gateway: _Gateway
) -> Load:
    before = await gateway.commands()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.pushload",
        "--register",
        register,
        "--client-ids",
        ",".join(cids),
        "--rate",
        f"{rate:.0f}",
        "--seconds",
        str(seconds),
        "--chunk",
        str(chunk),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    result = json.loads(out.decode().strip().splitlines()[-1])
    lost = await gateway.missing(before, result["sent"])
    return Load(result["sent"], result["seconds"], result["cpu"], lost=lost)


async def _measure(
    server: ClusterUnderTest, api: tuple[str, int], pid: int, seconds: float
) -> dict[str, Load]:
    async with _Gateway(server.register) as gateway:
        cids = gateway.client_ids()

        def post(path: str, payload: Any) -> bytes:
            return request(*api, path, json.dumps(payload).encode(), KEY)

        def body(n: int) -> dict[str, str]:
            return {"client_id": cids[n % len(cids)], "message": MESSAGE}

        singles = [
            [post("/api/v1/send_to_client", body(c + n)) for n in range(len(cids))]
            for c in range(SINGLE)
        ]
        batch = [{"call": "send_to_client", "args": body(n)} for n in range(BATCH)]
        batches = [[post("/api/v1/batch", batch)] for _ in range(BATCHES)]
        await _http_phase(api, pid, singles[:2], 1, 0.5, gateway)  # warm-up: links, caches
        found: dict[str, Load] = {}
        log(f"S9 HTTP API: single calls, {SINGLE} keep-alive connections, closed loop")
        found["single"] = await _http_phase(api, pid, singles, 1, seconds, gateway)
        log(f"S9 HTTP API: batches of {BATCH}, {BATCHES} connections, closed loop")
        found["batch"] = await _http_phase(api, pid, batches, BATCH, seconds, gateway)
        for name, rate, chunk in (
            ("push", found["batch"].rate, BATCH),
            ("push single", found["single"].rate, 1),
        ):
            log(f"S9 Python push client: {rate:.0f} sends/s, {chunk} per loop pass")
            found[name] = await _push_phase(server.register, cids, rate, seconds, chunk, gateway)
    return found


def start_api(server: ClusterUnderTest) -> tuple[tuple[str, int], int]:
    """``gw api`` beside the cluster; its address and pid."""
    info = server._start(
        [
            "-m",
            "common.cli",
            "api",
            "--listen",
            "127.0.0.1:0",
            "--register",
            server.register,
            "--log-level",
            "warning",
        ],
        env={"GW_API_KEY": KEY},
    )
    host, _, port = info["listen"].rpartition(":")
    return (host, int(port)), int(info["pid"])


def _beside(load: Load, asked: float, chunk: int) -> str:
    """The baseline column's label: the push client's rate (asked for the API's; on two
    busy cores it may fall short, then it ran flat out: no sleep between passes)."""
    reached = "the same" if load.rate >= 0.97 * asked else f"asked {asked:,.0f}/s, reached"
    return (
        f"(baseline column: the Python push client at {reached} {load.rate:,.0f}/s, "
        f"{chunk} send{'s' if chunk > 1 else ''} a loop pass)"
    )


def http_api(cfg: Settings) -> list[Row]:
    with ClusterUnderTest(gateways=1, workers=0) as server:
        api, pid = start_api(server)
        found = asyncio.run(_measure(server, api, pid, cfg.duration))
    single, batch, push, one = found["single"], found["batch"], found["push"], found["push single"]
    return [
        Row("S9 HTTP API", f"sends/s, single calls ({SINGLE} keep-alive connections)",
            single.rate, None, ">= 3,000/s", lambda v, r: v >= 3000, 0),
        Row("S9 HTTP API", "single call latency p50, ms", single.ms(50), None, digits=2),
        Row("S9 HTTP API", "  p99", single.ms(99), None, digits=2),
        Row("S9 HTTP API", "CPU per send, us, single calls (gw api) "
            f"{_beside(one, single.rate, 1)}", single.cpu_per_send_us, one.cpu_per_send_us,
            digits=1),
        Row("S9 HTTP API", f"sends/s, batches of {BATCH} ({BATCHES} connections)", batch.rate,
            None, digits=0),
        Row("S9 HTTP API", f"batch latency p50, ms ({BATCH} sends)", batch.ms(50), None,
            digits=2),
        Row("S9 HTTP API", "  p99", batch.ms(99), None, digits=2),
        Row("S9 HTTP API", f"CPU per send, us, batches of {BATCH} (gw api) "
            f"{_beside(push, batch.rate, BATCH)}", batch.cpu_per_send_us,
            push.cpu_per_send_us, "<= 1.5x", lambda v, r: r is not None and r <= 1.5, 1),
        Row("S9 HTTP API", "refused requests (answers other than 200)",
            single.refused + batch.refused, None, "0", lambda v, r: v == 0, 0, False),
        Row("S9 HTTP API", "lost sends (gw api; baseline column: the push client)",
            single.lost + batch.lost, push.lost + one.lost, "0", lambda v, r: v == 0, 0, False),
    ]  # fmt: skip
