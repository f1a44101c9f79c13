"""Runs role processes: starts them, restarts a crashed one, stops them in order.

Each child is this same CLI with ``--count 1``; it prints its own ready line, which the
supervisor reads before it starts the next stage (register, then gateways, then workers)
and before printing the combined ready line. SIGTERM/SIGINT stop the children newest
stage first (workers, gateways, register) and wait for them; SIGHUP restarts the workers
one at a time, each ready before the old one stops (GatewayWorker's ``reload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from . import ready
from .config import split_address

log = logging.getLogger(__name__)

SUPERVISED = "GW_SUPERVISED"  # set in a child's environment: its supervisor stops it
READY_TIMEOUT = "GW_READY_TIMEOUT"  # seconds a child may take to be ready (default 30)
READ_LIMIT = 1 << 20  # longest line read while waiting for a ready line
STABLE_AFTER = 60.0  # a child up this long has its restart backoff reset
REFUSED = 2  # a child's exit code for "cannot start as configured" (it said why)


def ready_timeout() -> float:
    """Seconds a child may take to print its ready line (``GW_READY_TIMEOUT``, read when
    a child starts: slow machines and tests raise it)."""
    return float(os.environ.get(READY_TIMEOUT, "30"))


async def _start(command: list[str]) -> asyncio.subprocess.Process:
    """A child's process, its stdout ours to read (OSError if it cannot be run)."""
    env = {**os.environ, SUPERVISED: "1"}
    return await asyncio.create_subprocess_exec(
        *command, stdout=PIPE, stdin=DEVNULL, limit=READ_LIMIT, env=env
    )


class ChildFailed(RuntimeError):
    """A child exited (or hung) before its ready line; ``code`` is its exit code."""

    def __init__(self, name: str, code: int | None, why: str = "") -> None:
        super().__init__(why or f"{name} did not become ready (exit code {code})")
        self.code = code

    @property
    def refused(self) -> bool:
        """It refused to start, and its one line on stderr said why."""
        return self.code == REFUSED


def send(proc: asyncio.subprocess.Process, signum: int) -> None:
    """Signal a child with ``os.kill``, not ``Popen.send_signal``: that polls first, and
    its ``waitpid`` would reap an exited child under the child watcher's feet (which
    then logs "Unknown child process" and reports exit code 255 instead of the real one)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signum)


def gw_command(*args: str) -> list[str]:
    """The command line of a ``gw`` subcommand in this interpreter."""
    return [sys.executable, "-m", "common.cli", *args]


def reserve_port(listen: str) -> str:
    """For several gateway processes on port 0: pick one free port they all share."""
    host, port = split_address(listen)
    if port:
        return listen
    with socket.socket() as sock:
        sock.bind((host, 0))
        return f"{host}:{sock.getsockname()[1]}"


@dataclass
class Child:
    """One supervised process: ``command`` prints a ready line once it serves."""

    name: str
    command: list[str]
    stage: int
    proc: asyncio.subprocess.Process | None = None
    info: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    retiring: bool = False
    starting: bool = False  # spawned, its ready line not read yet


Factory = Callable[[int], Child]  # the child number n of a stage that can be scaled


class Supervisor:
    """Starts ``stages`` of children in order; keeps them running until stopped.

    A stage made by a factory (``scalable``) can be resized while running:
    :meth:`scale` (``gw scale`` through the control socket, or SIGTTIN/SIGTTOU: one
    more, one fewer, as gunicorn does). A child removed stops gracefully (SIGTERM): a
    worker finishes and acknowledges the events it holds, its clients move on.
    """

    def __init__(
        self, role: str, scalable: dict[int, Factory] | None = None, stop_timeout: float = 20.0
    ) -> None:
        self.role = role
        self.stop_timeout = stop_timeout  # a child still running after SIGTERM is killed
        self.stop_order: list[int] = []  # stages to stop first, in this order
        self.children: list[Child] = []
        self.scalable = scalable or {}
        self._stopping = False
        self._watchers: set[asyncio.Task[Any]] = set()
        self._stopped = asyncio.Event()
        self._reloading = asyncio.Lock()  # reloads and scalings never overlap

    async def spawn(self, child: Child) -> dict[str, Any]:
        """Start a child and return its ready info (raise if it dies or times out)."""
        try:
            proc = await _start(child.command)
        except OSError as exc:  # no such program, not executable...: never started
            raise ChildFailed(child.name, None, f"{child.name} could not start: {exc}") from None
        child.proc = proc
        child.starting = True
        assert proc.stdout is not None
        try:
            info = await asyncio.wait_for(
                ready.wait_async(proc.stdout, echo=sys.stdout.write), ready_timeout()
            )
        except (TimeoutError, EOFError) as exc:
            if isinstance(exc, TimeoutError):  # hung: else it is exiting on its own
                send(proc, signal.SIGKILL)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:  # closed its stdout but lives on
                send(proc, signal.SIGKILL)
                await proc.wait()
            raise ChildFailed(child.name, proc.returncode) from exc
        child.info = info
        child.starting = False
        task = asyncio.get_running_loop().create_task(self._watch(child, proc))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return info

    async def _watch(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        started = asyncio.get_running_loop().time()
        # keep the pipe drained and pass output through, in chunks (lines may be long)
        while chunk := await proc.stdout.read(65536):
            sys.stdout.write(chunk.decode(errors="replace"))
        code = await proc.wait()
        if self._stopping or child.retiring or child.proc is not proc:
            return
        if asyncio.get_running_loop().time() - started > STABLE_AFTER:
            child.restarts = 0
        while not self._stopping:  # until a replacement is up (its dependencies may be down)
            child.restarts += 1
            delay = min(0.1 * 2 ** min(child.restarts, 6), 5.0)
            # exit 0 is a process that chose to end (a drained gateway: gw drain), not a crash
            log.log(
                logging.INFO if code == 0 else logging.WARNING,
                "%s (pid %d) exited with %s; restarting in %.1fs",
                child.name,
                proc.pid,
                code,
                delay,
            )
            await asyncio.sleep(delay)
            if self._stopping or child.retiring:
                return
            try:
                await self.spawn(child)
            except ChildFailed as exc:
                if self._stopping:  # stopped while it started: ours, not a failure
                    return
                log.error("%s", exc)
                continue
            log.info("%s restarted as pid %d", child.name, child.proc.pid if child.proc else 0)
            return

    async def start(self, stages: list[list[Child]]) -> None:
        """Start each stage once the one before is ready; if a child fails, wait for
        the rest of its stage (so that ``stop`` finds every process) and raise."""
        for stage in stages:
            for child in stage:
                self.children.append(child)
            results = await asyncio.gather(
                *(self.spawn(child) for child in stage), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def abandon(self, failure: ChildFailed) -> int:
        """A child did not start: stop the others; the exit code for the command (2 if
        the child refused its configuration: its own line said why, nothing to add)."""
        if not failure.refused:
            log.error("%s", failure)
        await self.stop()
        return REFUSED if failure.refused else 1

    async def reload(self, stage: int) -> None:
        """Replace the children of ``stage`` one at a time, each new one ready first.

        Reloads never overlap (a second SIGHUP waits), and a replacement is in
        ``children`` before it starts, so a stop during a reload stops it too.
        """
        async with self._reloading:
            for old in [c for c in self.children if c.stage == stage]:
                if self._stopping:
                    return
                new = Child(old.name, old.command, old.stage)
                self.children.append(new)
                try:
                    await self.spawn(new)
                except ChildFailed as exc:
                    self.children.remove(new)
                    log.error("reload stopped, %s kept: %s", old.name, exc)
                    return
                old.retiring = True
                self.children.remove(old)
                unclean = await self._terminate([old])
                pids = (c.proc.pid if c.proc else "?" for c in (new, old))
                log.info("reloaded %s: pid %s (was %s)", new.name, *pids)
                if unclean:
                    log.warning("reload: %s", unclean[0])

    async def scale(self, stage: int, count: int) -> int:
        """Resize a scalable stage to ``count`` children; return the count reached.

        New children are started (each ready) before this returns; extra ones, the
        newest first, are stopped gracefully.
        """
        factory = self.scalable[stage]
        async with self._reloading:
            current = [c for c in self.children if c.stage == stage]
            numbers = {int(c.name.rpartition("-")[2]) for c in current}
            while len(current) < count and not self._stopping:
                number = next(n for n in range(len(numbers) + 1) if n not in numbers)
                child = factory(number)
                self.children.append(child)
                try:
                    await self.spawn(child)
                except ChildFailed as exc:
                    self.children.remove(child)
                    log.error("scale stopped at %d: %s", len(current), exc)
                    break
                numbers.add(number)
                current.append(child)
                log.info(
                    "scaled up: %s (pid %s)", child.name, child.proc.pid if child.proc else "?"
                )
            retiring = current[count:] if count < len(current) else []
            for child in retiring:
                child.retiring = True
                self.children.remove(child)
            if retiring:
                await self._terminate(retiring)
                log.info("scaled down: %s", ", ".join(c.name for c in retiring))
            return len([c for c in self.children if c.stage == stage])

    async def serve_control(self, path: str) -> asyncio.Server:
        """Answer JSON commands on a Unix socket, one per line: ``{"scale": N}``
        (the first scalable stage), ``{"status": true}``."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = json.loads(await reader.readline() or b"{}")
                if "scale" in request and self.scalable:
                    count = int(request["scale"])
                    if count < 0:
                        raise ValueError("a count is 0 or more")
                    reached = await self.scale(min(self.scalable), count)
                    answer: dict[str, Any] = {"ok": True, "count": reached}
                elif "status" in request:
                    answer = {"ok": True, "processes": self.processes()}
                else:
                    answer = {"ok": False, "error": f"unknown command {request!r}"}
            except (ValueError, TypeError) as exc:
                answer = {"ok": False, "error": str(exc)}
            writer.write(json.dumps(answer).encode() + b"\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return await asyncio.start_unix_server(handle, path)

    def _nudge(self, delta: int) -> None:
        """SIGTTIN / SIGTTOU: one child more or fewer in the first scalable stage."""
        if not self.scalable:
            return
        stage = min(self.scalable)
        count = len([c for c in self.children if c.stage == stage]) + delta
        self._keep(self.scale, stage, max(count, 0))

    def _keep(self, action: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``action(*args)`` as a task kept referenced until done (a signal's work)."""
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(action(*args))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _terminate(self, children: list[Child]) -> list[str]:
        """SIGTERM ``children`` and wait for them; what did not exit 0 ("NAME exited N")."""
        timeout = self.stop_timeout
        running = [
            (c.name, c.proc, c.starting)
            for c in children
            if c.proc is not None and c.proc.returncode is None
        ]
        for _, proc, _ in running:
            send(proc, signal.SIGTERM)
        unclean = []
        for name, proc, starting in running:
            try:
                code = await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                log.warning("pid %d ignored SIGTERM for %gs: killing it", proc.pid, timeout)
                send(proc, signal.SIGKILL)
                code = await proc.wait()
            # a child still starting (a restart under way) has no handler for SIGTERM
            # yet: that it died of ours is a clean stop
            if code != 0 and not (starting and code == -signal.SIGTERM):
                unclean.append(f"{name} (pid {proc.pid}) exited {code}")
        return unclean

    async def stop(self) -> list[str]:
        """Stop every child, stage by stage (``stop_order``, else the last stage first);
        return those that did not exit 0 ("NAME (pid N) exited CODE")."""
        self._stopping = True
        unclean: list[str] = []
        stages = sorted({c.stage for c in self.children}, reverse=True)
        order = [s for s in self.stop_order if s in stages] + [
            s for s in stages if s not in self.stop_order
        ]
        for stage in order:
            unclean += await self._terminate([c for c in self.children if c.stage == stage])
        for task in list(self._watchers):
            task.cancel()
        return unclean

    def processes(self) -> list[dict[str, Any]]:
        return [{"name": c.name, **c.info} for c in self.children]

    async def run(
        self,
        stages: list[list[Child]],
        reload_stage: int | None = None,
        control: str | None = None,
        announce: Callable[[dict[str, Any]], None] | None = None,
    ) -> int:
        """Start everything, print the ready line, serve until a signal; exit code.

        ``control``: a Unix socket path for :meth:`serve_control` (``gw scale``);
        ``announce``: called with the ready line's contents once it is printed.
        """
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        if reload_stage is not None:
            loop.add_signal_handler(signal.SIGHUP, self._keep, self.reload, reload_stage)
        loop.add_signal_handler(signal.SIGTTIN, self._nudge, 1)
        loop.add_signal_handler(signal.SIGTTOU, self._nudge, -1)
        try:
            await self.start(stages)
        except ChildFailed as exc:
            return await self.abandon(exc)
        server = await self.serve_control(control) if control else None  # (folder: gw up's check)
        info = {
            "pid": os.getpid(),
            "processes": self.processes(),
            **({"control": control} if control else {}),
        }
        ready.print_ready(self.role, info)
        if announce is not None:
            announce(info)
        await stop.wait()
        if server is not None:
            server.close()
        log.info("stopping %d processes", len(self.children))
        unclean = await self.stop()
        # one line for every child's exit (the children say nothing of a planned stop)
        if unclean:
            log.warning("stopped; not cleanly: %s", ", ".join(unclean))
            return 1
        log.info("stopped %d processes, each exited 0", len(self.children))
        return 0
