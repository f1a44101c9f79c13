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


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Whether the test itself failed, for its fixtures' teardown to see."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def show_logs(request: pytest.FixtureRequest, cluster: Cluster, lines: int = 60) -> None:
    """A failed test's processes' last log lines, in its report (a failure in CI is
    then more than a traceback of the test's side)."""
    if not request.node.stash.get(CALL_FAILED, False):
        return
    for process in cluster.processes:
        tail = "\n".join(process.logs().splitlines()[-lines:])
        print(f"----- {process.name} (pid {process.proc.pid}), its last {lines} lines -----")
        print(tail)


@pytest.fixture
def gw(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """Start real gw processes; at teardown SIGTERM them and require a clean exit (and,
    if the test failed, show the end of each one's log)."""
    cluster = Cluster()
    try:
        yield cluster
    finally:
        show_logs(request, cluster)
        codes = cluster.stop_all()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not exit cleanly: {failed}"
