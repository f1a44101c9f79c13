"""S8's load generator: a crowd of mostly idle clients per process, that come back.

The runner starts several processes (:class:`Crowds`); each owns the clients whose
index ``c`` satisfies ``c % procs == index``, connects them from its own loopback
source address (``127.0.0.2``, ``127.0.0.3``...: each address has its own ephemeral
ports), and obeys commands over a pipe:

``connect``  open every client: TCP, upgrade, then ``enter`` (join group ``c % groups
             + 1``, bind uid ``u<c>``; the worker answers); per client the time to the
             101 and to the answer, failures by cause (``EMFILE``, ``EADDRNOTAVAIL``,
             ``HTTP 503``...: each names the limit that caused it).
``mark``     start counting frames of the given kinds from now (see below).
``traffic``  send ``kind`` messages at a share of a total ``rate`` for ``duration``:
             ``G`` each group's first client speaks to its group; ``P`` every
             ``stride``-th client speaks privately to the next client's uid.
``report``   once nothing of ``kind`` arrived for ``quiet`` s: frames received, the
             latencies, the latest arrival per sequence number, and what connected
             clients missed (``expect`` copies each, or the senders' count for ``P``).
``storm``    the clients that lost their connection since ``mark``: how many, how many
             are back and entered (and when), attempts and failures by cause.
``status``   connected and entered now; ``close``: close every client and exit.

A client whose connection is lost (not by us) reconnects with exponential backoff and
full jitter (``U(0, min(cap, base * 2**attempt))``) to the same address, and enters
again: a gateway's clients do not come back all at once.

Every message the bench sends carries ``#S<kind><seq:8>T<send time, ns:19>`` (the
machine's ``CLOCK_MONOTONIC``, shared by its processes); a receiver finds it without
parsing the JSON around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import time
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from . import chat, pool
from .limits import cause
from .wsclient import Client

MARK = b"#S"
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: the local port is chosen at connect(), per 4-tuple


def marker(kind: str, seq: int, ts_ns: int) -> str:
    """``#S<kind><seq:08>T<ts:019>``: what a receiver finds in a frame."""
    return f"#S{kind}{seq:08d}T{ts_ns:019d}"


class Member(Client):
    """One client of the crowd: tells its crowd when its connection is lost."""

    def __init__(self, crowd: Crowd, host: str, port: int, index: int) -> None:
        super().__init__(host, port, crowd.on_frame, False, index)
        self.crowd = crowd
        self.entered: asyncio.Future[int] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.crowd.lost(self)


class Tally:
    """Frames of one kind since ``mark``: per client (by position), per sequence."""

    def __init__(self, size: int) -> None:
        self.got = array("i", bytes(4 * size))
        self.lat = array("q")
        self.last: dict[int, int] = {}  # seq -> latest arrival (ns)
        self.count: Counter[int] = Counter()  # seq -> copies arrived
        self.received = 0
        self.last_rx = 0
        self.waiting: tuple[int, int, asyncio.Event] | None = None  # (seq, copies, then)


class Crowd:
    """One load-generator process of S8."""

    def __init__(self, conn: Connection, index: int, procs: int, spec: dict[str, Any]) -> None:
        self.conn = conn
        self.spec = spec
        self.mine = list(range(index, spec["n"], procs))
        self.position = {c: i for i, c in enumerate(self.mine)}
        self.source = spec["sources"][index % len(spec["sources"])]
        self.members: dict[int, Member] = {}  # connected and entered
        self.tallies: dict[str, Tally] = {}
        self.closing = False
        # the storm: clients lost since mark, when, and when back
        self.lost_at: dict[int, int] = {}
        self.back_at: dict[int, int] = {}
        self.attempts = 0
        self.failures: Counter[str] = Counter()
        self.seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.all_back = asyncio.Event()  # every client lost since the mark is back

    # -- commands ---------------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command, args = await loop.run_in_executor(None, self.conn.recv)
            cpu = time.process_time()
            result = await getattr(self, f"do_{command}")(**args)
            result["cpu"] = time.process_time() - cpu
            self.conn.send(result)
            if command == "close":
                return

    async def do_connect(self, concurrency: int = 100) -> dict[str, Any]:
        slots = asyncio.Semaphore(concurrency)
        upgraded, entered = array("q"), array("q")
        failures: Counter[str] = Counter()

        async def one(c: int) -> None:
            async with slots:
                start = time.monotonic_ns()
                try:
                    member, at_101, at_entered = await self.open(c)
                except Exception as exc:  # counted by cause, never hidden
                    failures[cause(exc)] += 1
                    return
            upgraded.append((at_101 - start) // 1000)
            entered.append((at_entered - start) // 1000)
            self.members[c] = member

        start = time.monotonic()
        await asyncio.gather(*(one(c) for c in self.mine))
        return {
            "ok": len(self.members),
            "failures": dict(failures),
            "wall": time.monotonic() - start,
            "upgrade_us": upgraded.tobytes(),
            "enter_us": entered.tobytes(),
        }

    async def do_mark(self, kinds: list[str]) -> dict[str, Any]:
        for kind in kinds:
            self.tallies[kind] = Tally(len(self.mine))
        self.lost_at.clear()
        self.back_at.clear()
        self.attempts = 0
        self.failures.clear()
        return {}

    async def do_traffic(
        self, kind: str, rate: float, duration: float, start_ns: int, stride: int = 1
    ) -> dict[str, Any]:
        """Send ``kind`` messages on schedule (message k due at start + k / share)."""
        groups, n = self.spec["groups"], self.spec["n"]
        if kind == "G":
            senders = [c for c in self.mine if c < groups]
            everyone = min(groups, n)
        else:
            senders = [c for c in self.mine if c % stride == 0 and c + 1 < n]
            everyone = len(range(0, n - 1, stride))
        share = rate * len(senders) / max(everyone, 1)
        total = math.floor(share * duration) if senders else 0
        size = {g: len(range(g - 1, n, groups)) for g in range(1, groups + 1)}
        while (wait := start_ns - time.monotonic_ns()) > 0:  # noqa: ASYNC110 - a clock
            await asyncio.sleep(wait / 1e9)
        sent = expected = 0
        for k in range(total):
            due = start_ns + int(k / share * 1e9)
            while (wait := due - time.monotonic_ns()) > 1_000_000:  # noqa: ASYNC110
                await asyncio.sleep(wait / 1e9)
            c = senders[k % len(senders)]
            member = self.members.get(c)
            if member is None:
                continue
            self.seq += 1
            content = marker(kind, self.seq, due)
            if kind == "G":
                text = chat.message(
                    "speak",
                    chat.GROUP,
                    group_id=c % groups + 1,
                    from_user_id=f"u{c}",
                    content=content,
                )
            else:
                text = chat.message(
                    "speak",
                    chat.PRIVATE,
                    from_user_id=f"u{c}",
                    to_user_id=f"u{c + 1}",
                    content=content,
                )
            member.send(text.encode())
            sent += 1
            expected += size[c % groups + 1] if kind == "G" else 1
        return {"sent": sent, "expected": expected}

    async def do_await(self, kind: str, seq: int, limit: float) -> dict[str, Any]:
        """Until every connected client has message ``seq`` of ``kind`` (or ``limit`` s)."""
        tally = self.tallies[kind]
        target = len(self.members)
        if tally.count[seq] < target:
            tally.waiting = (seq, target, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tally.waiting[2].wait(), limit)
            tally.waiting = None
        return {"have": tally.count[seq], "of": target}

    async def do_report(
        self,
        kind: str,
        expect: int = 0,
        quiet: float = 1.0,
        limit: float = 30.0,
        groups_by_seq: dict[int, list[int]] | None = None,
    ) -> dict[str, Any]:
        """Wait until ``kind`` is quiet, then what arrived. What each connected client
        should have had: ``expect`` copies, or one per seq sent to its group."""
        tally = self.tallies[kind]
        per_group: Counter[int] = Counter()
        for groups in (groups_by_seq or {}).values():
            per_group.update(groups)
        deadline = time.monotonic_ns() + int(limit * 1e9)
        while time.monotonic_ns() < deadline:
            if time.monotonic_ns() - tally.last_rx > quiet * 1e9:
                break
            await asyncio.sleep(quiet / 5)
        missing = extra = 0
        if expect or per_group:
            for c in self.members:
                if c in self.lost_at:  # lost since the mark: not counted here
                    continue
                got = tally.got[self.position[c]]
                if per_group:
                    expect = per_group[c % self.spec["groups"] + 1]
                missing += max(0, expect - got)
                extra += max(0, got - expect)
        return {
            "received": tally.received,
            "missing": missing,
            "extra": extra,
            "lat_us": tally.lat.tobytes(),
            "last": tally.last,
        }

    async def do_storm(self, limit: float, notice: float = 0.0) -> dict[str, Any]:
        """Until every client lost since the mark is back and entered (or ``limit`` s),
        counting the losses noticed within ``notice`` s (a gateway just killed: its
        clients' connections end within milliseconds)."""
        await asyncio.sleep(notice)
        if len(self.back_at) < len(self.lost_at):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_back.wait(), limit)
        back = [self.back_at[c] - self.lost_at[c] for c in self.back_at if c in self.lost_at]
        return {
            "lost": len(self.lost_at),
            "back": len(back),
            "back_ns": max(back, default=0),
            "last_back_ns": max(self.back_at.values(), default=0),
            "attempts": self.attempts,
            "failures": dict(self.failures),
        }

    async def do_status(self) -> dict[str, Any]:
        return {"entered": len(self.members), "mine": len(self.mine)}

    async def do_close(self) -> dict[str, Any]:
        self.closing = True
        for task in self._tasks:
            task.cancel()
        members = list(self.members.values())
        for member in members:
            member.close()
        waiting = [m.closed for m in members]
        if waiting:
            await asyncio.wait(waiting, timeout=20)
            for member in members:
                member.abort()
        return {"closed": len(members)}

    # -- clients ----------------------------------------------------------------------
    async def open(self, c: int) -> tuple[Member, int, int]:
        """Connect client ``c`` from this process's source address and enter it; return
        it with the times (ns) of its 101 and of the worker's answer."""
        loop = asyncio.get_running_loop()
        host, port = self.spec["urls"][c % len(self.spec["urls"])]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.source, 0))
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 60)
            _, member = await loop.create_connection(lambda: Member(self, host, port, c), sock=sock)
        except BaseException:
            sock.close()
            raise
        try:
            await asyncio.wait_for(member.handshake, 60)
            at_101 = time.monotonic_ns()
            member.entered = loop.create_future()
            groups = self.spec["groups"]
            member.send(
                chat.message(
                    "enter", chat.GROUP, group_id=c % groups + 1, from_user_id=f"u{c}"
                ).encode()
            )
            at_entered = await asyncio.wait_for(member.entered, 60)
        except BaseException:
            member.abort()
            raise
        return member, at_101, at_entered

    def lost(self, member: Member) -> None:
        """A connection ended: if it was a crowd member's and not ours to close, the
        client comes back after a jittered backoff."""
        c = member.index
        if self.closing or self.members.get(c) is not member:
            return
        del self.members[c]
        self.lost_at[c] = time.monotonic_ns()
        self.back_at.pop(c, None)
        self.all_back.clear()
        task = asyncio.get_running_loop().create_task(self._come_back(c))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _come_back(self, c: int) -> None:
        base, cap = self.spec["backoff"]
        attempt = 0
        while not self.closing:
            await asyncio.sleep(random.uniform(0, min(cap, base * 2**attempt)))
            self.attempts += 1
            try:
                member, _, at_entered = await self.open(c)
            except Exception as exc:
                self.failures[cause(exc)] += 1
                attempt += 1
                continue
            self.members[c] = member
            self.back_at[c] = at_entered
            if len(self.back_at) >= len(self.lost_at):
                self.all_back.set()
            return

    def on_frame(self, client: Client, data: bytes) -> None:
        i = data.find(MARK)
        if i < 0:
            entered = getattr(client, "entered", None)
            if entered is not None and not entered.done():
                entered.set_result(time.monotonic_ns())  # the worker's answer to enter
            return
        now = time.monotonic_ns()
        kind = chr(data[i + 2])
        tally = self.tallies.get(kind)
        if tally is None:
            return
        seq = int(data[i + 3 : i + 11])
        sent = int(data[i + 12 : i + 31])
        tally.received += 1
        tally.last_rx = now
        tally.got[self.position[client.index]] += 1
        tally.lat.append((now - sent) // 1000)
        if tally.last.get(seq, 0) < now:
            tally.last[seq] = now
        tally.count[seq] += 1
        waiting = tally.waiting
        if waiting is not None and seq == waiting[0] and tally.count[seq] >= waiting[1]:
            waiting[2].set()


def _main(conn: Connection, index: int, procs: int, spec: dict[str, Any]) -> None:
    pool.run(Crowd, conn, index, procs, spec)


class Crowds(pool.Pool):
    """The runner's handle on the crowd processes."""

    what = "a crowd process"
    timeout = 900.0  # connecting 100,000 clients, a storm's return
    close_timeout = 120.0

    def __init__(self, spec: dict[str, Any], procs: int) -> None:
        super().__init__(_main, spec, procs)
