from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Cluster


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
