from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.harness import Cluster, GwProcess, ws_url

APP = "examples.chat.app"


@dataclass
class ChatCluster:
    register: GwProcess
    gateway: GwProcess

    @property
    def ws(self) -> str:
        return ws_url(self.gateway)

    @property
    def register_address(self) -> str:
        return str(self.register.info["listen"])


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatCluster]:
    """Register + gateway + one chat worker, shared by a module's tests.

    Tests keep apart by using their own uids and group ids. One worker makes the
    order of what it sends to the gateway the order in which it handled the events.
    """
    cluster = Cluster()
    try:
        register = cluster.register()
        gateway = cluster.gateway(register)
        cluster.worker(register, APP)
        yield ChatCluster(register, gateway)
    finally:
        codes = cluster.stop_all()
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not exit cleanly: {failed}"
