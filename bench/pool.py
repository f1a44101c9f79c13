"""Load-generator processes and the runner's handle on them (:class:`Pool`).

Each process runs ``main(conn, index, procs, spec)`` (a module-level function:
``spawn`` starts it afresh) and answers commands ``(name, args)`` from its pipe, one
answer each. :func:`run` is the body of such a ``main``: the open-file limit
raised, then the process object's ``serve()`` on uvloop. S1-S7's
:class:`~bench.loadgen.LoadGen` and S8's :class:`~bench.crowd.Crowds` are pools.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any, Protocol, Self

from common.service import raise_open_file_limit

from .servers import cpu_seconds

Main = Callable[[Connection, int, int, dict[str, Any]], None]  # a process's body


class Served(Protocol):
    def serve(self) -> Coroutine[Any, Any, None]: ...


def run(
    make: Callable[[Connection, int, int, dict[str, Any]], Served],
    conn: Connection,
    index: int,
    procs: int,
    spec: dict[str, Any],
) -> None:
    """The body of a pool's ``main``: as many open files as this process may have, then
    the command loop of ``make(conn, index, procs, spec)`` (on uvloop where installed)."""
    raise_open_file_limit()
    process = make(conn, index, procs, spec)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(process.serve())
    else:
        uvloop.run(process.serve())


class Pool:
    """``procs`` processes of ``main``, a command to every one: :meth:`ask` waits for
    every answer, :meth:`send` and :meth:`collect` split that."""

    what = "a load process"  # in errors
    timeout = 600.0  # s: the longest a command may take
    close_timeout = 60.0

    def __init__(self, main: Main, spec: dict[str, Any], procs: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.command = ""  # the last one sent
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for index in range(procs):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=main, args=(child, index, procs, spec), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def send(self, command: str, args: dict[str, Any] | None = None) -> None:
        self.command = command
        for pipe in self.pipes:
            pipe.send((command, args or {}))

    def collect(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every process's answer to the last command, in process order."""
        timeout = self.timeout if timeout is None else timeout
        results = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{self.what} did not finish {self.command!r} in {timeout:g}s")
            results.append(pipe.recv())
        return results

    def ask(
        self, command: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Send a command to every process; return their answers."""
        self.send(command, args)
        return self.collect(timeout)

    def ready(self) -> bool:
        """Every process has answered the last command (without taking the answers)."""
        return all(pipe.poll(0) for pipe in self.pipes)

    def cpu(self) -> float:
        """CPU seconds the processes have used so far."""
        return cpu_seconds([p.pid for p in self.processes])

    def close(self) -> None:
        try:
            self.ask("close", timeout=self.close_timeout)
        finally:
            for process in self.processes:
                process.join(10)
                if process.is_alive():
                    process.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
