from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Cluster

from .support import ChatCluster, start_chat


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatCluster]:
    """Register + gateway (tokens verified, anonymous clients allowed: as ``make run``)
    + one chat worker, shared by a module's tests.

    Tests keep apart by using their own uids and group ids. One worker makes the
    order of what it sends to the gateway the order in which it handled the events.
    """
    cluster = Cluster()
    try:
        yield start_chat(cluster)
    finally:
        codes = cluster.stop_all()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not exit cleanly: {failed}"
