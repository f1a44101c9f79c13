"""gateway.dispatch: per-client ordering, backlog and pause, re-routing, the waiting room.

Pure: a recording sink stands for the worker link and the connections; no sockets,
no event loop. Every scenario checks the order in which events left, per client.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from common.frames import EventKind
from gateway.clients import Client
from gateway.dispatch import Dispatcher
from gateway.router import LinkedWorker, WorkerPool

W1, W2 = b"w1", b"w2"
CONNECT, WS, MESSAGE, CLOSE = (
    EventKind.CONNECT,
    EventKind.WS_CONNECT,
    EventKind.MESSAGE,
    EventKind.CLOSE,
)


class Sink:
    """Records what the dispatcher asks of the worker link and the connections."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, int, str, EventKind, Any, bool]] = []
        self.calls: list[tuple[str, str]] = []

    def send_event(
        self,
        worker: LinkedWorker,
        seq: int,
        client: Client,
        kind: EventKind,
        payload: Any,
        redelivered: bool,
    ) -> None:
        self.sent.append((worker.identity, seq, client.client_id, kind, payload, redelivered))

    def pause_reading(self, client: Client) -> None:
        self.calls.append(("pause", client.client_id))

    def resume_reading(self, client: Client) -> None:
        self.calls.append(("resume", client.client_id))

    def refuse(self, client: Client, kind: EventKind, refused: int) -> None:
        self.calls.append(("refuse", client.client_id))
        self.refused = refused

    def payloads(self, client_id: str | None = None) -> list[Any]:
        return [s[4] for s in self.sent if client_id is None or s[2] == client_id]

    def last_seq(self, client_id: str) -> tuple[bytes, int]:
        identity, seq = next((s[0], s[1]) for s in reversed(self.sent) if s[2] == client_id)
        return identity, seq


def make(*workers: bytes, backlog: int = 4, max_pending: int = 100) -> tuple[Dispatcher, Sink]:
    sink = Sink()
    pool = WorkerPool("least", max_pending)
    for identity in workers:
        pool.hello(identity, identity.decode(), 1, 0.0)
    return Dispatcher(pool, sink, sink, backlog_limit=backlog), sink


def client(n: int) -> Client:
    return Client(f"c{n}", "127.0.0.1:1", None)  # type: ignore[arg-type]  # (no I/O here)


def ack_last(dispatcher: Dispatcher, sink: Sink, c: Client) -> None:
    identity, seq = sink.last_seq(c.client_id)
    assert dispatcher.ack(identity, seq)


def test_one_event_in_flight_then_the_next_on_ack() -> None:
    d, sink = make(W1)
    c = client(1)
    for n in range(3):
        d.submit(c, MESSAGE, n)
    assert sink.payloads() == [0]  # the others wait for the ack
    assert c.inflight == 1 and list(c.backlog or ()) == [(MESSAGE, 1), (MESSAGE, 2)]
    ack_last(d, sink, c)
    assert sink.payloads() == [0, 1] and c.backlog is not None  # one still waits
    ack_last(d, sink, c)
    assert c.backlog is None  # emptied: its deque is not kept for the client's life
    ack_last(d, sink, c)
    assert sink.payloads() == [0, 1, 2]
    assert c.inflight == 0 and not c.backlog


def test_clients_do_not_wait_for_each_other() -> None:
    d, sink = make(W1)
    a, b = client(1), client(2)
    d.submit(a, MESSAGE, "a0")
    d.submit(a, MESSAGE, "a1")
    d.submit(b, MESSAGE, "b0")
    assert sink.payloads() == ["a0", "b0"]


def test_the_patch_is_applied_before_the_next_event_leaves() -> None:
    d, sink = make(W1)
    c = client(1)
    d.submit(c, MESSAGE, "first")
    d.submit(c, MESSAGE, "second")
    seen: list[list[Any]] = []

    def patch(patched: Client) -> None:
        assert patched is c
        seen.append(sink.payloads())  # what had left when the patch ran

    identity, seq = sink.last_seq("c1")
    d.ack(identity, seq, patch)
    assert seen == [["first"]]
    assert sink.payloads() == ["first", "second"]


def test_a_stale_ack_changes_nothing() -> None:
    d, sink = make(W1)
    c = client(1)
    d.submit(c, MESSAGE, 0)
    d.submit(c, MESSAGE, 1)
    patched: list[Client] = []
    assert not d.ack(W1, 999, patched.append)  # no such event
    assert not d.ack(W2, 1, patched.append)  # no such worker
    assert patched == [] and sink.payloads() == [0]


def test_a_full_backlog_pauses_and_half_of_it_resumes() -> None:
    d, sink = make(W1, backlog=4)
    c = client(1)
    for n in range(5):  # one in flight, four waiting: the limit
        d.submit(c, MESSAGE, n)
    assert sink.calls == [("pause", "c1")] and c.paused
    d.submit(c, MESSAGE, 5)  # still paused: no second pause
    assert sink.calls == [("pause", "c1")]
    ack_last(d, sink, c)  # 4 waiting
    ack_last(d, sink, c)  # 3 waiting
    assert sink.calls == [("pause", "c1")]
    ack_last(d, sink, c)  # 2 waiting: half the limit
    assert sink.calls == [("pause", "c1"), ("resume", "c1")] and not c.paused
    while c.inflight:
        ack_last(d, sink, c)
    assert sink.payloads() == list(range(6))
    assert d.counters.paused_clients == 1


def test_sticky_worker_and_close_releases_it() -> None:
    d, sink = make(W1, W2)
    a, b = client(1), client(2)
    d.submit(a, CONNECT, None)
    d.submit(b, CONNECT, None)
    ack_last(d, sink, a)
    ack_last(d, sink, b)
    first = {s[2]: s[0] for s in sink.sent}
    assert first["c1"] != first["c2"]  # least connections spreads them
    d.submit(a, MESSAGE, "x")
    assert sink.sent[-1][0] == first["c1"]  # sticky
    ack_last(d, sink, a)
    d.submit(a, CLOSE, None)
    assert sink.sent[-1][3] is CLOSE and a.worker is None
    assert d.pool.workers[first["c1"]].clients == 0


def test_a_dead_workers_events_are_redelivered_first_and_in_order() -> None:
    d, sink = make(W1, W2)
    a = client(1)
    d.submit(a, MESSAGE, 0)  # to W1 (both empty: the first)
    d.submit(a, MESSAGE, 1)
    d.submit(a, MESSAGE, 2)
    dead = sink.sent[0][0]
    worker, rerouted = d.worker_gone(dead)
    assert worker is not None and worker.identity == dead and rerouted == 1
    other = W2 if dead == W1 else W1
    assert sink.sent[-1][0] == other and sink.sent[-1][4] == 0 and sink.sent[-1][5] is True
    ack_last(d, sink, a)
    ack_last(d, sink, a)
    assert sink.payloads() == [0, 0, 1, 2]
    assert [s[5] for s in sink.sent] == [False, True, False, False]
    assert d.counters.events_redelivered == 1


def test_events_wait_for_a_worker_then_leave_in_order() -> None:
    d, sink = make()
    a, b = client(1), client(2)
    d.submit(a, CONNECT, None)
    d.submit(a, WS, {"path": "/"})
    d.submit(b, CONNECT, None)
    d.submit(a, MESSAGE, "m")
    assert sink.sent == []
    d.worker_hello(W1, "w1", 1, 0.0)
    d.resume_pending()
    # a's first event and b's leave at once; a's others wait for acks, in order
    assert [(s[2], s[3]) for s in sink.sent] == [("c1", CONNECT), ("c2", CONNECT)]
    assert all(not s[5] for s in sink.sent)  # waiting is not redelivery
    ack_last(d, sink, a)
    ack_last(d, sink, a)
    assert [s[3] for s in sink.sent if s[2] == "c1"] == [CONNECT, WS, MESSAGE]


def test_a_full_waiting_room_refuses() -> None:
    d, sink = make(max_pending=2)
    clients = [client(n) for n in range(3)]
    for c in clients:
        d.submit(c, CONNECT, None)
    assert sink.calls == [("refuse", "c2")]
    assert d.counters.refused_no_worker == 1 and sink.refused == 1  # (the sink logs it)


def test_a_leaving_worker_keeps_a_client_until_its_event_is_acked() -> None:
    d, sink = make(W1)
    a = client(1)
    d.submit(a, MESSAGE, 0)
    d.submit(a, MESSAGE, 1)
    d.worker_hello(W2, "w2", 1, 0.0)
    d.worker_bye(W1)
    ack_last(d, sink, a)  # event 1 leaves: W1 holds nothing of a's any more, so W2
    assert [s[0] for s in sink.sent] == [W1, W2]


@pytest.mark.parametrize("seed", range(20))
def test_random_interleavings_keep_every_clients_order(seed: int) -> None:
    """Messages, acks, worker deaths and arrivals in a random order: each client's
    events are handled in submission order, each at least once, the last copy of each
    after the one before it."""
    rng = random.Random(seed)
    d, _sink = make(W1, W2, backlog=8)
    clients = [client(n) for n in range(4)]
    submitted: dict[str, list[int]] = {c.client_id: [] for c in clients}
    handled: dict[str, list[int]] = {c.client_id: [] for c in clients}
    live = {W1, W2}
    next_worker = 3
    counter = 0
    for _ in range(400):
        roll = rng.random()
        if roll < 0.5:
            c = rng.choice(clients)
            counter += 1
            submitted[c.client_id].append(counter)
            d.submit(c, MESSAGE, counter)
        elif roll < 0.9:
            unacked = [
                (w.identity, seq, ev)
                for w in d.pool.workers.values()
                for seq, ev in w.unacked.items()
            ]
            if unacked:
                identity, seq, (c, _, payload) = rng.choice(unacked)
                handled[c.client_id].append(payload)
                d.ack(identity, seq)
        elif roll < 0.95 and len(live) > 1:
            dead = rng.choice(sorted(live))
            live.discard(dead)
            d.worker_gone(dead)
        else:
            identity = f"w{next_worker}".encode()
            next_worker += 1
            live.add(identity)
            d.worker_hello(identity, identity.decode(), 1, 0.0)
            d.resume_pending()
    # drain: ack everything left
    while True:
        unacked = [
            (w.identity, seq, ev) for w in d.pool.workers.values() for seq, ev in w.unacked.items()
        ]
        if not unacked:
            break
        identity, seq, (c, _, payload) = unacked[0]
        handled[c.client_id].append(payload)
        d.ack(identity, seq)
    for c in clients:
        assert c.inflight == 0 and not c.backlog and not c.paused
        order = submitted[c.client_id]
        # acked copies, in the order their handlers finished: a redelivered event
        # may repeat, but never goes back before one already acknowledged
        seen = [p for i, p in enumerate(handled[c.client_id]) if p not in handled[c.client_id][:i]]
        assert seen == order


def test_with_no_worker_a_client_has_one_event_waiting_and_the_rest_in_its_backlog() -> None:
    d, sink = make(backlog=4, max_pending=100)
    flooder, quiet = client(1), client(2)
    for n in range(50):
        d.submit(flooder, MESSAGE, n)
    d.submit(quiet, MESSAGE, "q")
    assert len(d.pool.pending) == 2  # one per client, not one per event
    assert sink.calls == [("pause", "c1")] and len(flooder.backlog or ()) == 49
    d.worker_hello(W1, "w1", 1, 0.0)
    d.resume_pending()
    assert sink.payloads() == [0, "q"]  # each client's first, in arrival order
    while flooder.inflight:
        ack_last(d, sink, flooder)
    assert sink.payloads("c1") == list(range(50))
    assert ("resume", "c1") in sink.calls
