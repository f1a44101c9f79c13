"""Dead and silent clients: two sweeps over every client, each one task for all.

- The application heartbeat (GatewayWorker's ``pingInterval`` /
  ``pingNotResponseLimit`` / ``pingData``): every ``ping_interval`` a client that sent
  nothing since the last tick gets one more idle tick (and ``ping_data``, if set); at
  ``ping_not_response_limit`` idle ticks it is closed.
- The WebSocket keepalive: every ``ws_ping_interval`` a ping to each client with none
  outstanding; a client whose pong is late by ``ws_ping_timeout`` is closed.

A client the gateway paused (its backlog is full: we stopped reading it) is busy,
not silent: neither sweep counts it. The decisions are pure functions
(:func:`idle_sweep`, :func:`ping_sweep`); the loops apply them. This module is the
only writer of a client's ``idle_ticks``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from common.config import GatewayConfig
from common.logs import Throttled

from .clients import Client, ClientIndex
from .fanout import Fanout

log = logging.getLogger(__name__)
throttled = Throttled(log)  # a mass of dead clients: a line a second, with a count


def idle_sweep(clients: Iterable[Client], limit: int) -> tuple[list[Client], list[Client]]:
    """One application-heartbeat tick: (clients to close, clients to send ping data).

    Counts the tick on every client it does not close.
    """
    silent: list[Client] = []
    idle: list[Client] = []
    for client in clients:
        if client.paused:  # not read by our choice: busy, not silent
            client.idle_ticks = 0
            continue
        if 0 < limit <= client.idle_ticks:
            silent.append(client)
            continue
        client.idle_ticks += 1
        idle.append(client)
    return silent, idle


def ping_sweep(
    clients: Iterable[Client], now: float, timeout: float
) -> tuple[list[Client], list[Client]]:
    """One WebSocket-keepalive tick: (clients whose pong is late, clients to ping now).

    A paused client's pong waits behind what we do not read: its ping is forgotten.
    """
    dead: list[Client] = []
    ping: list[Client] = []
    for client in clients:
        conn = client.conn
        if client.paused:
            conn.ping_sent = 0.0
        elif conn.ping_sent and now - conn.ping_sent > timeout:
            dead.append(client)
        elif not conn.ping_sent:
            ping.append(client)
    return dead, ping


class Keepalive:
    """The two sweeps of one gateway."""

    def __init__(self, config: GatewayConfig, index: ClientIndex, fanout: Fanout) -> None:
        self.config = config
        self.index = index
        self.fanout = fanout

    @staticmethod
    def heard(client: Client) -> None:
        """The client sent something: it is not idle."""
        client.idle_ticks = 0

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """The sweeps this configuration asks for."""
        loops = []
        if self.config.ping_interval > 0:
            loops.append(self._app_heartbeat())
        if self.config.ws_ping_interval:
            loops.append(self._ws_keepalive())
        return loops

    async def _app_heartbeat(self) -> None:
        cfg = self.config
        ping = cfg.ping_data or None
        while True:
            await asyncio.sleep(cfg.ping_interval)
            silent, idle = idle_sweep(list(self.index.clients.values()),
                                      cfg.ping_not_response_limit)  # fmt: skip
            for client in silent:
                throttled.info("silent", "client %s silent for %d ticks: closing",
                               client.client_id, client.idle_ticks)  # fmt: skip
                client.conn.abort()
            if ping is not None and idle:
                self.fanout.deliver(idle, ping)

    async def _ws_keepalive(self) -> None:
        interval = self.config.ws_ping_interval or 20.0
        timeout = self.config.ws_ping_timeout or interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            dead, ping = ping_sweep(list(self.index.clients.values()), now, timeout)
            for client in dead:
                throttled.info("pong", "client %s: no pong for %gs, closing", client.client_id,
                               timeout)  # fmt: skip
                client.conn.abort()
            for client in ping:
                client.conn.ping_now(now)
