from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import Cluster

FIGURES = "multi-host figures"  # a report's user property: what a test measured
_figures: dict[str, list[tuple[str, Any]]] = {FIGURES: []}  # (test, figures), for the summary


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Figures come with their test's report (from a pytest-xdist worker too: this
    conftest, unlike those below it, is loaded where the reports are gathered)."""
    if report.when == "teardown":
        for key, value in report.user_properties:
            if key == FIGURES:
                _figures[FIGURES].append((report.nodeid.rpartition("::")[2], value))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _figures[FIGURES]:
        terminalreporter.section(FIGURES)
        for test, figures in _figures[FIGURES]:
            terminalreporter.write_line(f"{test}: {json.dumps(figures)}")


@pytest.fixture
def gw() -> Iterator[Cluster]:
    """Start real gw processes; at teardown SIGTERM them and require a clean exit."""
    cluster = Cluster()
    try:
        yield cluster
    finally:
        codes = cluster.stop_all()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not exit cleanly: {failed}"
