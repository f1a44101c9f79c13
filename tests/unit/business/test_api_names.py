"""GatewayWorker's own spelling, destoryClient, works here too."""

from __future__ import annotations

from business import AsyncGatewayClient
from business.api import GatewayAPI, WorkerAPI


def test_the_originals_misspelled_names_are_aliases() -> None:
    assert GatewayAPI.destory_client is GatewayAPI.destroy_client
    assert WorkerAPI.destory_current_client is WorkerAPI.destroy_current_client
    assert AsyncGatewayClient.destory_client is GatewayAPI.destroy_client
    assert not hasattr(AsyncGatewayClient, "destory_current_client")  # no current client
