"""The benchmark's own machinery, run small: real servers, real load generator.

No figure of speed is asserted here (``make bench`` measures, tests do not); these
tests check that every scenario runs against the cluster and the baseline, counts
its frames, loses none, and compares the open-loop phases at one common rate.
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from bench.phases import Settings, closed_then_paced, spec_of
from bench.report import Row, table
from bench.routing import routing
from bench.scenarios import capacity, everyone, fanout, idle_and_connect, private
from tests.harness import UNIT

TINY = Settings(
    procs=2,
    workers=1,
    duration=0.6,
    idle=0.2,
    clients=40,
    capacity=60,
    fanout=100,
    everyone=40,
    pairs=10,
    concurrency=10,
    repeat=1,
)


def _by_metric(rows: list[Row]) -> dict[str, Row]:
    return {row.metric: row for row in rows}


def _assert_no_loss(rows: list[Row]) -> None:
    lost = [r for r in rows if r.metric.startswith(("lost", "failed", "connections lost"))]
    assert lost, "no loss row"
    for row in lost:
        assert row.cluster == 0 and row.baseline == 0, row


@pytest.mark.timeout(120 * UNIT)
def test_traffic_scenarios_run_both_servers_without_loss() -> None:
    rows = private(TINY) + fanout(TINY) + everyone(TINY)
    _assert_no_loss(rows)
    costs = [r for r in rows if r.metric.startswith("server CPU per")]
    assert len(costs) == 5  # S3 saturation and half rate, S4 max and fixed, S5
    for row in costs:
        assert row.cluster and row.cluster > 0 and row.baseline and row.baseline > 0, row
    paced = [r for r in rows if "same rate for both" in r.metric]
    assert len(paced) == 2 and all(r.cluster and r.baseline for r in paced), paced
    text = table(rows)
    assert "S3 private" in text and "S4 fan-out" in text and "S5 send_to_all" in text


@pytest.mark.timeout(90 * UNIT)
def test_open_loop_phases_share_one_rate() -> None:
    """Closed loops alternate; both open loops run at half the slower median rate."""
    found = closed_then_paced(
        replace(TINY, repeat=3),
        "S4",
        "tiny",
        spec_of(100, 10, "group"),
        "group",
        list(range(20)),
        lambda p: sum(p.sent.values()) / p.span,
        "messages/s",
    )
    assert [len(r.closed) for r in found.values()] == [3, 3]
    for runs in found.values():  # the median run by CPU per frame
        costs = sorted(p.per_frame_us() or 0 for p in runs.closed)
        assert runs.median.per_frame_us() == costs[1]
    cp, bp = found["cluster"].paced, found["baseline"].paced
    rates = {
        k: statistics.median(sum(p.sent.values()) / p.span for p in runs.closed)
        for k, runs in found.items()
    }
    slower = min(rates, key=rates.__getitem__)
    assert [k for k, runs in found.items() if runs.sets_rate] == [slower]
    scheduled = rates[slower] / 2 * TINY.duration
    for paced in (cp, bp):  # the schedule, not the servers' speed, sets these counts
        # each load-generator process rounds its share up: at most one more each
        assert abs(sum(paced.sent.values()) - scheduled) <= TINY.procs, paced.sent
    for runs in found.values():  # every frame is accounted for: received, or late
        phases = [*runs.closed, runs.paced]
        expected = sum(sum(p.sent.values()) * 10 for p in phases)  # 10 members per group
        assert sum(p.received + p.late for p in phases) == expected


@pytest.mark.timeout(120 * UNIT)
def test_connect_idle_capacity_and_routing_scenarios() -> None:
    rows = idle_and_connect(TINY, s1=True, s2=True) + capacity(TINY) + routing(1)
    _assert_no_loss(rows)
    by = _by_metric(rows)
    held = by[f"connections held by 2 gateways (of {TINY.capacity})"]
    assert held.cluster == TINY.capacity and held.verdict == "MET"
    single = next(r for r in rows if r.metric.startswith("send_to_client:"))
    assert single.cluster == 1.0 and single.verdict == "MET"


@pytest.mark.timeout(90 * UNIT)
def test_the_http_api_scenario_runs_and_loses_nothing() -> None:
    from bench.api import BATCH, http_api

    rows = http_api(replace(TINY, duration=0.5))
    by = _by_metric(rows)
    single = next(r for r in rows if r.metric.startswith("sends/s, single calls"))
    batched = next(r for r in rows if r.metric.startswith(f"sends/s, batches of {BATCH}"))
    assert single.cluster and single.cluster > 0 and batched.cluster and batched.cluster > 0
    costs = [r for r in rows if r.metric.startswith("CPU per send")]
    assert len(costs) == 2 and all(r.cluster and r.baseline for r in costs), costs
    assert by["refused requests (answers other than 200)"].cluster == 0
    lost = by["lost sends (gw api; baseline column: the push client)"]
    assert lost.cluster == 0 and lost.baseline == 0
    assert "S9 HTTP API" in table(rows)


@pytest.mark.timeout(240 * UNIT)
def test_the_scale_scenario_runs_small_and_loses_nothing() -> None:
    """S8 with 1,500 clients from 3 source addresses, on 2 ports of 2 gateway processes
    each: every phase runs, nobody is lost, the killed gateway's clients all come back.
    No figure of speed is checked (make bench-scale measures)."""
    from bench.scale import ScaleSettings, s8

    cfg = ScaleSettings(
        clients=1_500,
        groups=100,
        gateway_procs=4,
        crowd_procs=3,
        workers=1,
        idle=0.5,
        broadcasts=2,
        spacing=0.1,
        traffic=0.5,
        group_rate=50.0,
        private_rate=100.0,
        storm_limit=60.0,
        quiet=0.5,
    )
    rows, lines = s8(cfg, log=lambda line: None)
    by = _by_metric(rows)
    assert by["clients held (connected and joined)"].cluster == 1_500
    assert by["clients the cluster counts (get_all_client_id_count)"].cluster == 1_500
    zero = [r for r in rows if r.target == "0"]
    assert len(zero) == 8, [r.metric for r in zero]  # failed, dropped, lost x4, dup, not back
    assert all(r.cluster == 0 for r in zero), [(r.metric, r.cluster) for r in zero]
    back = next(r for r in rows if r.metric.startswith("all ") and "back and joined" in r.metric)
    assert back.cluster is not None and back.cluster > 0  # the storm happened
    assert by["reconnect attempts"].cluster >= int(back.metric.split()[1].replace(",", ""))
    listed = by["gw connections lists every client in, s"]
    assert listed.target == "1,500 of 1,500 listed"
    assert len(lines) == 2 + 4  # header + one line per gateway process at the peak
    assert "S8 reconnect" in table(rows)
