"""Business workers and the API they (and external push clients) use.

- :data:`api`: the Gateway API inside a worker's handlers.
- :class:`GatewayClient` / :class:`AsyncGatewayClient`: the same API from any other
  program (a web backend), given the register address(es).
"""

from .api import GatewayAPI, WorkerAPI, api
from .client import AsyncGatewayClient, GatewayClient

__all__ = ["AsyncGatewayClient", "GatewayAPI", "GatewayClient", "WorkerAPI", "api"]
