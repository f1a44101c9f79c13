"""The Grafana dashboard and the Prometheus alert rules (deploy/grafana, deploy/prometheus).

Every metric a panel or an alert names must be served by a live register, gateway,
worker or ``gw api`` (a renamed metric would leave a panel empty and an alert silent
without any error); every expression must parse as PromQL (promql-parser, from PyPI);
the rules must pass ``promtool check rules`` and their unit tests, ``promtool test
rules`` (Debian's ``prometheus`` package: ``make deploy-check`` installs it as root).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.httpapi import start_api
from tests.harness import Cluster

from .support import DEPLOY, UNIT

promql = pytest.importorskip("promql_parser", reason="promql-parser (PyPI) is not installed")

DASHBOARD = DEPLOY / "grafana" / "gatewayworker.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yaml"
METRICS = ("--metrics-listen", "127.0.0.1:0")
# Grafana's variables, as Grafana would put them in before the query leaves it
GRAFANA = {"$__rate_interval": "5m", "$__interval": "1m", "$instance": ".*"}
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
# what the dashboard must show: every family the issue names, at least one metric each
COVERED = {
    "clients": "gw_gateway_clients", "connections": "gw_gateway_connections_total",
    "messages in": "gw_gateway_messages_in_total", "messages out": "gw_gateway_messages_out_total",
    "bytes": "gw_gateway_bytes_out_total", "events": "gw_gateway_events_total",
    "events handled": "gw_worker_events_total", "pending": "gw_gateway_events_pending",
    "handler latency": "gw_worker_handler_seconds_bucket",
    "query latency": "gw_worker_query_seconds_bucket",
    "api latency": "gw_api_request_seconds_bucket",
    "redeliveries": "gw_gateway_events_redelivered_total",
    "refusals": "gw_gateway_upgrades_refused_total",
    "events refused": "gw_gateway_events_refused_no_worker_total",
    "register links": "gw_gateway_registers_linked", "worker links": "gw_worker_gateways",
    "registers": "gw_register_gateways", "drain": "gw_gateway_draining",
    "loop lag": "gw_event_loop_lag_seconds_bucket", "gc pauses": "gw_gc_pause_seconds_sum",
}  # fmt: skip
ALERTED = {
    "GwGatewayHasNoWorker",
    "GwEventsPending",
    "GwEventsRedelivered",
    "GwEventsRefused",
    "GwClientsRefused",
    "GwRegisterDown",
    "GwEventLoopLagHigh",
}


def panels() -> list[dict[str, Any]]:
    found = json.loads(DASHBOARD.read_text())["panels"]
    return [p for top in found for p in (top, *top.get("panels", []))]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query with Grafana's variables replaced) of every panel."""
    queries = []
    for panel in panels():
        for target in panel.get("targets", []):
            expr = re.sub(r"\$\{(\w+)\}", r"$\1", target["expr"])
            for variable, value in GRAFANA.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    return queries


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in rules for rule in group["rules"]]


def named(node: Any) -> set[str]:
    """The metric names a parsed PromQL expression selects."""
    if isinstance(node, promql.VectorSelector):
        return {node.name} if node.name else set()
    if isinstance(node, promql.MatrixSelector):
        return named(node.vector_selector)
    if isinstance(node, promql.Call):
        return set().union(*(named(arg) for arg in node.args))
    if isinstance(node, promql.BinaryExpr):
        return named(node.lhs) | named(node.rhs)
    if isinstance(
        node, promql.AggregateExpr | promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr
    ):
        return named(node.expr)
    return set()  # a number, a string


@pytest.fixture(scope="module")
def served() -> Iterator[set[str]]:
    """Every series name on the /metrics of a live register, gateway, worker and gw api."""
    cluster = Cluster()
    try:
        register = cluster.register(*METRICS)
        gateway = cluster.gateway(register, *METRICS)
        worker = cluster.worker(register, "tests.cluster.apps.probe", *METRICS)
        api = start_api(cluster, register, *METRICS)
        names: set[str] = set()
        for process in (register, gateway, worker, api):
            (info,) = process.info.get("processes", [process.info])
            names |= scrape(info["metrics"])
        yield names
    finally:
        codes = cluster.stop_all()
    assert not {name: code for name, code in codes.items() if code != 0}, codes


def scrape(address: str) -> set[str]:
    """The series names of one /metrics: each family's (a counter with no sample yet,
    such as commands by op before the first command, still declares itself)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10 * UNIT) as answer:
        text = answer.read().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def test_every_expression_is_promql() -> None:
    queries = dashboard_queries() + alert_queries()
    assert len(queries) > 60
    bad = []
    for where, expr in queries:
        try:
            promql.parse(expr)
        except ValueError as exc:
            bad.append(f"{where}: {expr}: {exc}")
    assert not bad, "\n".join(bad)


def test_every_metric_a_panel_or_an_alert_names_is_served(served: set[str]) -> None:
    assert {
        "gw_gateway_clients",
        "gw_worker_handler_seconds_bucket",
        "gw_api_requests_total",
        "gw_register_gateways",
        "process_cpu_seconds_total",
    } <= served
    missing = [
        f"{where}: {name}"
        for where, expr in dashboard_queries() + alert_queries()
        for name in sorted(named(promql.parse(expr)))
        if name not in served
    ]
    assert not missing, "named but served by no role:\n" + "\n".join(missing)


def test_the_dashboard_shows_every_family_and_the_rules_cover_every_case() -> None:
    shown = set().union(*(named(promql.parse(expr)) for _, expr in dashboard_queries()))
    assert not {what: name for what, name in COVERED.items() if name not in shown}
    assert not ALERTED - {name for name, _ in alert_queries()}


def test_the_dashboard_is_laid_out_and_uses_its_variables() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance"}
    seen_ids, cells = set(), set()
    for panel in panels():
        assert panel["id"] not in seen_ids, panel["title"]
        seen_ids.add(panel["id"])
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        area = {(box["x"] + i, box["y"] + j) for i in range(box["w"]) for j in range(box["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$\{?(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= variables, (panel["title"], used)


def promtool() -> str:
    """make promtool's (in the virtualenv, beside this Python), else one on the PATH."""
    beside = Path(sys.executable).parent / "promtool"
    found = str(beside) if beside.exists() else shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is missing: make promtool unpacks it from Debian's prometheus")
    return found


@pytest.mark.parametrize(
    "check", [["check", "rules", ALERTS.name], ["test", "rules", ALERT_TESTS.name]]
)
def test_promtool_accepts_the_rules_and_their_tests_pass(check: list[str]) -> None:
    result = subprocess.run(
        [promtool(), *check], cwd=ALERTS.parent, capture_output=True, text=True, timeout=60 * UNIT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
