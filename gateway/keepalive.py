"""Dead and silent clients: two sweeps over every client, each one task for all.

- The application heartbeat (GatewayWorker's ``pingInterval`` /
  ``pingNotResponseLimit`` / ``pingData``): every ``ping_interval`` a client that sent
  nothing since the last tick gets one more idle tick (and ``ping_data``, if set); at
  ``ping_not_response_limit`` idle ticks it is closed.
- The WebSocket keepalive: every ``ws_ping_interval`` a ping to each client with none
  outstanding; a client whose pong is late by ``ws_ping_timeout`` is closed.

Each sweep visits its clients a few hundred at a time, spread over its period, so
that a gateway with 100,000 clients neither stalls its loop nor pings in bursts.

A client the gateway paused (its backlog is full: we stopped reading it) is busy,
not silent: neither sweep counts it. The decisions are pure functions
(:func:`idle_sweep`, :func:`ping_sweep`); the loops apply them. This module is the
only writer of a client's ``idle_ticks``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from common.config import GatewayConfig
from common.logs import Throttled

from .clients import Client, ClientIndex
from .fanout import Fanout

log = logging.getLogger(__name__)
throttled = Throttled(log)  # a mass of dead clients: a line a second, with a count
PASS_SIZE = 500  # clients a sweep visits in one loop pass (100,000: 200 passes a period)


def idle_sweep(clients: Iterable[Client], limit: int) -> tuple[list[Client], list[Client]]:
    """One application-heartbeat tick: (clients to close, clients to send ping data).

    Counts the tick on every client it does not close. Ping data goes to the idle
    ones only: a client heard from since the last tick (or new since) is not sent
    any, as in the original (its ``pingNotResponseCount`` of -1), unless the next
    tick would close it (a limit of 1: it gets a ping to answer first).
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
        # idle: nothing from it for a whole tick; or the next tick closes it, and the
        # ping is its chance to answer (a limit of 1)
        if client.idle_ticks or 0 < limit <= client.idle_ticks + 1:
            idle.append(client)
        client.idle_ticks += 1
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
            conn.forget_ping()
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

    async def _sweep(self, period: float, visit: Callable[[list[Client], float], None]) -> None:
        """Visit every client once per ``period``, ``PASS_SIZE`` at a time, the passes
        spread over the period: at 100,000 clients no pass holds the loop for long,
        and the pings (and their pongs) come as a steady trickle, not a burst.

        A pass sees the clients of the period's start that are still here; a client
        that came since waits for the next period (it was just heard anyway).
        """
        loop = asyncio.get_running_loop()
        clients = self.index.clients
        while True:
            everyone = list(clients.values())
            passes = max(1, math.ceil(len(everyone) / PASS_SIZE))
            for start in range(0, passes * PASS_SIZE, PASS_SIZE):
                await asyncio.sleep(period / passes)
                here = [
                    c for c in everyone[start : start + PASS_SIZE] if clients.get(c.client_id) is c
                ]
                if here:
                    visit(here, loop.time())

    async def _app_heartbeat(self) -> None:
        cfg = self.config
        ping = cfg.ping_data or None

        def visit(clients: list[Client], now: float) -> None:
            silent, idle = idle_sweep(clients, cfg.ping_not_response_limit)
            for client in silent:
                throttled.info(
                    "silent",
                    "client %s silent for %d ticks: closing",
                    client.client_id,
                    client.idle_ticks,
                )
                client.conn.abort()
            if ping is not None and idle:
                self.fanout.deliver(idle, ping)

        await self._sweep(cfg.ping_interval, visit)

    async def _ws_keepalive(self) -> None:
        interval = self.config.ws_ping_interval or 20.0
        timeout = self.config.ws_ping_timeout or interval

        def visit(clients: list[Client], now: float) -> None:
            dead, ping = ping_sweep(clients, now, timeout)
            for client in dead:
                throttled.info(
                    "pong", "client %s: no pong for %gs, closing", client.client_id, timeout
                )
                client.conn.abort()
            for client in ping:
                client.conn.ping_now(now)

        await self._sweep(interval, visit)
