"""What the HTTP API counts, and tells Prometheus (``/metrics``).

- ``gw_api_requests_total{call, status}``: HTTP requests, by call (``batch``,
  ``openapi``, the probes; ``unknown`` for a path that names no call: the label never
  holds what a client wrote) and status;
- ``gw_api_batched_calls_total{call, status}``: the calls inside batches;
- ``gw_api_request_seconds{call}``: how long requests took, from their body read to
  their answer (a histogram per call);
- ``gw_api_requests_in_progress``: requests being done now;
- ``gw_api_gateways``: gateways linked; ``gw_api_query_seconds``: the push client's
  queries, answered or not.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from common.metrics import Histogram

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from ..client import AsyncGatewayClient
    from ..cluster import Cluster


class Stats:
    """Counts, by call and status, kept on the event loop (no lock)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.batched: Counter[tuple[str, int]] = Counter()
        self.seconds: dict[str, Histogram] = {}
        self.in_progress = 0

    def request(self, call: str, status: int, seconds: float) -> None:
        self.requests[call, status] += 1
        histogram = self.seconds.get(call)
        if histogram is None:
            histogram = self.seconds[call] = Histogram()
        histogram.observe(seconds)

    def families(self, api: AsyncGatewayClient, cluster: Cluster | None) -> list[Metric]:
        """Every metric of the API process, now."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        requests = CounterMetricFamily(
            "gw_api_requests", "HTTP requests, by call and status", labels=["call", "status"]
        )
        for (call, status), count in sorted(self.requests.items()):
            requests.add_metric([call, str(status)], count)
        batched = CounterMetricFamily(
            "gw_api_batched_calls",
            "Calls inside batches, by call and status",
            labels=["call", "status"],
        )
        for (call, status), count in sorted(self.batched.items()):
            batched.add_metric([call, str(status)], count)
        seconds = HistogramMetricFamily(
            "gw_api_request_seconds", "HTTP request time, by call", labels=["call"]
        )
        for call, histogram in sorted(self.seconds.items()):
            total, buckets = 0, []
            for bound, count in zip(
                (*histogram.bounds, float("inf")), histogram.counts, strict=True
            ):
                total += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
            seconds.add_metric([call], buckets, histogram.sum)
        linked = 0 if cluster is None else sum(1 for s in cluster.view.links.values() if s.up)
        return [
            requests,
            batched,
            seconds,
            GaugeMetricFamily(
                "gw_api_requests_in_progress", "Requests being done", self.in_progress
            ),
            GaugeMetricFamily("gw_api_gateways", "Gateways linked", linked),
            api.query_seconds.family("gw_api_query_seconds", "Queries, answered or not"),
        ]
