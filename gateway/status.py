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
from dataclasses import dataclass
from typing import Any

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


def counters(r: Records) -> dict[str, int]:
    """The counters, by the names ``gw status --json`` shows (refusals by HTTP status:
    ``refused_401``...)."""
    edge, link, dispatch = r.edge, r.link, r.dispatch
    return {
        "messages_out": r.fanout.messages_out,
        "connections": edge.connections,
        "messages_in": edge.messages_in,
        "closed_slow": edge.closed_slow,
        "closed_rate_limit": edge.closed_rate_limit,
        "closed_control_flood": edge.closed_control_flood,
        "closed_ip_cap": edge.closed_ip_cap,
        **{f"refused_{status}": count for status, count in edge.refused.items()},
        "commands": link.commands,
        "queries": link.queries,
        "bad_frames": link.bad_frames,
        "errors": link.errors,
        "events_redelivered": dispatch.events_redelivered,
        "paused_clients": dispatch.paused_clients,
        "refused_no_worker": dispatch.refused_no_worker,
    }


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
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0
