"""What ``gw status`` shows of a gateway, read from its parts' records.

Every counter has one writer, the part that counts it (:class:`~gateway.edge.Edge`,
:class:`~gateway.dispatch.Dispatcher`, :class:`~gateway.fanout.Fanout`,
:class:`~gateway.internal.InternalPort`, :class:`~gateway.workers.WorkerLink`);
:class:`Records` gathers them, with the index and the worker pool, for the two
readers: :func:`status` (the answer to ``GET_STATUS``: ``gw status``, ``--json``,
``--watch``) and :mod:`gateway.metrics`. The names below are the ones ``gw status
--json`` has always shown: scripts and ``gw status --watch`` read them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common import processes

from .addresses import Addresses
from .clients import ClientIndex
from .dispatch import DispatchCounters
from .edge import EdgeCounters
from .fanout import FanoutCounters
from .internal import PortCounters
from .router import WorkerPool
from .stream import Traffic
from .workers import LinkCounters, PushClients


@dataclass(frozen=True, slots=True)
class Records:
    """What a gateway's status and metrics read."""

    addresses: Addresses
    index: ClientIndex
    pool: WorkerPool
    edge: EdgeCounters
    dispatch: DispatchCounters
    fanout: FanoutCounters
    port: PortCounters
    link: LinkCounters
    peers: PushClients
    traffic: Traffic


@dataclass(frozen=True, slots=True)
class Counted:
    """One counter, as both readers name it: ``key`` in ``gw status --json``; in
    Prometheus ``gw_gateway_<metric>_total``, or with ``reason`` a reason of
    ``gw_gateway_clients_closed_total``."""

    key: str
    metric: str
    help: str
    read: Callable[[Records], int]
    reason: str | None = None


CLOSED = "clients_closed"  # gw_gateway_clients_closed_total{reason}: clients we dropped
COUNTED = (
    Counted("messages_out", "messages_out", "Messages queued to clients (one per recipient)",
            lambda r: r.fanout.messages_out),
    Counted("connections", "connections", "WebSocket connections accepted",
            lambda r: r.edge.connections),
    Counted("messages_in", "messages_in", "Client messages received",
            lambda r: r.edge.messages_in),
    Counted("closed_slow", CLOSED, "", lambda r: r.edge.closed_slow, "slow"),
    Counted("closed_rate_limit", CLOSED, "", lambda r: r.edge.closed_rate_limit, "rate_limit"),
    Counted("closed_control_flood", CLOSED, "", lambda r: r.edge.closed_control_flood,
            "control_flood"),
    Counted("closed_fragments", CLOSED, "", lambda r: r.edge.closed_fragments, "fragments"),
    Counted("closed_ip_cap", CLOSED, "", lambda r: r.edge.closed_ip_cap, "ip_cap"),
    Counted("commands", "commands", "Commands from workers and push clients",
            lambda r: r.link.commands),
    Counted("queries", "queries", "Queries from workers and push clients",
            lambda r: r.link.queries),
    Counted("bad_frames", "bad_frames", "Internal frames refused (a peer's bad input)",
            lambda r: r.link.bad_frames),
    Counted("errors", "errors", "Internal frames whose handling failed (our bug)",
            lambda r: r.link.errors),
    Counted("events_redelivered", "events_redelivered", "Events re-sent after their worker died",
            lambda r: r.dispatch.events_redelivered),
    Counted("paused_clients", "clients_paused", "Times a client was paused (its backlog full)",
            lambda r: r.dispatch.paused_clients),
    Counted("refused_no_worker", "events_refused_no_worker",
            "Events dropped: no worker, queue full", lambda r: r.dispatch.refused_no_worker),
)  # fmt: skip
"""Every counter of a gateway, once (the upgrades refused, by HTTP status, are added:
``refused_401``... in ``gw status``, ``gw_gateway_upgrades_refused_total{status}``)."""


def counters(r: Records) -> dict[str, int]:
    """The counters, by the names ``gw status --json`` shows (refusals by HTTP status:
    ``refused_401``...)."""
    found = {c.key: c.read(r) for c in COUNTED}
    found.update((f"refused_{status}", count) for status, count in r.edge.refused.items())
    return found


def status(r: Records) -> dict[str, Any]:
    """What ``gw status`` shows for one gateway."""
    pool, index = r.pool, r.index
    return {
        "pid": os.getpid(),
        "epoch": f"{r.addresses.epoch:08x}",  # this start's: a gateway restarted has another
        "websocket": r.addresses.public,
        "clients": len(index.clients),
        "uids": len(index.uids),
        "groups": len(index.groups),
        "workers": {
            w.name: {"clients": w.clients, "unacked": len(w.unacked), "handled": w.handled}
            for w in pool.workers.values()
        },
        "pending_events": len(pool.pending),
        "events": sum(r.port.events_by_kind),  # sent to workers (gw status --watch: events/s)
        "commands_by_op": dict(r.link.commands_by_op),
        "push_clients": r.peers.names(),
        "rss_bytes": rss_bytes(),
        **counters(r),
    }


def rss_bytes() -> int:
    """This process's resident memory (0 where /proc cannot tell)."""
    try:
        return processes.rss_bytes()
    except OSError:
        return 0
