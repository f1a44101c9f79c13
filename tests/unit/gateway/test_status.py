"""gateway.status and gateway.metrics: one gateway's records, under the names gw status
--json and /metrics have always shown (scripts, gw status --watch, the Grafana dashboard
and the alert rules in deploy/ read them)."""

from __future__ import annotations

from gateway.addresses import Addresses
from gateway.clients import Client, ClientIndex
from gateway.dispatch import DispatchCounters
from gateway.edge import EdgeCounters
from gateway.fanout import FanoutCounters
from gateway.internal import PortCounters
from gateway.router import WorkerPool
from gateway.status import Records, status
from gateway.stream import Traffic
from gateway.workers import LinkCounters, PushClients

STATUS_KEYS = [
    "pid",
    "epoch",
    "websocket",
    "clients",
    "uids",
    "groups",
    "workers",
    "pending_events",
    "events",
    "commands_by_op",
    "push_clients",
    "rss_bytes",
    "messages_out",
    "connections",
    "messages_in",
    "closed_slow",
    "closed_rate_limit",
    "closed_control_flood",
    "closed_fragments",
    "closed_ip_cap",
    "commands",
    "queries",
    "bad_frames",
    "errors",
    "events_redelivered",
    "paused_clients",
    "refused_no_worker",
    "refused_401",
    "refused_403",
    "refused_503",
]
METRICS = {
    "gw_gateway_connections",
    "gw_gateway_messages_in",
    "gw_gateway_messages_out",
    "gw_gateway_events_redelivered",
    "gw_gateway_events_refused_no_worker",
    "gw_gateway_clients_paused",
    "gw_gateway_commands",
    "gw_gateway_queries",
    "gw_gateway_bad_frames",
    "gw_gateway_errors",
    "gw_gateway_clients_closed",
    "gw_gateway_upgrades_refused",
    "gw_gateway_events",
    "gw_gateway_commands_by_op",
    "gw_gateway_bytes_in",
    "gw_gateway_bytes_out",
    "gw_gateway_clients",
    "gw_gateway_uids",
    "gw_gateway_groups",
    "gw_gateway_workers",
    "gw_gateway_events_pending",
    "gw_gateway_events_unacked",
    "gw_gateway_events_backlog",
    "gw_gateway_registers_linked",
    "gw_gateway_registers",
    "gw_gateway_draining",
}


def records() -> Records:
    addresses = Addresses(1, "10.0.0.1")
    addresses.bound("tcp://10.0.0.1:2900", "0.0.0.0", 8783, "chat.example:443")
    index = ClientIndex()
    index.add(Client("c1", "1.2.3.4:5", None))  # type: ignore[arg-type]
    index.bind_uid("c1", "ann")
    pool = WorkerPool()
    pool.hello(b"w/1", "w", 7, 0.0)
    r = Records(
        addresses,
        index,
        pool,
        EdgeCounters(),
        DispatchCounters(),
        FanoutCounters(),
        PortCounters(),
        LinkCounters(),
        PushClients(),
        Traffic(),
    )
    r.edge.connections, r.edge.closed_slow = 3, 1
    r.edge.refused[429] = 2  # what an --auth-hook refused with
    r.fanout.messages_out = 10
    r.port.events_by_kind[2] = 4
    r.link.commands_by_op["SEND_TO_UID"] = 5
    r.dispatch.paused_clients = 6
    r.peers.hello(b"api/ab", 0.0)
    r.traffic.bytes_in = 99
    return r


def test_the_status_has_the_names_it_always_had() -> None:
    shown = status(records())
    assert [k for k in shown if k != "refused_429"] == STATUS_KEYS
    assert shown["websocket"] == "chat.example:443"
    assert (shown["clients"], shown["uids"], shown["groups"]) == (1, 1, 0)
    assert shown["workers"] == {"w": {"clients": 0, "unacked": 0, "handled": 0}}
    assert (shown["connections"], shown["closed_slow"], shown["refused_429"]) == (3, 1, 2)
    assert (shown["messages_out"], shown["events"], shown["paused_clients"]) == (10, 4, 6)
    assert shown["commands_by_op"] == {"SEND_TO_UID": 5}
    assert shown["push_clients"] == ["api"] and shown["rss_bytes"] > 0


def test_the_metrics_have_the_names_the_dashboard_reads() -> None:
    from gateway.metrics import families

    found = {family.name: family for family in families(records(), 1, 2, False)}
    assert set(found) == METRICS
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in found.values()
        for s in family.samples
    }
    assert samples["gw_gateway_connections_total", ()] == 3
    assert samples["gw_gateway_upgrades_refused_total", (("status", "429"),)] == 2
    assert samples["gw_gateway_upgrades_refused_total", (("status", "401"),)] == 0
    assert samples["gw_gateway_clients_closed_total", (("reason", "slow"),)] == 1
    assert samples["gw_gateway_events_total", (("kind", "ws_connect"),)] == 4
    assert samples["gw_gateway_commands_by_op_total", (("op", "send_to_uid"),)] == 5
    assert samples["gw_gateway_clients_paused_total", ()] == 6
    assert samples["gw_gateway_bytes_in_total", ()] == 99
    assert samples["gw_gateway_registers", ()] == 2 and samples["gw_gateway_draining", ()] == 0
