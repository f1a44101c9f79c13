from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Cluster

from .support import GRACE, ChatCluster, start_chat


@pytest.fixture(scope="module")
def chat(request: pytest.FixtureRequest) -> Iterator[ChatCluster]:
    """Register + gateway (tokens verified, anonymous clients allowed: as ``make run``)
    + one chat worker, shared by a module's tests.

    Tests keep apart by using their own uids and group ids. One worker makes the
    order of what it sends to the gateway the order in which it handled the events.
    A module's ``PRESENCE_GRACE`` replaces :data:`GRACE` (a browser that reloads must
    be back within it, however loaded the machine).
    """
    cluster = Cluster()
    try:
        yield start_chat(cluster, getattr(request.module, "PRESENCE_GRACE", GRACE))
    finally:
        codes = cluster.stop_all()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not exit cleanly: {failed}"
