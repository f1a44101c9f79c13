"""WebSocket clients in the clients' host, a steady load, and exact delivery counts.

Every message a client sends has an id and, when it is sent, a set of clients that
must receive it (every client that had joined, for group, uid and all sends; the
one target of a client send). :class:`Ledger` (pure) holds both sides and says what
was lost, what was duplicated and how long the sender waited for its own copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.multihost.netns import Network

OPS = ("group", "uid", "all")


@dataclass
class _Sent:
    sender: int
    at: float
    expected: frozenset[int]
    first_back: float | None = None  # when the sender got its own copy


@dataclass
class Ledger:
    """What was sent, to whom, and what arrived (pure)."""

    sent: dict[str, _Sent] = field(default_factory=dict)
    arrived: dict[tuple[str, int], int] = field(default_factory=dict)  # (id, client) -> n
    handled_by: Counter[str] = field(default_factory=Counter)  # worker host -> messages
    by: dict[str, str] = field(default_factory=dict)  # message -> the worker host it met
    redelivered: set[str] = field(default_factory=set)
    early: int = 0  # arrived at a client that joined after it was sent: not counted
    unexpected: int = 0  # an id never sent: must stay 0

    def send(self, message_id: str, sender: int, expected: frozenset[int], at: float) -> None:
        self.sent[message_id] = _Sent(sender, at, expected)

    def receive(self, client: int, message: dict[str, Any], at: float) -> None:
        sent = self.sent.get(message["id"])
        if sent is None:
            self.unexpected += 1
            return
        if client not in sent.expected:
            self.early += 1
            return
        key = (message["id"], client)
        count = self.arrived[key] = self.arrived.get(key, 0) + 1
        if count == 1 and client == sent.sender:
            sent.first_back = at
            self.handled_by[message["by"]] += 1
            self.by[message["id"]] = message["by"]
        if message["redelivered"]:
            self.redelivered.add(message["id"])

    def expected(self, ids: list[str] | None = None) -> int:
        return sum(len(self.sent[i].expected) for i in (ids or self.sent))

    def lost(self, ids: list[str] | None = None) -> int:
        return sum(
            1
            for i in (ids or self.sent)
            for client in self.sent[i].expected
            if (i, client) not in self.arrived
        )

    def hosts(self, ids: list[str]) -> dict[str, int]:
        """Which worker hosts handled these messages (seen by their senders' copies)."""
        return dict(Counter(self.by[i] for i in ids if i in self.by))

    def duplicated(self) -> int:
        return sum(n - 1 for n in self.arrived.values())

    def waits(self, ids: list[str] | None = None) -> list[float]:
        """For each message back at its sender: how long that took."""
        chosen = (self.sent[i] for i in (ids or self.sent))
        return [s.first_back - s.at for s in chosen if s.first_back is not None]

    def report(self, ids: list[str] | None = None) -> dict[str, Any]:
        waits = sorted(self.waits(ids))
        return {
            "messages": len(ids or self.sent),
            "deliveries_expected": self.expected(ids),
            "lost": self.lost(ids),
            "duplicated": self.duplicated(),
            "redelivered": len(self.redelivered),
            "unexpected": self.unexpected,
            "early": self.early,
            "max_wait_s": round(waits[-1], 3) if waits else None,
            "p50_wait_s": round(waits[len(waits) // 2], 4) if waits else None,
            "handled_by": dict(self.handled_by),
        }


@dataclass
class Client:
    index: int
    gateway: str  # the gateway host's name
    ws: ClientConnection
    client_id: str = ""
    first_worker: str = ""  # the worker host that handled its connect
    reader: asyncio.Task[None] | None = None
    answers: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


class Load:
    """Clients in host ``host`` of ``net``, connected to gateways, sending on demand."""

    def __init__(self, net: Network, host: str = "clients") -> None:
        self.net = net
        self.host = host
        self.ledger = Ledger()
        self.clients: list[Client] = []
        self._ids = itertools.count()

    async def connect(self, count: int, gateways: dict[str, str]) -> list[Client]:
        """``count`` more clients, round-robin over ``gateways`` (host -> ws host:port);
        return once every one of them was greeted (it joined the group)."""
        made = []
        names = list(gateways)
        for n in range(count):
            name = names[n % len(names)]
            host, port = gateways[name].rsplit(":", 1)
            index = len(self.clients)
            sock = await asyncio.get_running_loop().run_in_executor(
                None, self.net.connect, self.host, host, int(port)
            )
            ws = await connect(
                f"ws://{host}:{port}/?uid=u{index}",
                sock=sock,
                max_queue=None,
                open_timeout=20,
                close_timeout=2,
            )
            client = Client(index, name, ws)
            while True:  # under load, others' sends may come first: not ours to count
                hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if "hello" in hello:
                    break
                self.ledger.early += 1
            client.client_id, client.first_worker = hello["hello"], hello["by"]
            client.reader = asyncio.create_task(self._read(client))
            self.clients.append(client)
            made.append(client)
        return made

    async def _read(self, client: Client) -> None:
        with contextlib.suppress(Exception):
            async for frame in client.ws:
                message = json.loads(frame)
                if "count" in message:
                    client.answers.put_nowait(message)
                else:
                    self.ledger.receive(client.index, message, time.monotonic())

    async def count(self, client: Client, timeout: float) -> tuple[int, list[str]]:
        """Ask the client's worker for get_all_client_id_count(): (count, missing)."""
        await client.ws.send(json.dumps({"id": "", "op": "count", "timeout": timeout}))
        answer = await asyncio.wait_for(client.answers.get(), timeout + 10)
        return answer["count"], answer["missing"]

    async def send(self, sender: Client, op: str, to: Client | None = None) -> str:
        message_id = f"m{next(self._ids)}"
        request: dict[str, Any] = {"id": message_id, "op": op}
        if op == "client":
            assert to is not None
            request["to"], expected = to.client_id, frozenset([to.index])
        else:
            expected = frozenset(c.index for c in self.clients)
            if op == "uid":
                request["uids"] = [f"u{c.index}" for c in self.clients]
        self.ledger.send(message_id, sender.index, expected, time.monotonic())
        await sender.ws.send(json.dumps(request))
        return message_id

    async def run(
        self,
        seconds: float,
        rate: float,
        senders: list[Client] | None = None,
        ops: tuple[str, ...] = OPS,
    ) -> list[str]:
        """Send ``rate`` messages a second for ``seconds``, round-robin over ``senders``
        and ``ops``; return their ids."""
        chosen = senders or self.clients
        ids = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in itertools.count():
            due = start + n / rate
            if due - start >= seconds:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            ids.append(await self.send(chosen[n % len(chosen)], ops[n % len(ops)]))
        return ids

    async def flowing(self, messages: int = 20, timeout: float = 30.0) -> None:
        """Until ``messages`` sends made from now on have reached every recipient: the load
        is flowing end to end (what a scenario waits for before it breaks something,
        rather than a guess of how long that takes)."""
        before = set(self.ledger.sent)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            new = [i for i in self.ledger.sent if i not in before][:messages]
            if len(new) == messages and not self.ledger.lost(new):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the load is not flowing: {len(new)} of {messages} sent")
            await asyncio.sleep(0.05)  # (arrivals come from many clients: polled)

    async def drain(self, timeout: float, ids: list[str] | None = None) -> int:
        """Wait until nothing expected is missing (or ``timeout``); what is still lost."""
        for _ in range(int(timeout * 10)):  # arrivals come from many clients: polled
            if not self.ledger.lost(ids):
                return 0
            await asyncio.sleep(0.1)
        return self.ledger.lost(ids)

    async def close(self) -> None:
        for client in self.clients:
            await client.ws.close()
            if client.reader is not None:
                client.reader.cancel()
        await asyncio.gather(*(c.reader for c in self.clients if c.reader), return_exceptions=True)
