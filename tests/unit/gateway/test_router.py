"""gateway.router: sticky worker choice, unacknowledged events, the waiting room."""

from __future__ import annotations

import random

import pytest

from common.frames import EventKind
from gateway import router
from gateway.clients import Client
from gateway.router import LinkedWorker, PendingEvent, WorkerPool

W1, W2, W3 = b"w1", b"w2", b"w3"


def client(n: int) -> Client:
    return Client(f"client-{n}", "127.0.0.1:1", None)  # type: ignore[arg-type]  # (no I/O here)


def event(c: Client, payload: object = None) -> PendingEvent:
    return (c, EventKind.MESSAGE, payload)


def pool_with(*identities: bytes, now: float = 0.0, **kwargs: object) -> WorkerPool:
    pool = WorkerPool(**kwargs)  # type: ignore[arg-type]
    for identity in identities:
        pool.hello(identity, identity.decode(), 100, now)
    return pool


def picked(pool: WorkerPool, c: Client) -> bytes:
    worker = pool.pick(c)
    assert worker is not None
    return worker.identity


# -- workers ------------------------------------------------------------------------


def test_hello_is_new_only_once() -> None:
    pool = WorkerPool()
    assert pool.hello(W1, "w", 1, 0.0) is True
    assert pool.hello(W1, "w", 1, 5.0) is False
    assert pool.workers[W1].seen == 5.0
    assert list(pool.workers) == [W1]


def test_silent() -> None:
    pool = pool_with(W1, W2, now=0.0)
    pool.hello(W2, "w2", 1, 8.0)
    assert pool.silent(now=10.0, timeout=10.0) == []  # exactly at the limit: still alive
    assert pool.silent(now=10.5, timeout=10.0) == [W1]
    assert sorted(pool.silent(now=30.0, timeout=10.0)) == [W1, W2]


def test_bye_marks_leaving_and_live_excludes_it() -> None:
    pool = pool_with(W1, W2)
    pool.bye(W1)
    assert pool.workers[W1].leaving
    assert [w.identity for w in pool.live()] == [W2]
    pool.bye(b"unknown")  # harmless
    assert set(pool.workers) == {W1, W2}


def test_unknown_policy() -> None:
    with pytest.raises(KeyError):
        WorkerPool(policy="round-robin")


# -- routing ------------------------------------------------------------------------


def test_no_worker_no_pick() -> None:
    c = client(1)
    assert WorkerPool().pick(c) is None
    assert c.worker is None


def test_only_leaving_workers_no_pick() -> None:
    pool = pool_with(W1)
    pool.bye(W1)
    assert pool.pick(client(1)) is None


def test_first_pick_is_least_connections() -> None:
    pool = pool_with(W1, W2, W3)
    pool.workers[W1].clients = 3
    pool.workers[W2].clients = 1
    pool.workers[W3].clients = 2
    c = client(1)
    assert picked(pool, c) == W2
    assert c.worker == W2
    assert pool.workers[W2].clients == 2


def test_least_connections_ties_break_on_unacked() -> None:
    pool = pool_with(W1, W2)
    pool.track(pool.workers[W1], event(client(0)))
    assert picked(pool, client(1)) == W2


def test_new_clients_are_spread() -> None:
    pool = pool_with(W1, W2, W3)
    clients = [client(n) for n in range(9)]
    for c in clients:
        pool.pick(c)
    assert [w.clients for w in pool.workers.values()] == [3, 3, 3]


def test_pick_is_sticky() -> None:
    pool = pool_with(W1, W2)
    c = client(1)
    first = picked(pool, c)
    for n in range(2, 10):  # other clients arrive; c's worker gets busier
        pool.pick(client(n))
    pool.workers[first].clients += 100
    for _ in range(5):
        assert picked(pool, c) == first
    assert pool.workers[first].clients == 105  # repeated picks do not count again


def test_leaving_worker_keeps_client_while_it_has_unacked_events() -> None:
    pool = pool_with(W1, W2)
    c = client(1)
    assert picked(pool, c) == W1
    pool.track(pool.workers[W1], event(c))
    pool.bye(W1)
    assert picked(pool, c) == W1  # keep order: the earlier event is still in flight
    pool.ack(W1, 1)
    assert picked(pool, c) == W2
    assert (pool.workers[W1].clients, pool.workers[W2].clients) == (0, 1)


def test_client_of_a_removed_worker_moves() -> None:
    pool = pool_with(W1, W2)
    c = client(1)
    assert picked(pool, c) == W1
    pool.remove(W1)
    assert picked(pool, c) == W2
    assert pool.workers[W2].clients == 1


def test_client_of_a_removed_worker_with_no_one_left() -> None:
    pool = pool_with(W1)
    c = client(1)
    pool.pick(c)
    pool.remove(W1)
    assert pool.pick(c) is None


def test_random_policy_picks_a_live_worker_and_sticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router, "random", random.Random(3))
    pool = pool_with(W1, W2, W3, policy="random")
    pool.bye(W3)
    chosen = {picked(pool, client(n)) for n in range(50)}
    assert chosen == {W1, W2}
    c = client(99)
    first = picked(pool, c)
    assert all(picked(pool, c) == first for _ in range(20))


def test_routers_choose_from_candidates() -> None:
    workers = [
        LinkedWorker(b"a", "a", 1, 0.0, clients=2),
        LinkedWorker(b"b", "b", 1, 0.0, clients=0),
    ]
    assert router.least_clients(workers).identity == b"b"
    assert router.random_worker(workers) in workers
    assert set(router.ROUTERS) == {"least", "random"}


def test_release() -> None:
    pool = pool_with(W1)
    c = client(1)
    pool.pick(c)
    pool.release(c)
    assert c.worker is None
    assert pool.workers[W1].clients == 0


def test_release_without_worker_or_after_removal() -> None:
    pool = pool_with(W1)
    never_routed = client(1)
    pool.release(never_routed)
    assert never_routed.worker is None
    c = client(2)
    pool.pick(c)
    pool.remove(W1)
    pool.release(c)
    assert c.worker is None


# -- acknowledgements ---------------------------------------------------------------


def test_track_numbers_events_across_workers() -> None:
    pool = pool_with(W1, W2)
    c = client(1)
    seqs = [
        pool.track(pool.workers[W1], event(c, 1)),
        pool.track(pool.workers[W2], event(c, 2)),
        pool.track(pool.workers[W1], event(c, 3)),
    ]
    assert seqs == [1, 2, 3]
    assert pool.unacked() == 3


def test_ack() -> None:
    pool = pool_with(W1)
    c = client(1)
    sent = event(c, "x")
    seq = pool.track(pool.workers[W1], sent)
    assert pool.ack(W1, seq) == sent
    assert pool.unacked() == 0
    assert pool.workers[W1].handled == 1
    assert pool.ack(W1, seq) is None  # twice: nothing left


def test_ack_from_unknown_worker_or_for_another_worker() -> None:
    pool = pool_with(W1, W2)
    seq = pool.track(pool.workers[W1], event(client(1)))
    assert pool.ack(b"ghost", seq) is None
    assert pool.ack(W2, seq) is None  # W2 never had it
    assert pool.unacked() == 1


def test_remove_returns_unacked_events_in_seq_order() -> None:
    pool = pool_with(W1, W2)
    c1, c2 = client(1), client(2)
    w1 = pool.workers[W1]
    tracked = [pool.track(w1, event(c1, n)) for n in range(5)]
    pool.track(pool.workers[W2], event(c2, "other"))
    pool.ack(W1, tracked[1])
    pool.ack(W1, tracked[3])
    # insertion order of the dict must not matter: shuffle it
    w1.unacked = dict(reversed(list(w1.unacked.items())))
    back = pool.remove(W1)
    assert [payload for _, _, payload in back] == [0, 2, 4]
    assert W1 not in pool.workers
    assert pool.unacked() == 1


def test_remove_unknown_worker() -> None:
    assert WorkerPool().remove(W1) == []


# -- waiting room -------------------------------------------------------------------


def test_hold_is_bounded() -> None:
    pool = WorkerPool(max_pending=2)
    c = client(1)
    assert pool.hold(event(c, 1))
    assert pool.hold(event(c, 2))
    assert pool.hold(event(c, 3)) is False
    assert [p for _, _, p in pool.take_pending()] == [1, 2]


def test_take_pending_empties_the_queue_in_order() -> None:
    pool = WorkerPool(max_pending=10)
    c = client(1)
    for n in range(4):
        pool.hold(event(c, n))
    assert [p for _, _, p in pool.take_pending()] == [0, 1, 2, 3]
    assert pool.take_pending() == []
    assert pool.hold(event(c, "again"))  # room again after the queue was taken


def test_zero_max_pending_holds_nothing() -> None:
    pool = WorkerPool(max_pending=0)
    assert pool.hold(event(client(1))) is False
    assert pool.take_pending() == []


def test_leaving_worker_keeps_only_clients_with_events_in_flight() -> None:
    pool = pool_with(W1)
    busy, idle = client(1), client(2)
    assert picked(pool, busy) == W1 and picked(pool, idle) == W1
    seq = pool.track(pool.workers[W1], event(busy))
    assert busy.inflight == 1 and idle.inflight == 0
    pool.hello(W2, "w2", 101, 0.0)
    pool.bye(W1)
    assert picked(pool, busy) == W1  # its earlier event is still there: keep order
    assert picked(pool, idle) == W2  # nothing in flight: moves on at once
    pool.ack(W1, seq)
    assert busy.inflight == 0
    assert picked(pool, busy) == W2


def test_removed_worker_releases_in_flight_counts() -> None:
    pool = pool_with(W1)
    c = client(1)
    picked(pool, c)
    pool.track(pool.workers[W1], event(c))
    pool.track(pool.workers[W1], event(c))
    assert c.inflight == 2
    assert len(pool.remove(W1)) == 2
    assert c.inflight == 0


def test_chooser_resolves_names_and_import_strings() -> None:
    from common.exceptions import ConfigError

    assert router.chooser("least") is router.least_clients
    assert router.chooser("random") is router.random_worker
    oldest = router.chooser("tests.cluster.apps.routers:oldest")
    workers = [LinkedWorker(b"a", "a", 30, 0.0), LinkedWorker(b"b", "b", 10, 0.0)]
    assert oldest(workers) is workers[1]
    for bad in ("round-robin", "no.such:f", "tests.cluster.apps.routers:missing", ":f"):
        with pytest.raises(ConfigError):
            router.chooser(bad)


def test_a_custom_router_of_two_arguments_gets_the_client_too() -> None:
    from gateway.clients import Client

    by_remote = router.chooser("tests.cluster.apps.routers:by_remote")
    workers = [LinkedWorker(b"a", "a", 30, 0.0), LinkedWorker(b"b", "b", 10, 0.0)]
    odd = Client("c1", "127.0.0.1:50001", None)  # type: ignore[arg-type]
    even = Client("c2", "127.0.0.1:50002", None)  # type: ignore[arg-type]
    assert by_remote(workers, odd) is workers[0] and by_remote(workers, even) is workers[1]
    pool = WorkerPool(router.chooser("tests.cluster.apps.routers:by_remote"))
    pool.hello(b"a", "a", 30, 0.0)
    pool.hello(b"b", "b", 10, 0.0)
    assert pool.pick(odd) is pool.workers[b"a"] and pool.pick(even) is pool.workers[b"b"]
    # a second parameter with a default is the router's own: the workers only
    defaulted = router.chooser("tests.cluster.apps.routers:with_a_default")
    assert defaulted(workers, odd) is workers[1]


@pytest.mark.parametrize("name", ["broken", "stranger"])
def test_a_custom_router_that_fails_gets_the_least_loaded(name: str) -> None:
    choose = router.chooser(f"tests.cluster.apps.routers:{name}")
    workers = [
        LinkedWorker(b"a", "a", 1, 0.0, clients=5),
        LinkedWorker(b"b", "b", 2, 0.0, clients=1),
    ]
    assert choose(workers) is workers[1]
