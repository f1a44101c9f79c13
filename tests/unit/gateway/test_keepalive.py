"""gateway.keepalive: the decisions of the two sweeps, as pure functions."""

from __future__ import annotations

from gateway.clients import Client
from gateway.keepalive import Keepalive, idle_sweep, ping_sweep


class Conn:
    """What the sweeps read and do of a connection: its outstanding ping, forgotten."""

    def __init__(self) -> None:
        self.ping_sent = 0.0

    def forget_ping(self) -> None:
        self.ping_sent = 0.0


def clients(n: int) -> list[Client]:
    return [Client(f"c{i}", "127.0.0.1:1", Conn()) for i in range(n)]  # type: ignore[arg-type]


def test_idle_ticks_count_up_to_the_limit_then_close() -> None:
    [c] = clients(1)
    assert idle_sweep([c], limit=3) == ([], []) and c.idle_ticks == 1  # new: not idle yet
    for tick in range(2, 4):
        silent, idle = idle_sweep([c], limit=3)
        assert (silent, idle) == ([], [c]) and c.idle_ticks == tick
    silent, idle = idle_sweep([c], limit=3)
    assert (silent, idle) == ([c], [])


def test_hearing_from_a_client_resets_its_ticks_and_spares_it_the_ping() -> None:
    [c] = clients(1)
    idle_sweep([c], limit=2)
    idle_sweep([c], limit=2)
    Keepalive.heard(c)
    assert idle_sweep([c], limit=2) == ([], [])  # it spoke since the last tick
    assert idle_sweep([c], limit=2) == ([], [c])  # and not since this one
    assert idle_sweep([c], limit=2) == ([c], [])


def test_with_a_limit_of_one_a_client_gets_a_ping_before_it_is_closed() -> None:
    [c] = clients(1)
    assert idle_sweep([c], limit=1) == ([], [c])  # its chance to answer
    Keepalive.heard(c)  # it did
    assert idle_sweep([c], limit=1) == ([], [c])
    assert idle_sweep([c], limit=1) == ([c], [])  # it did not


def test_no_limit_never_closes_but_still_pings() -> None:
    [c] = clients(1)
    idle_sweep([c], limit=0)
    for _ in range(10):
        assert idle_sweep([c], limit=0) == ([], [c])


def test_a_paused_client_is_busy_not_silent() -> None:
    a, b = clients(2)
    a.paused = True
    a.idle_ticks = b.idle_ticks = 5
    silent, idle = idle_sweep([a, b], limit=3)
    assert silent == [b] and idle == [] and a.idle_ticks == 0


def test_ping_sweep_pings_then_closes_a_late_pong() -> None:
    a, b, c = clients(3)
    a.conn.ping_sent = 10.0  # outstanding, not late yet
    b.conn.ping_sent = 5.0  # late
    dead, ping = ping_sweep([a, b, c], now=20.0, timeout=10.0)
    assert dead == [b] and ping == [c]


def test_ping_sweep_forgets_a_paused_clients_ping() -> None:
    [a] = clients(1)
    a.conn.ping_sent = 1.0
    a.paused = True
    assert ping_sweep([a], now=100.0, timeout=10.0) == ([], [])
    assert a.conn.ping_sent == 0.0


class Pinged(Conn):
    """A connection that records when it was pinged (and is never answered)."""

    def __init__(self, log: list[tuple[str, float]], name: str) -> None:
        super().__init__()
        self.log, self.name = log, name
        self.aborted = False

    def ping_now(self, now: float) -> None:
        self.ping_sent = now
        self.log.append((self.name, now))

    def abort(self) -> None:
        self.aborted = True


async def test_a_sweep_is_spread_over_its_period_a_pass_at_a_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """1,000 clients, 100 a pass: ten passes a period, every client pinged once a
    period; a client that left before its pass is skipped."""
    import asyncio

    from common.config import GatewayConfig
    from gateway import keepalive
    from gateway.clients import ClientIndex

    monkeypatch.setattr(keepalive, "PASS_SIZE", 100)
    pings: list[tuple[str, float]] = []
    index = ClientIndex()
    for i in range(1000):
        index.add(Client(f"c{i}", "127.0.0.1:1", Pinged(pings, f"c{i}")))
    gone = index.clients["c950"]
    config = GatewayConfig(ws_ping_interval=0.5, ws_ping_timeout=10.0)
    sweeping = asyncio.ensure_future(Keepalive(config, index, None).loops()[0])  # type: ignore[arg-type]
    await asyncio.sleep(0.3)  # about half the first period: about half the passes
    index.remove("c950")
    await asyncio.sleep(0.35)  # the rest of the period (its spread is the thing tested)
    sweeping.cancel()
    names = [name for name, _ in pings]
    assert len(names) == len(set(names)) == 999  # once each in the period, c950 skipped
    assert "c950" not in names and gone.conn.ping_sent == 0.0
    times = sorted({round(t, 3) for _, t in pings})
    assert len(times) == 10  # ten passes
    assert times[-1] - times[0] >= 0.35  # spread over the period, not a burst
