"""common.metrics: the probes answer even with a silent client holding a connection."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

from common.metrics import Histogram, MetricsServer
from tests.harness import UNIT, eventually_async


def get(address: str, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=3) as answer:
        return answer.status, answer.read().decode()


async def test_a_silent_connection_does_not_hold_up_the_probes_nor_the_close() -> None:
    server = MetricsServer("127.0.0.1:0", lambda: [], lambda: (False, "not yet"))
    address = server.start()
    host, port = address.rsplit(":", 1)
    silent = socket.create_connection((host, int(port)))  # sends nothing
    try:
        assert await asyncio.to_thread(get, address, "/healthz") == (200, "ok\n")
        try:
            await asyncio.to_thread(get, address, "/readyz")
        except urllib.error.HTTPError as exc:  # 503: the role said not ready, and why
            assert exc.code == 503 and exc.read().decode() == "not ready: not yet\n"
        else:
            raise AssertionError("/readyz said ready")
        loop = asyncio.get_running_loop()
        started = loop.time()
        server.close()  # on the loop's thread: must not wait for the silent client
        assert loop.time() - started < 1.0 * UNIT  # not the silent client's timeout
    finally:
        silent.close()


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.5, 0.7, 3.0):
        histogram.observe(value)
    family = histogram.family("h", "test")
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("h_bucket", "0.1")] == 1
    assert samples[("h_bucket", "1.0")] == 3
    assert samples[("h_bucket", "+Inf")] == 4
    assert samples[("h_count", None)] == 4
    assert abs(samples[("h_sum", None)] - 4.25) < 1e-9


async def test_the_lag_probe_sees_a_callback_that_holds_the_loop() -> None:
    import time

    from common.metrics import LagProbe

    probe = LagProbe(period=0.02)
    probe.start()
    await eventually_async(lambda: probe.histogram.count >= 2)  # samples of an idle loop
    quiet = probe.histogram.count
    assert quiet >= 2 and sum(probe.histogram.counts[: probe.BOUNDS.index(0.1) + 1]) == quiet
    time.sleep(0.15)  # noqa: ASYNC251 - holding the loop is the point: a sample ~150 ms late
    over = probe.BOUNDS.index(0.25)  # the buckets over 100 ms
    await eventually_async(lambda: sum(probe.histogram.counts[over:]))  # the late sample
    probe.stop()
    late = sum(probe.histogram.counts[over:])
    assert late == 1 and probe.histogram.sum >= 0.1
    count = probe.histogram.count
    await asyncio.sleep(0.06)  # three periods: that nothing is sampled is the thing tested
    assert probe.histogram.count == count  # stopped: no more samples
    assert probe.family().name == "gw_event_loop_lag_seconds"


def test_the_gc_probe_times_each_collection_by_generation() -> None:
    import gc

    from common.metrics import GcProbe

    probe = GcProbe()
    probe.start()
    probe.start()  # once only
    try:
        garbage = []
        for _ in range(20_000):  # cycles for the full pass to walk
            a: list[object] = []
            a.append(a)
            garbage.append(a)
        del garbage
        gc.collect(2)
        gc.collect(0)
    finally:
        probe.stop()
    young, _, full = probe.histograms
    assert full.count >= 1 and full.sum > 0 and young.count >= 1
    counted = full.count
    gc.collect(2)
    assert full.count == counted  # stopped: no more samples
    samples = {
        (s.name, s.labels.get("generation"), s.labels.get("le")): s.value
        for s in probe.family().samples
    }
    assert samples[("gw_gc_pause_seconds_count", "2", None)] == counted
    assert samples[("gw_gc_pause_seconds_bucket", "2", "+Inf")] == counted


def test_a_role_collects_its_young_generation_less_often() -> None:
    """What gw's roles do first (common.launch.serve): young collections every
    GC_YOUNG allocations, the later thresholds left as CPython has them."""
    import gc

    from common.launch import GC_YOUNG, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG, before[1], before[2]) != before
    finally:
        gc.set_threshold(*before)
