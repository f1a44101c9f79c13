"""What a gateway tells Prometheus: clients, traffic, events, refusals, queues, links.

Read on the gateway's event loop at each scrape (see :mod:`common.metrics`), from the
same records as ``gw status`` (:class:`~gateway.status.Records`), under Prometheus
names (``gw_gateway_*``). The names are a contract: dashboards and alert rules
(``deploy/``) read them.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from common.frames import EventKind

from .status import CLOSED, COUNTED, Records


def families(
    records: Records, registers_linked: int, registers: int, draining: bool
) -> list[Metric]:
    """Every metric of one gateway, now."""
    r = records
    out: list[Metric] = []
    closed = CounterMetricFamily(
        f"gw_gateway_{CLOSED}", "Clients the gateway dropped", labels=["reason"]
    )
    for c in COUNTED:
        if c.reason is None:
            out.append(CounterMetricFamily(f"gw_gateway_{c.metric}", c.help, value=c.read(r)))
        else:
            closed.add_metric([c.reason], c.read(r))
    refused = CounterMetricFamily(
        "gw_gateway_upgrades_refused", "Upgrade requests refused, by HTTP status", labels=["status"]
    )
    for status, value in r.edge.refused.items():
        refused.add_metric([str(status)], value)
    events = CounterMetricFamily(
        "gw_gateway_events", "Events sent to workers, by kind", labels=["kind"]
    )
    for kind in EventKind:
        events.add_metric([kind.name.lower()], r.port.events_by_kind[kind])
    ops = CounterMetricFamily("gw_gateway_commands_by_op", "Commands, by op", labels=["op"])
    for op, done in r.link.commands_by_op.items():
        ops.add_metric([op.lower()], done)
    out += [closed, refused, events, ops]
    out.append(
        CounterMetricFamily("gw_gateway_bytes_in", "Bytes from clients", value=r.traffic.bytes_in)
    )
    out.append(
        CounterMetricFamily("gw_gateway_bytes_out", "Bytes to clients", value=r.traffic.bytes_out)
    )
    index, pool = r.index, r.pool
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
        ("registers", "Registers configured (--register)", registers),
        ("draining", "1 while draining or stopping", int(draining)),
    ):
        out.append(GaugeMetricFamily(f"gw_gateway_{name}", doc, value=value))
    return out
