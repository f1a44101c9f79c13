"""External push client (GatewayWorker's GatewayClient), async and sync.

For programs outside the cluster, typically a web backend::

    # asyncio (aiohttp, FastAPI...)
    async with AsyncGatewayClient("127.0.0.1:1236") as gw:
        gw.send_to_group(100, {"action_type": "new_msg", ...})
        online = await gw.get_client_id_count_by_group(100)

    # synchronous (Flask, Django...): an event loop runs in a background thread
    gw = GatewayClient("127.0.0.1:1236")
    gw.send_to_uid("10086", "hello")
    print(gw.get_all_client_id_count())
    gw.close()

It offers every API call but the "current client" ones. It asks the registers for
the gateways, then talks to each gateway directly. ``start()`` (or ``async with``,
or the blocking constructor) raises :class:`~common.exceptions.ConfigError` if every
register that answered refused our security handshake (a different ``secret``).
Until a register has sent a complete list (one that just started, or was cut off,
sends incomplete ones for a few heartbeats), "all" queries name the registers in
``missing``: an empty answer then never passes for an empty cluster.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from common import ops
from common.config import Security, Timing
from common.exceptions import InvalidArgument, NotRunning
from common.frames import Command, Op, Role
from common.metrics import Histogram

from .api import GatewayAPI
from .cluster import Cluster
from .results import with_missing

REPLACED_WITHIN = 3.0  # s: a drained gateway's replacement (a supervisor's) starts in this


def _registers(register: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(register, str):
        return tuple(a.strip() for a in register.split(",") if a.strip())
    return tuple(register)


class AsyncGatewayClient(GatewayAPI):
    """The Gateway API for an asyncio program."""

    def __init__(
        self,
        register: str | Iterable[str] = "127.0.0.1:1236",
        *,
        secret: str | None = None,
        timeout: float = 5.0,
        timing: Timing | None = None,
        name: str = "push-client",
    ) -> None:
        self.query_timeout = timeout  # a query's default deadline, and start()'s wait
        self.query_seconds = Histogram()  # how long queries take, answered or not
        self._cluster: Cluster | None = None  # while started
        self.registers = _registers(register)
        self._security = Security(secret=secret)
        self._timing = timing or Timing()
        self._name = f"{name}-{os.getpid()}"

    async def start(self) -> None:
        """Connect and wait (up to ``timeout``) for the registers' gateway list: a
        complete one, unless no register has settled by then (it just restarted).

        Raises ConfigError if every register that answered refused our handshake.
        """
        cluster = Cluster(
            self.registers,
            role=Role.CLIENT,
            name=self._name,
            timing=self._timing,
            security=self._security,
            query_timeout=self.query_timeout,
            query_seconds=self.query_seconds,
        )
        self._cluster = cluster
        try:
            await cluster.start(wait=self.query_timeout, settled=True)
        except BaseException:
            self._cluster = None
            raise

    @property
    def cluster(self) -> Cluster:
        """The links calls go through, while started; NotRunning before or after."""
        if self._cluster is None:
            raise NotRunning("the push client is not started (or closed): start() first")
        return self._cluster

    async def _ask(self, op: Op, *args: Any, timeout: float | None = None) -> Any:
        result = await super()._ask(op, *args, timeout=timeout)
        unsettled = () if ops.SPECS[op].one else self.cluster.unsettled()
        if unsettled:  # only incomplete lists so far: the answer may lack gateways
            result = with_missing(result, (*getattr(result, "missing", ()), *unsettled))
        return result

    async def close(self) -> None:
        """Flush what was sent and disconnect."""
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            await asyncio.sleep(0)  # let queued batches leave
            await cluster.close()

    async def __aenter__(self) -> AsyncGatewayClient:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def gateways(self) -> list[str]:
        """Internal addresses of the gateways currently known."""
        return sorted(self.cluster.links)

    # -- operating one gateway ------------------------------------------------------
    async def gateway_status(self, address: str, *, timeout: float | None = None) -> Any:
        """The status of the one gateway at ``address`` (``tcp://IP:PORT``, listed or
        not), or None if it did not answer in time."""
        wait = self.query_timeout if timeout is None else timeout
        answers, missing, _ = await self.cluster.query(Op.GET_STATUS, [], [address], wait)
        return None if missing else answers[address]

    async def drain(
        self,
        address: str,
        *,
        timeout: float = 60.0,
        every: float = 0.5,
        progress: Callable[[int], object] | None = None,
    ) -> int | None:
        """Drain the gateway at ``address`` (``tcp://IP:PORT``), as ``gw drain`` does: it
        stops being ready and taking clients, closes its clients (1012) in waves over its
        ``--drain-time``, then stops. Returns once it is gone: None; or, where a
        supervisor (``gw up``, ``gw gateway --count``, a container's restart policy)
        started a new gateway at the same address, once that one answers (another
        epoch: a pid may be the same again in a container): its pid. Once the drained
        one no longer answers, a replacement has ``REPLACED_WITHIN`` seconds to answer.

        Every ``every`` seconds ``progress`` gets how many clients it still has. Raises
        InvalidArgument if nothing answers there (not a gateway), TimeoutError if it is
        still there after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        first = await self.gateway_status(address, timeout=2.0)
        if first is None:
            raise InvalidArgument(f"{address} did not answer: is it a gateway?")
        self.cluster.link(address).send(Command(Op.DRAIN, []))
        while time.monotonic() < deadline:
            await asyncio.sleep(every)  # the progress's pace: it is asked, it says nothing
            status = await self.gateway_status(address, timeout=1.0)
            if status is None:  # gone? or busy, or another is starting there: ask again
                status = await self.gateway_status(address, timeout=REPLACED_WITHIN)
                if status is None:
                    return None
            if status["epoch"] != first["epoch"]:  # the drained one is gone; another answers
                return int(status["pid"])
            if progress is not None:
                progress(status["clients"])
        raise TimeoutError(f"{address} still there after {timeout:g}s")


class GatewayClient:
    """The Gateway API for synchronous code: every call blocks until done.

    Sends return once queued (in order); queries return the answer. Thread-safe.
    """

    def __init__(self, register: str | Iterable[str] = "127.0.0.1:1236", **options: Any) -> None:
        self._client = AsyncGatewayClient(register, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="gw-client", daemon=True
        )
        self._thread.start()
        self._run(self._client.start())

    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        # the deadline covers the call's own timeout (a query's, or a drain's 60 s);
        # a dead loop thread cannot hang us
        wait = max(self._client.query_timeout, timeout or 0.0) + 10.0
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=wait)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target) or name.startswith("_"):
            return target

        if inspect.iscoroutinefunction(target):
            own = inspect.signature(target).parameters.get("timeout")
            default = None if own is None or own.default is own.empty else own.default

            @functools.wraps(target)
            def blocking(*args: Any, **kwargs: Any) -> Any:
                return self._run(target(*args, **kwargs), kwargs.get("timeout", default))

            return blocking

        @functools.wraps(target)
        def queued(*args: Any, **kwargs: Any) -> Any:
            async def call() -> Any:
                return target(*args, **kwargs)

            return self._run(call())

        return queued

    @property
    def gateways(self) -> list[str]:
        return self._run(self._gateways())  # type: ignore[no-any-return]

    async def _gateways(self) -> list[str]:
        return self._client.gateways

    def close(self) -> None:
        """Flush, disconnect and stop the background loop (idempotent)."""
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
