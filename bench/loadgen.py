"""Load-generator processes: asyncio (uvloop) clients, driven over a pipe.

The runner starts several processes (:class:`LoadGen`); each owns the clients whose
global index ``c`` satisfies ``c % procs == index`` and obeys commands:

``connect``  open and join every client (``concurrency`` handshakes at a time);
             returns the time from TCP connect to the join reply, per client.
``phase``    send for ``duration`` seconds, then wait until nothing arrived for
             ``quiet`` seconds; returns frames received, messages sent (by target,
             so that the runner computes how many frames were expected), latencies.
``drain``    after the last phase: wait for quiet, report frames that came late.
``close``    close every client and exit.

A message's ``content`` is 64 bytes carrying the send timestamp (``CLOCK_MONOTONIC``,
the same clock in every process of the machine), the sender's index and a sequence
number; receivers find it in the reply without parsing the JSON. Kinds of phase:

- ``pingpong`` (S3): even clients send to their odd partner's uid; the partner echoes
  the content back; the round trip is measured by the sender.
- ``group`` (S4), ``all`` (S5): senders speak to their group / to everyone; every
  receiver measures the one-way latency.

``closed`` phases keep ``window`` messages in flight per sender (a sender sends the
next when its own message comes back); otherwise senders share ``rate`` messages/s,
stamped with their *scheduled* time so that a late sender shows as latency.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from . import chat, pool
from .wsclient import Client

SENDER, RESPONDER, LISTENER = 1, 2, 0
_MARK = b"#T"
_FILL = "{}"  # placeholder for the content in a message template


def content(ts_ns: int, sender: int, seq: int) -> bytes:
    """64 bytes: ``#T<ts:19>S<sender:8>Q<seq:10>`` padded with dots."""
    return (b"#T%019dS%08dQ%010d" % (ts_ns, sender, seq)).ljust(64, b".")


def _template(text: str) -> tuple[bytes, bytes]:
    prefix, _, suffix = text.partition(_FILL)
    return prefix.encode(), suffix.encode()


class LoadProcess:
    """One load-generator process."""

    def __init__(self, conn: Connection, index: int, procs: int, spec: dict[str, Any]) -> None:
        self.conn = conn
        self.spec = spec
        self.mine = range(index, spec["n"], procs)
        self.clients: dict[int, Client] = {}
        # Frames stamped before the current phase began are *late* (of an earlier
        # phase): counted apart and reported by this phase, so that a late frame is
        # neither lost nor taken for one of this phase. Frames arriving between
        # phases wait in ``limbo`` (send stamp, arrival, measured?) until the next
        # phase's start says which they are: a process may get its command after
        # the first frames of a phase have reached it.
        self.late = 0
        self.limbo: list[tuple[int, int, bool]] = []
        self.phase_start = 0  # ns; 0: between phases
        self.last_any = 0  # ns: arrival of the last frame, in a phase or not
        self._reset()

    def _reset(self) -> None:
        self.received = 0
        self.unexpected = 0
        self.last_rx = 0
        self.lat = array("q")
        self.sent: Counter[str] = Counter()
        self.seq = 0
        self.sending = False
        self.closed_loop = False
        self.target = ""

    # -- commands -------------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command, args = await loop.run_in_executor(None, self.conn.recv)
            cpu = time.process_time()
            if command == "connect":
                result = await self.connect()
            elif command == "phase":
                result = await self.phase(**args)
            elif command == "drain":
                result = await self.drain(**args)
            elif command == "close":
                result = await self.close()
            else:
                raise ValueError(command)
            result["cpu"] = time.process_time() - cpu
            result["dropped"] = sum(1 for c in self.clients.values() if c.transport is None)
            self.conn.send(result)
            if command == "close":
                return

    async def connect(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        spec = self.spec
        urls, groups, by_uid = spec["urls"], spec["groups"], spec["join"] == "uid"
        slots = asyncio.Semaphore(spec.get("concurrency", 100))
        # wss: trust the bench's own CA (a TLS run of the cluster)
        tls = ssl.create_default_context(cafile=spec["ca"]) if spec.get("ca") else None
        durations = array("q")
        failures: Counter[str] = Counter()

        async def one(c: int) -> None:
            host, port = urls[c % len(urls)]
            join = chat.message(
                "join",
                chat.PRIVATE if by_uid else chat.GROUP,
                group_id=c % groups + 1,
                from_user_id=f"u{c}",
                content="hello",
            ).encode()
            async with slots:
                start = time.monotonic_ns()
                try:
                    _, client = await loop.create_connection(
                        lambda: Client(host, port, self.on_frame, spec["compression"], c),
                        host,
                        port,
                        ssl=tls,
                    )
                    await asyncio.wait_for(client.handshake, 60)
                    client.joined = loop.create_future()
                    client.send(join)
                    joined = await asyncio.wait_for(client.joined, 60)
                except Exception as exc:  # counted and reported, never hidden
                    failures[type(exc).__name__] += 1
                    return
            durations.append((joined - start) // 1000)
            self.clients[c] = client

        start = time.monotonic()
        await asyncio.gather(*(one(c) for c in self.mine))
        return {
            "ok": len(self.clients),
            "failures": dict(failures),
            "durations_us": durations.tobytes(),
            "wall": time.monotonic() - start,
        }

    async def phase(
        self,
        kind: str,
        senders: list[int],
        duration: float,
        closed: bool = True,
        window: int = 1,
        rate: float = 0.0,
        quiet: float = 0.5,
        start_ns: int = 0,
    ) -> dict[str, Any]:
        """One phase; ``start_ns`` (the runner's, the same for every process) is when
        sending begins: frames stamped before it belong to an earlier phase."""
        self._reset()
        mine = [self.clients[c] for c in senders if c in self.clients]
        self._prepare(kind, mine)
        start = self.phase_start = start_ns or time.monotonic_ns()
        behind = max(0, time.monotonic_ns() - start)  # > 0: this process started late
        self._settle(start)
        # the loop's timers may fire a little early: wait until the clock says so,
        # or the first messages would be stamped before the phase and count as late
        while (wait := start - time.monotonic_ns()) > 0:  # noqa: ASYNC110 - a clock, no event
            await asyncio.sleep(wait / 1e9)
        self.closed_loop, self.sending = closed, True
        if closed:
            for client in mine:
                for _ in range(window):
                    self.send_one(client)
            await asyncio.sleep(duration)
        elif mine:
            share = rate * len(mine) / len(senders)
            await self._tick(mine, share, start, duration)
        else:
            await asyncio.sleep(duration)
        self.sending = False
        deadline = time.monotonic_ns() + 15_000_000_000
        while time.monotonic_ns() < deadline:
            await asyncio.sleep(quiet / 5)
            if time.monotonic_ns() - max(self.last_rx, start) > quiet * 1e9:
                break
        self.phase_start = 0
        late, self.late = self.late, 0
        return {
            "received": self.received,
            "unexpected": self.unexpected,
            "sent": dict(self.sent),
            "late": late,
            "behind_ns": behind,
            "lat_us": self.lat.tobytes(),
            "start_ns": start,
            "last_rx_ns": self.last_rx,
        }

    def _settle(self, start: int) -> None:
        """Sort the frames that arrived between phases: this phase's, or late."""
        for sent_at, arrived, measured in self.limbo:
            if sent_at < start:
                self.late += 1
                continue
            self.received += 1
            self.last_rx = max(self.last_rx, arrived)
            if measured:
                self.lat.append((arrived - sent_at) // 1000)
        self.limbo.clear()

    async def drain(self, quiet: float = 1.0) -> dict[str, Any]:
        """After the last phase: wait until nothing arrived for ``quiet`` seconds (at
        most 15), and report the frames that arrived since that phase ended."""
        deadline = time.monotonic_ns() + 15_000_000_000
        while time.monotonic_ns() < deadline:
            if time.monotonic_ns() - self.last_any > quiet * 1e9:
                break
            await asyncio.sleep(quiet / 5)
        late = self.late + len(self.limbo)
        self.late = 0
        self.limbo.clear()
        return {"late": late}

    async def close(self) -> dict[str, Any]:
        for client in self.clients.values():
            client.close()
        waiting = [c.closed for c in self.clients.values()]
        if waiting:
            await asyncio.wait(waiting, timeout=10)
            for client in self.clients.values():
                client.abort()
        return {"closed": len(waiting)}

    # -- traffic --------------------------------------------------------------------
    def _prepare(self, kind: str, senders: list[Client]) -> None:
        by_uid = kind == "pingpong"
        for client in self.clients.values():
            c = client.index
            client.role = LISTENER
            if by_uid:
                partner = c + 1 if c % 2 == 0 else c - 1
                client.role = SENDER if c % 2 == 0 else RESPONDER
                text = chat.message(
                    "speak",
                    chat.PRIVATE,
                    from_user_id=f"u{c}",
                    to_user_id=f"u{partner}",
                    content=_FILL,
                )
                self.target = "pingpong"
            else:
                group = c % self.spec["groups"] + 1
                mode = chat.GROUP if kind == "group" else chat.ALL
                text = chat.message(
                    "speak", mode, group_id=group, from_user_id=f"u{c}", content=_FILL
                )
                client.peer = str(group) if kind == "group" else "all"
            client.template = _template(text)
        if not by_uid:
            for client in senders:
                client.role = SENDER

    def send_one(self, client: Client, ts: int = 0) -> None:
        self.seq += 1
        prefix, suffix = client.template
        client.send(prefix + content(ts or time.monotonic_ns(), client.index, self.seq) + suffix)
        self.sent[self.target or client.peer] += 1

    async def _tick(self, senders: list[Client], rate: float, start: int, duration: float) -> None:
        """Send on schedule: message k is due at start + k / rate, stamped with that time.

        Every message scheduled before the end is sent, late if the process was
        descheduled (its latency then counts from when it was due), so the number
        of messages is the rate times the duration. A tick of 1 ms (the event loop
        timers' resolution) keeps the generator's own lateness under ~1 ms.
        """
        interval = 1e9 / rate
        end = start + int(duration * 1e9)
        total = math.ceil((end - start) / interval)  # every k with start + k * interval < end
        k = 0
        while k < total:
            now = time.monotonic_ns()
            due = min(total, int((now - start) / interval) + 1)
            while k < due:
                self.send_one(senders[k % len(senders)], start + int(k * interval))
                k += 1
            if k < total:
                await asyncio.sleep(0.001)

    def on_frame(self, client: Client, data: bytes) -> None:
        joined = client.joined
        now = time.monotonic_ns()
        if joined is not None and not joined.done():
            joined.set_result(now)  # the first frame is the join reply
            return
        i = data.find(_MARK)
        if i < 0:
            self.unexpected += 1
            return
        sent_at = int(data[i + 2 : i + 21])
        start = self.phase_start
        self.last_any = now
        role = client.role
        current = start and sent_at >= start  # a frame of the running phase
        if current:
            self.received += 1
            self.last_rx = now
        elif not start:  # between phases: the next phase's start will tell
            self.limbo.append((sent_at, now, role != RESPONDER))
        else:
            self.late += 1  # of an earlier phase (a responder still answers it)
        if role == RESPONDER:
            prefix, suffix = client.template
            client.send(prefix + data[i : i + 64] + suffix)
            return
        if not current:
            return
        self.lat.append((now - sent_at) // 1000)
        if (
            role == SENDER
            and self.closed_loop
            and self.sending
            and int(data[i + 22 : i + 30]) == client.index
        ):
            self.send_one(client)


def _main(conn: Connection, index: int, procs: int, spec: dict[str, Any]) -> None:
    pool.run(LoadProcess, conn, index, procs, spec)


class LoadGen(pool.Pool):
    """The runner's handle on the load-generator processes."""

    what = "a load generator"

    def __init__(self, spec: dict[str, Any], procs: int) -> None:
        super().__init__(_main, spec, procs)
