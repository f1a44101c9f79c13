"""What a worker tells Prometheus: events handled, handler latency, queries, links."""

from __future__ import annotations

from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from common.frames import EventKind
from common.metrics import Histogram

from .cluster import Cluster


class WorkerState(Protocol):
    """The part of a worker its metrics read."""

    handled: int
    failed: int
    events_by_kind: list[int]
    latency: Histogram | None

    @property
    def running(self) -> int: ...


def families(worker: WorkerState, cluster: Cluster) -> list[Metric]:
    """Every metric of one worker process, now."""
    events = CounterMetricFamily("gw_worker_events", "Events handled, by kind", labels=["kind"])
    for kind in EventKind:
        events.add_metric([kind.name.lower()], worker.events_by_kind[kind])
    linked = sum(link.welcomed.is_set() for link in cluster.links.values())
    out: list[Metric] = [
        events,
        CounterMetricFamily("gw_worker_handler_errors", "Handlers that raised", worker.failed),
        GaugeMetricFamily("gw_worker_gateways", "Gateways linked (welcomed)", linked),
        GaugeMetricFamily("gw_worker_handlers_running", "Async handlers running", worker.running),
        cluster.query_seconds.family("gw_worker_query_seconds", "API queries, answered or not"),
    ]
    if worker.latency is not None:
        out.append(worker.latency.family("gw_worker_handler_seconds", "Handler run time"))
    return out
