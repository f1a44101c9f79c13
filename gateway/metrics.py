"""What a gateway tells Prometheus: clients, traffic, events, refusals, queues, links.

Read on the gateway's event loop at each scrape (see :mod:`common.metrics`): counters
are the ones ``gw status`` shows, under Prometheus names (``gw_gateway_*``).
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from common.frames import EventKind

from .clients import ClientIndex
from .router import WorkerPool
from .stream import traffic
from .workers import WorkerLink

# stats key -> (metric name, help)
COUNTERS = {
    "connections": ("connections", "WebSocket connections accepted"),
    "messages_in": ("messages_in", "Client messages received"),
    "messages_out": ("messages_out", "Messages queued to clients (one per recipient)"),
    "events_redelivered": ("events_redelivered", "Events re-sent after their worker died"),
    "refused_no_worker": ("events_refused_no_worker", "Events dropped: no worker, queue full"),
    "paused_clients": ("clients_paused", "Times a client was paused (its backlog full)"),
    "commands": ("commands", "Commands from workers and push clients"),
    "queries": ("queries", "Queries from workers and push clients"),
    "bad_frames": ("bad_frames", "Internal frames refused (a peer's bad input)"),
    "errors": ("errors", "Internal frames whose handling failed (our bug)"),
}
CLOSES = {"closed_slow": "slow", "closed_rate_limit": "rate_limit",
          "closed_control_flood": "control_flood", "closed_ip_cap": "ip_cap"}  # fmt: skip


def families(
    stats: dict[str, int],
    index: ClientIndex,
    pool: WorkerPool,
    workers: WorkerLink,
    registers_linked: int,
    draining: bool,
) -> list[Metric]:
    """Every metric of one gateway, now."""
    out: list[Metric] = []
    for key, (name, doc) in COUNTERS.items():
        out.append(CounterMetricFamily(f"gw_gateway_{name}", doc, value=stats.get(key, 0)))
    closed = CounterMetricFamily("gw_gateway_clients_closed", "Clients the gateway dropped",
                                 labels=["reason"])  # fmt: skip
    for key, reason in CLOSES.items():
        closed.add_metric([reason], stats.get(key, 0))
    refused = CounterMetricFamily(
        "gw_gateway_upgrades_refused", "Upgrade requests refused, by HTTP status", labels=["status"]
    )
    for key, value in stats.items():
        if key.startswith("refused_") and key[8:].isdigit():
            refused.add_metric([key[8:]], value)
    events = CounterMetricFamily("gw_gateway_events", "Events sent to workers, by kind",
                                 labels=["kind"])  # fmt: skip
    for kind in EventKind:
        events.add_metric([kind.name.lower()], workers.events_by_kind[kind])
    ops = CounterMetricFamily("gw_gateway_commands_by_op", "Commands, by op", labels=["op"])
    for op, count in workers.commands_by_op.items():
        ops.add_metric([op.lower()], count)
    out += [closed, refused, events, ops]
    out.append(CounterMetricFamily("gw_gateway_bytes_in", "Bytes from clients",
                                   value=traffic.bytes_in))  # fmt: skip
    out.append(CounterMetricFamily("gw_gateway_bytes_out", "Bytes to clients",
                                   value=traffic.bytes_out))  # fmt: skip
    backlog = sum(len(c.backlog) for c in index.clients.values() if c.backlog)
    for name, doc, value in (
        ("clients", "Clients connected", len(index.clients)),
        ("uids", "Distinct uids bound", len(index.uids)),
        ("groups", "Groups with members", len(index.groups)),
        ("workers", "Workers linked (and not leaving)", len(pool.live())),
        ("events_pending", "Events waiting for any worker", len(pool.pending)),
        ("events_unacked", "Events at workers, not acknowledged yet", pool.unacked()),
        ("events_backlog", "Events waiting behind their client's previous one", backlog),
        ("registers_linked", "Register links up", registers_linked),
        ("registers", "Registers configured (--register)", len(workers.config.registers)),
        ("draining", "1 while draining or stopping", int(draining)),
    ):
        out.append(GaugeMetricFamily(f"gw_gateway_{name}", doc, value=value))
    return out
