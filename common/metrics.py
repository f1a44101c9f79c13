"""Prometheus metrics, ``/healthz`` and ``/readyz`` of a role, on ``--metrics-listen``.

An HTTP server (prometheus-client's WSGI app, on a thread of its own) answers:

- ``/metrics``: the role's metrics in Prometheus' text format, plus the process's
  (CPU, memory, open files);
- ``/healthz``: 200 while the process's event loop answers (within ``LOOP_DEADLINE``:
  a loop stuck for longer is a process to restart), else 503;
- ``/readyz``: 200 when the role says it is ready to serve (a gateway: a register
  link up, a worker linked, not draining...), else 503 with the reason.

The role's state is only ever read on its own event loop: the server thread hands
each request to the loop and waits for the answer, so no state is shared between
threads. :class:`Histogram` is a lock-free histogram for the loop's hot paths
(prometheus-client's takes a lock per observation).
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .binding import refusal
from .config import split_address

if TYPE_CHECKING:  # prometheus-client is imported only where metrics are served
    from prometheus_client.core import HistogramMetricFamily, Metric

log = logging.getLogger(__name__)

LOOP_DEADLINE = 10.0  # seconds the event loop may take to answer a probe or a scrape
REQUEST_TIMEOUT = 5.0  # seconds a client of the metrics port may take to send a request
T = TypeVar("T")
Readiness = tuple[bool, str]  # (ready, why not)
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """Observations in buckets (upper bounds, seconds), for one event loop's thread."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Iterable[float] = SECONDS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: over every bound
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative buckets, as Prometheus has them (upper bound, count)."""
        buckets, total = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return buckets

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        """The histogram as Prometheus sees it (cumulative buckets)."""
        from prometheus_client.core import HistogramMetricFamily

        return HistogramMetricFamily(
            name, documentation, buckets=self.buckets(), sum_value=self.sum
        )


class LagProbe:
    """How late the event loop runs a timer: every ``period`` seconds, the delay past
    the deadline is one observation (``gw_event_loop_lag_seconds``). A callback that
    holds the loop for 80 ms shows as a lag of up to 80 ms.

    A bare timer callback, not a task: a sample costs about 10 us, where a sleeping
    task's wake-up cost ten times that (20 a second was 0.2% of a core per process).
    """

    BOUNDS = (
        0.001,
        0.0025,
        0.005,
        0.01,
        0.02,
        0.03,
        0.04,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
    )

    def __init__(self, period: float = 0.1) -> None:
        self.period = period
        self.histogram = Histogram(self.BOUNDS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + self.period
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        self.histogram.observe(max(0.0, now - self._due))
        self._due = now + self.period
        self._handle = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def family(self) -> HistogramMetricFamily:
        return self.histogram.family(
            "gw_event_loop_lag_seconds",
            f"How late the event loop ran a timer, sampled every {self.period * 1e3:g} ms",
        )


class GcProbe:
    """How long CPython's cyclic garbage collector holds the process, by generation
    (``gw_gc_pause_seconds{generation}``): a pause holds the event loop as long, so a
    loop-lag spike that lines up with a generation-2 pause (a pass over every tracked
    object: every connection's) is the collector's. Timed by ``gc.callbacks``: a clock
    read when a collection starts and when it stops, nothing else."""

    BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

    def __init__(self) -> None:
        self.histograms = [Histogram(self.BOUNDS) for _ in range(3)]
        self._began = 0.0

    def start(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        # one collection at a time (the collector does not run while it runs), in
        # whichever thread set it off: start and stop come in pairs
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.histograms[info["generation"]].observe(time.perf_counter() - self._began)

    def family(self) -> HistogramMetricFamily:
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(
            "gw_gc_pause_seconds",
            "How long each garbage collection held the process, by generation",
            labels=["generation"],
        )
        for generation, histogram in enumerate(self.histograms):
            family.add_metric([str(generation)], histogram.buckets(), histogram.sum)
        return family


class _OnLoop:
    """A collector (prometheus-client's protocol: ``collect()``) that runs the role's
    ``collect`` on its event loop."""

    def __init__(self, server: MetricsServer) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        yield from self._server.on_loop(lambda: list(self._server.collect()))


class _Quiet(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT  # a silent client is dropped, not waited for

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would fill the log: say nothing."""


class _Threading(ThreadingMixIn, WSGIServer):
    """One thread per request: an idle connection cannot hold up the probes."""

    daemon_threads = True
    block_on_close = False  # closing does not wait for requests in progress


class MetricsServer:
    """The metrics and probe endpoints of one role (see the module docstring)."""

    def __init__(
        self,
        listen: str,
        collect: Callable[[], Iterable[Metric]],
        ready: Callable[[], Readiness],
    ) -> None:
        self.listen = listen
        self.collect = collect
        self.ready = ready
        self.address = ""  # host:port once bound
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        # imported here, not at the module's top: a role without --metrics-listen
        # never loads prometheus-client (~50 ms at every process start)
        from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_OnLoop(self))
        ProcessCollector(registry=self.registry)
        self._metrics_app = make_wsgi_app(self.registry)

    def bind(self) -> str:
        """Bind (port 0: any free port), before the role starts: a busy port is refused
        before anything else is done; return host:port."""
        host, port = split_address(self.listen)
        try:
            self._server = make_server(host, port, self._app, _Threading, handler_class=_Quiet)
        except OSError as exc:
            raise refusal(exc, self.listen, "the metrics port", "--metrics-listen") from None
        self.address = f"{host}:{self._server.server_port}"
        return self.address

    def serve(self) -> None:
        """Serve on a thread, once the role has started (requests wait till then)."""
        assert self._server is not None, "bind() first"
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gw-metrics", daemon=True
        )
        self._thread.start()

    def start(self) -> str:
        """Bind and serve; return host:port."""
        self.bind()
        self.serve()
        return self.address

    def close(self) -> None:
        """Stop serving; never waits on the event loop's thread for a client."""
        server, self._server = self._server, None
        if server is not None and self._thread is None:  # bound, never served
            server.server_close()
        elif server is not None:
            # shutdown() waits for serve_forever to notice (half a second at most):
            # on a thread of its own, so that the loop that called close() goes on
            def stop() -> None:
                server.shutdown()
                server.server_close()

            threading.Thread(target=stop, name="gw-metrics-stop", daemon=True).start()

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the role's event loop (from the server's thread) and return its result."""
        assert self._loop is not None
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the waiting thread
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=LOOP_DEADLINE)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            status, text = self._probe(lambda: (True, ""), "ok")
        elif path == "/readyz":
            status, text = self._probe(self.ready, "ready")
        else:
            status, text = "404 Not Found", "not found: /metrics, /healthz or /readyz\n"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [text.encode()]

    def _probe(self, check: Callable[[], Readiness], word: str) -> tuple[str, str]:
        try:
            ok, why = self.on_loop(check)
        except (concurrent.futures.TimeoutError, RuntimeError) as exc:  # a stuck or closed loop
            return "503 Service Unavailable", f"event loop not answering: {exc or 'timeout'}\n"
        if ok:
            return "200 OK", f"{word}\n"
        return "503 Service Unavailable", f"not {word}: {why}\n"
