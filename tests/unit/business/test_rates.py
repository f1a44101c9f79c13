"""business.rates: per-second rates from two gw status answers (no sockets, no clock)."""

from __future__ import annotations

from typing import Any

import pytest

from business.rates import RATES, counters, per_second, rates, sample, shown

A, B = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900"


def status(pid: int = 1, handled: int = 0, **counts: int) -> dict[str, Any]:
    return {"pid": pid, "clients": 3, "workers": {"worker-7": {"handled": handled}}, **counts}


def test_a_counter_grows_per_second_and_a_reset_counts_from_zero() -> None:
    assert per_second(10, 30, 2.0) == 10.0
    assert per_second(10, 10, 2.0) == 0.0
    assert per_second(50, 8, 2.0) == 4.0  # went down: the process restarted
    assert per_second(None, 30, 2.0) is None  # nothing earlier
    assert per_second(10, 30, 0.0) is None  # no time passed


def test_refusals_add_up_every_kind_and_missing_counters_are_zero() -> None:
    found = counters(
        {
            "messages_in": 5,
            "refused_no_worker": 2,
            "refused_401": 3,
            "refused_503": 1,
            "closed_slow": 9,
            "commands_by_op": {"x": 1},
        }
    )
    assert found == {
        "messages_in": 5,
        "messages_out": 0,
        "events": 0,
        "commands": 0,
        "events_redelivered": 0,
        "refused": 6,
    }


def test_rates_per_gateway_per_worker_and_in_total() -> None:
    before = sample(
        {A: status(messages_in=100, events=50, handled=40), B: status(messages_in=10)}, at=10.0
    )
    after = sample(
        {
            A: status(messages_in=160, events=80, refused_503=4, handled=70),
            B: status(messages_in=30),
        },
        at=12.0,
    )
    found = rates(before, after)
    assert found.gateways[A]["messages_in"] == 30.0 and found.gateways[B]["messages_in"] == 10.0
    assert found.gateways[A]["events"] == 15.0 and found.gateways[A]["refused"] == 2.0
    assert found.gateways[A]["messages_out"] == 0.0
    assert found.workers[(A, "worker-7")] == 15.0
    assert found.total["messages_in"] == 40.0 and found.total["refused"] == 2.0


def test_the_first_sample_and_a_newcomer_have_no_rate_yet() -> None:
    first = rates(None, sample({A: status(messages_in=100)}, at=1.0))
    assert set(first.gateways[A]) == set(RATES)
    assert all(rate is None for rate in first.gateways[A].values())
    assert all(rate is None for rate in first.total.values())
    assert first.workers[(A, "worker-7")] is None
    before = sample({A: status(messages_in=100)}, at=1.0)
    after = sample({A: status(messages_in=110), B: status(messages_in=500)}, at=2.0)
    found = rates(before, after)
    assert found.gateways[B]["messages_in"] is None  # B just appeared
    assert found.total["messages_in"] == 10.0  # the total of what is known


def test_a_gateway_restarted_on_the_same_address_counts_from_zero() -> None:
    before = sample({A: status(pid=1, messages_in=5)}, at=0.0)
    after = sample({A: status(pid=2, messages_in=20)}, at=2.0)  # more than before, all new
    assert rates(before, after).gateways[A]["messages_in"] == 10.0


@pytest.mark.parametrize(
    ("rate", "text"),
    [(None, "-"), (0.0, "0"), (0.25, "0.2"), (2.5, "2.5"), (12.4, "12"), (1500.0, "1500")],
)
def test_rates_for_people(rate: float | None, text: str) -> None:
    assert shown(rate) == text
