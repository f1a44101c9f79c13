"""gateway.workers and gateway.commands: what workers and push clients say, what it does.

No sockets: frames are encoded as a peer would send them and handed to the link as
the internal port does; a recording port stands for the socket. The dispatcher,
index, command table and fan-out are the real ones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from common import protocol
from common.config import GatewayConfig, Timing
from common.frames import Ack, Bye, Command, EventKind, Frame, Hello, Op, Query, Reply, Role
from gateway.clients import Client, ClientIndex
from gateway.commands import CommandTable
from gateway.dispatch import Dispatcher
from gateway.fanout import Fanout
from gateway.flow import ClientFlow
from gateway.router import LinkedWorker, WorkerPool
from gateway.workers import PROBE_DELAYS, LinkCounters, PushClients, WorkerLink

WORKER, PUSH = b"worker-1/ab", b"api/cd"
WELCOME = b"welcome"  # the port's Welcome, as it would encode it


class Port:
    """The internal port, recorded: events, frames and encoded frames sent, by peer."""

    def __init__(self) -> None:
        self.events: list[tuple[bytes, int, str, EventKind, Any]] = []
        self.frames: list[tuple[bytes, Frame]] = []
        self.encoded: list[tuple[bytes, bytes]] = []
        self.open = True
        self.unread = False

    def send_event(
        self,
        worker: LinkedWorker,
        seq: int,
        client: Client,
        kind: EventKind,
        payload: Any,
        redelivered: bool,
    ) -> None:
        self.events.append((worker.identity, seq, client.client_id, kind, payload))

    def send(self, frame: Frame, to: bytes) -> None:
        self.frames.append((to, frame))

    def send_encoded(self, data: bytes, to: bytes) -> None:
        self.encoded.append((to, data))

    def welcome(self) -> bytes:
        return WELCOME

    def read_soon(self) -> bool:
        """Whether a message waits unread (a test sets what comes next)."""
        return self.unread


class Conn:
    def __init__(self) -> None:
        self.writes: list[list[Any]] = []
        self.aborted = False

    def write_frames(self, items: list[Any]) -> int:
        self.writes.append(items)
        return 0

    def abort(self) -> None:
        self.aborted = True

    def close(self, code: int, reason: str) -> None:
        pass


class Link:
    """A worker link with its real parts around a recording port."""

    def __init__(self, timing: Timing | None = None) -> None:
        self.config = GatewayConfig(timing=timing or Timing())
        self.index = ClientIndex()
        self.fanout = Fanout()
        self.port = Port()
        self.dispatcher = Dispatcher(WorkerPool(), self.port, ClientFlow(self.fanout, 10))  # type: ignore[arg-type]
        self.drained: list[bool] = []
        self.commands = CommandTable(self.index, self.fanout, lambda: self.drained.append(True))
        self.peers = PushClients()
        self.status = {"clients": 0}
        self.clock = 0.0
        self.link = WorkerLink(
            self.config,
            self.index,
            self.commands,
            self.dispatcher,
            self.port,
            self.peers,
            LinkCounters(),
            lambda: self.status,
            lambda: self.clock,
        )  # type: ignore[arg-type]

    def receive(self, identity: bytes, *frames: Frame | bytes) -> None:
        """One message from a peer: its frames back to back in one part."""
        parts = b"".join(f if isinstance(f, bytes) else protocol.encode(f) for f in frames)
        self.link.on_message([identity, parts])

    def add_client(self, client_id: str) -> Client:
        client = Client(client_id, "127.0.0.1:1", Conn())  # type: ignore[arg-type]
        self.index.add(client)
        return client


def hello(role: Role = Role.WORKER, name: str = "worker-1") -> Hello:
    return Hello(role, name, 4242)


async def test_a_workers_hello_links_it_welcomes_it_and_sends_what_waited() -> None:
    k = Link()
    client = k.add_client("c1")
    k.dispatcher.submit(client, EventKind.MESSAGE, "waited")  # no worker yet: held
    assert k.port.events == []
    k.receive(WORKER, hello())
    assert k.port.encoded == [(WORKER, WELCOME)]
    assert [e[1:] for e in k.port.events] == [(1, "c1", EventKind.MESSAGE, "waited")]
    k.receive(WORKER, hello())  # its heartbeat: nothing more
    assert k.port.encoded == [(WORKER, WELCOME)]


async def test_a_push_client_is_welcomed_once_listed_and_swept_when_silent() -> None:
    k = Link(Timing(heartbeat=1.0, timeout=3.0))
    k.receive(PUSH, hello(Role.CLIENT, "api"))
    k.receive(PUSH, hello(Role.CLIENT, "api"))
    assert k.port.encoded == [(PUSH, WELCOME)] and k.peers.names() == ["api"]
    assert k.dispatcher.pool.workers == {}  # a push client gets no events
    k.clock = 2.0
    k.link.sweep(k.clock)
    assert k.peers.names() == ["api"]
    k.clock = 10.0
    k.link.sweep(k.clock)
    assert k.peers.names() == []


async def test_commands_run_and_are_counted_by_op() -> None:
    k = Link()
    a = k.add_client("c1")
    k.receive(
        WORKER,
        Command(Op.JOIN_GROUP, ["c1", "room"]),
        Command(Op.SEND_TO_GROUP, [["room"], "hi", None]),
    )
    k.fanout.flush()
    assert k.index.groups == {"room": {"c1"}} and len(a.conn.writes) == 1  # type: ignore[attr-defined]
    counters = k.link.counters
    assert counters.commands == 2
    assert dict(counters.commands_by_op) == {"JOIN_GROUP": 1, "SEND_TO_GROUP": 1}


async def test_a_bad_frame_costs_only_itself_and_is_the_peers_fault(
    caplog: pytest.LogCaptureFixture,
) -> None:
    k = Link()
    k.add_client("c1")
    with caplog.at_level(logging.WARNING, logger="gateway.workers"):
        k.receive(
            WORKER,
            Command(Op.JOIN_GROUP, ["c1", ["not", "a", "name"]]),
            Command(Op.JOIN_GROUP, ["c1", "room"]),
        )
    assert k.index.groups == {"room": {"c1"}}  # the rest of the batch ran
    assert k.link.counters.bad_frames == 1 and k.link.counters.errors == 0
    assert "refused Command" in caplog.text


async def test_a_command_that_raises_is_our_bug_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    k = Link()

    def bug(*args: object) -> None:
        raise KeyError("ours")

    k.commands.table[Op.UNGROUP] = bug
    with caplog.at_level(logging.ERROR, logger="gateway.workers"):
        k.receive(WORKER, Command(Op.UNGROUP, ["g"]), Command(Op.UNGROUP, ["g"]))
    assert k.link.counters.errors == 2 and k.link.counters.bad_frames == 0
    [line] = [r for r in caplog.records if "failed to run Command" in r.getMessage()]
    assert line.exc_info is not None  # the second of its kind within a second is held


async def test_undecodable_bytes_are_a_bad_frame() -> None:
    k = Link()
    k.receive(WORKER, b"\xc1 not msgpack")
    assert k.link.counters.bad_frames == 1


async def test_queries_are_answered_and_status_is_the_gateways() -> None:
    k = Link()
    k.add_client("c1")
    k.receive(PUSH, Query(7, Op.GET_ALL_CLIENT_ID_COUNT, []), Query(8, Op.GET_STATUS, []))
    assert k.port.frames == [(PUSH, Reply(7, True, 1)), (PUSH, Reply(8, True, {"clients": 0}))]
    k.receive(PUSH, Query(9, Op.GET_CLIENT_ID_COUNT_BY_GROUP, [0]))  # 0 is no group name
    _, reply = k.port.frames[-1]
    assert isinstance(reply, Reply) and (reply.request_id, reply.ok) == (9, False)
    assert "ProtocolError" in reply.value and k.link.counters.bad_frames == 1
    assert k.link.counters.queries == 3


async def test_an_ack_lets_the_next_event_go_with_the_session_it_wrote() -> None:
    k = Link()
    k.receive(WORKER, hello())
    client = k.add_client("c1")
    k.dispatcher.submit(client, EventKind.MESSAGE, "one")
    k.dispatcher.submit(client, EventKind.MESSAGE, "two")
    [(_, seq, _, _, _)] = k.port.events
    k.receive(WORKER, Ack(seq, "c1", {"n": 1}, None))
    assert client.session == {"n": 1}
    assert [e[4] for e in k.port.events] == ["one", "two"]


async def test_stopping_waits_for_the_last_ack() -> None:
    k = Link()
    k.receive(WORKER, hello())
    client = k.add_client("c1")
    k.dispatcher.submit(client, EventKind.CLOSE, None)
    [(_, seq, _, _, _)] = k.port.events
    waiting = asyncio.ensure_future(k.link.acknowledged(5.0))
    await asyncio.sleep(0)
    assert not waiting.done()
    k.receive(WORKER, Ack(seq, "c1", None, None))
    await asyncio.wait_for(waiting, 1.0)


async def test_a_bye_sends_no_new_client_to_the_worker() -> None:
    k = Link()
    k.receive(WORKER, hello(), Bye())
    assert k.dispatcher.pool.live() == []


async def test_an_unreachable_worker_is_gone_and_its_events_go_elsewhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    k = Link()
    other = b"worker-2/ef"
    k.receive(WORKER, hello())
    client = k.add_client("c1")
    k.dispatcher.submit(client, EventKind.MESSAGE, "lost?")
    k.receive(other, hello(name="worker-2"))
    with caplog.at_level(logging.WARNING, logger="gateway.workers"):
        k.link.on_unreachable(WORKER)
    assert list(k.dispatcher.pool.workers) == [other]
    assert k.port.events[-1][0] == other and k.port.events[-1][4] == "lost?"
    assert "re-routing 1 unacknowledged events" in caplog.text


async def test_a_worker_whose_bye_waits_unread_leaves_as_planned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    k = Link()
    k.receive(WORKER, hello())
    k.port.unread = True  # its Bye came before the refused send, and is not read yet
    with caplog.at_level(logging.INFO, logger="gateway.workers"):
        k.link.on_unreachable(WORKER)
        assert WORKER in k.dispatcher.pool.workers  # not yet: after what waits is read
        k.receive(WORKER, Bye())
        await asyncio.sleep(0)  # (the callback scheduled after the read)
    assert k.dispatcher.pool.workers == {}
    [line] = [r for r in caplog.records if "left" in r.getMessage()]
    assert line.levelno == logging.INFO and "it stopped" in line.getMessage()


async def test_a_silent_worker_is_let_go_only_after_the_backstop() -> None:
    k = Link(Timing(heartbeat=1.0, timeout=3.0))  # backstop: max(10 x 3, 30) s
    k.receive(WORKER, hello())
    k.link.sweep(29.0)
    assert WORKER in k.dispatcher.pool.workers
    k.link.sweep(31.0)
    assert k.dispatcher.pool.workers == {}


async def test_a_disconnect_probes_every_worker_until_a_send_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k = Link()
    k.receive(WORKER, hello())
    delays: list[float] = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "call_later", lambda delay, fn: delays.append(delay) or fn())
    k.link.on_disconnect()
    assert delays == list(PROBE_DELAYS)
    assert k.port.encoded[1:] == [(WORKER, WELCOME)] * len(PROBE_DELAYS)
    k.port.open = False  # closed meanwhile: a late probe sends nothing
    k.link.on_disconnect()
    assert len(k.port.encoded) == 1 + len(PROBE_DELAYS)


async def test_drain_destroy_and_close_commands() -> None:
    k = Link()
    a, b = k.add_client("c1"), k.add_client("c2")
    k.receive(
        PUSH,
        Command(Op.DESTROY_CLIENT, ["c1"]),
        Command(Op.CLOSE_CLIENT, ["c2", "bye"]),
        Command(Op.DRAIN, []),
    )
    assert a.conn.aborted and k.drained == [True]  # type: ignore[attr-defined]
    assert len(b.conn.writes) == 1  # type: ignore[attr-defined]  # "bye", before the close
