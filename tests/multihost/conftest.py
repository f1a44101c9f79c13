"""The multi-host fixtures: a network of namespaces per session, the roles per test.

Skipped, with the reason, where namespaces cannot be made (not root, no iproute2).
Every process is stopped, and every cut link restored, at the end of its test; the
namespaces at the end of the session (and those of an earlier, killed run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.conftest import FIGURES
from tests.harness import UNIT, ReadyProcess
from tests.multihost.load import Load
from tests.multihost.netns import Network, unavailable

HOSTS = ["register", "gw1", "gw2", "wk1", "wk2", "wk3", "clients"]
SECRET = "multihost-secret"
APP = "tests.multihost.app"
REGISTER_PORT, WS_PORT, INTERNAL_PORT = 1236, 8783, 2900  # our namespaces: fixed is fine

_why_not = unavailable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _why_not is not None:
        for item in items:
            if "multihost" in str(item.path):
                item.add_marker(pytest.mark.skip(reason=_why_not))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """What a test measured (lost, duplicated, detection times), shown after the run
    (tests/conftest.py: with its report, from a pytest-xdist worker too)."""
    measured: dict[str, Any] = {}
    yield measured
    request.node.user_properties.append((FIGURES, measured))


class Roles:
    """The roles of one test, each in its host; stopped at the end of the test."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.processes: list[ReadyProcess] = []
        self.register_address = f"{net.address('register')}:{REGISTER_PORT}"

    def start(self, host: str, *args: str, secret: str = SECRET) -> ReadyProcess:
        process = self.net.gw(host, *args, env={"GW_SECRET": secret})
        self.processes.append(process)
        return process

    def register(self, *extra: str) -> ReadyProcess:
        return self.start("register", "register", "--listen", self.register_address, *extra)

    def gateway(self, host: str, *extra: str) -> ReadyProcess:
        address = self.net.address(host)
        return self.start(
            host,
            "gateway",
            "--listen",
            f"{address}:{WS_PORT}",
            "--lan-ip",
            address,
            "--start-port",
            str(INTERNAL_PORT),
            "--register",
            self.register_address,
            *extra,
        )

    def worker(self, host: str, *extra: str, secret: str = SECRET) -> ReadyProcess:
        return self.start(
            host,
            "worker",
            "--app",
            APP,
            "--register",
            self.register_address,
            "--count",
            "1",
            *extra,
            secret=secret,
        )

    def cluster(self, *extra: str, workers: tuple[str, ...] = ("wk1", "wk2")) -> None:
        """A register, gw1 and gw2, and a worker on each of ``workers``: all ready."""
        self.register(*extra).wait_ready()
        started = [self.gateway("gw1", *extra), self.gateway("gw2", *extra)]
        started += [self.worker(host, *extra) for host in workers]
        for process in started:
            process.wait_ready(30 * UNIT)

    def websockets(self, *hosts: str) -> dict[str, str]:
        """Gateway host -> its WebSocket host:port."""
        return {host: f"{self.net.address(host)}:{WS_PORT}" for host in hosts}

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for process in reversed(self.processes):
            running = process.proc.poll() is None
            code = process.stop()  # also closes the pipes of one that exited already
            if running:
                codes[process.name] = code
        return codes


@pytest.fixture(scope="session")
def net() -> Iterator[Network]:
    network = Network(HOSTS)
    try:
        yield network
    finally:
        network.close()


@pytest.fixture
def roles(net: Network) -> Iterator[Roles]:
    made = Roles(net)
    try:
        yield made
    finally:
        net.restore_all()  # a failed test may have left a host cut off
        codes = made.stop_all()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not exit cleanly: {failed}"


@pytest.fixture
async def load(net: Network, roles: Roles) -> AsyncIterator[Load]:
    """Clients in the clients' host; closed before the processes stop."""
    made = Load(net)
    try:
        yield made
    finally:
        await made.close()
