"""What a machine allows a load of N clients, checked before S8 starts (pure checks,
and their reading from this machine).

A run that would hit a limit says which one, and the setting or option that moves it,
instead of failing half-way with a traceback or hanging: every connection is an open
file on both sides (a process may hold ``RLIMIT_NOFILE`` of them, the system
``fs.file-max``), needs a local port of its source address (per destination, from
``net.ipv4.ip_local_port_range``), a place in a listening socket's backlog while it
waits to be accepted (``net.core.somaxconn``) and, where the kernel tracks
connections, an entry in ``nf_conntrack``. A connect that fails anyway is named
after the limit behind it (:func:`cause`).
"""

from __future__ import annotations

import errno
import math
import resource
from dataclasses import dataclass
from pathlib import Path

SYSCTL = Path("/proc/sys")
PROCESS_OVERHEAD = 200  # descriptors a process needs besides its connections


@dataclass(frozen=True)
class Readings:
    """This machine's limits (``None``: not readable here)."""

    nofile_soft: int
    nofile_hard: int
    nr_open: int | None
    file_max: int | None
    files_open: int | None  # open files in the whole system now
    somaxconn: int | None
    port_range: tuple[int, int] | None
    conntrack_max: int | None
    conntrack_count: int | None

    def sysctls(self) -> dict[str, str]:
        """The settings as ``sysctl`` names them, for the report."""
        named = {
            "RLIMIT_NOFILE (soft/hard)": f"{self.nofile_soft}/{self.nofile_hard}",
            "fs.nr_open": self.nr_open,
            "fs.file-max": self.file_max,
            "net.core.somaxconn": self.somaxconn,
            "net.ipv4.ip_local_port_range": self.port_range and "{}-{}".format(*self.port_range),
            "net.netfilter.nf_conntrack_max": self.conntrack_max,
        }
        return {k: str(v) for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class Plan:
    clients: int
    gateway_procs: int  # WebSocket server processes, sharing the clients
    crowd_procs: int  # load-generator processes
    sources: int  # distinct source addresses the load generator connects from
    destinations: int  # listening addresses (host:port) the clients are spread over
    concurrency: int  # handshakes in flight per load-generator process


def problems(r: Readings, plan: Plan) -> tuple[list[str], list[str]]:
    """(what stops this plan, what may slow it), each naming its limit and the fix."""
    stop: list[str] = []
    slow: list[str] = []
    per_crowd = math.ceil(plan.clients / plan.crowd_procs) + PROCESS_OVERHEAD
    per_gateway = math.ceil(plan.clients / plan.gateway_procs) + PROCESS_OVERHEAD
    for who, need, option, count in (
        ("load-generator", per_crowd, "--crowd-procs", plan.crowd_procs),
        ("gateway", per_gateway, "--gateway-procs", plan.gateway_procs),
    ):
        if need > r.nofile_hard:
            enough = math.ceil(plan.clients / (r.nofile_hard - PROCESS_OVERHEAD))
            stop.append(
                f"each {who} process needs about {need:,} open files, over RLIMIT_NOFILE's "
                f"hard limit of {r.nofile_hard:,} (raise it: ulimit -Hn, LimitNOFILE=; or "
                f"spread the clients: {option} {max(enough, count + 1)})"
            )
    if r.nr_open is not None and max(per_crowd, per_gateway) > r.nr_open:
        stop.append(
            f"fs.nr_open {r.nr_open:,} caps every process's RLIMIT_NOFILE below "
            f"{max(per_crowd, per_gateway):,}: sysctl -w fs.nr_open=..."
        )
    if r.file_max is not None:
        need = 2 * plan.clients + 10_000 + (r.files_open or 0)
        if need > r.file_max:
            stop.append(
                f"fs.file-max {r.file_max:,}: {plan.clients:,} connections need about "
                f"{need:,} open files in all (both ends): sysctl -w fs.file-max="
                f"{need * 2}"
            )
    if r.port_range is not None:
        ports = r.port_range[1] - r.port_range[0] + 1
        per_source = math.ceil(plan.clients / plan.sources)
        room = ports * plan.destinations
        if per_source > room:
            stop.append(
                f"net.ipv4.ip_local_port_range {r.port_range[0]}-{r.port_range[1]} gives "
                f"{ports:,} ports per source address and destination: {per_source:,} clients "
                f"per source address over {plan.destinations} destinations need "
                f"{math.ceil(plan.clients / room)} source addresses (--crowd-procs: one each)"
            )
    if r.conntrack_max is not None:
        need = plan.clients + (r.conntrack_count or 0) + 1000
        if need > r.conntrack_max:
            stop.append(
                f"net.netfilter.nf_conntrack_max {r.conntrack_max:,}: the kernel tracks "
                f"every connection, {need:,} needed (new ones are dropped past it): "
                f"sysctl -w net.netfilter.nf_conntrack_max={need * 2}"
            )
    in_flight = plan.concurrency * plan.crowd_procs
    if r.somaxconn is not None and r.somaxconn < in_flight:
        slow.append(
            f"net.core.somaxconn {r.somaxconn} is under the {in_flight} handshakes in "
            "flight: a burst over a listening socket's backlog is dropped and retried "
            "a second later (sysctl -w net.core.somaxconn=4096)"
        )
    return stop, slow


def _read(name: str) -> str | None:
    try:
        return (SYSCTL / name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def _int(name: str) -> int | None:
    text = _read(name)
    return int(text.split()[0]) if text else None


def read() -> Readings:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ports = _read("net.ipv4.ip_local_port_range")
    low, high = (int(v) for v in ports.split()) if ports else (0, 0)
    file_nr = _read("fs.file-nr")
    return Readings(
        nofile_soft=soft,
        nofile_hard=hard,
        nr_open=_int("fs.nr_open"),
        file_max=_int("fs.file-max"),
        files_open=int(file_nr.split()[0]) if file_nr else None,
        somaxconn=_int("net.core.somaxconn"),
        port_range=(low, high) if ports else None,
        conntrack_max=_int("net.netfilter.nf_conntrack_max"),
        conntrack_count=_int("net.netfilter.nf_conntrack_count"),
    )


CAUSES = {
    errno.EMFILE: "EMFILE: this process's open-file limit (RLIMIT_NOFILE)",
    errno.ENFILE: "ENFILE: the system's open-file limit (fs.file-max)",
    errno.EADDRNOTAVAIL: "EADDRNOTAVAIL: no local port left (net.ipv4.ip_local_port_range; "
    "use more source addresses)",
    errno.ECONNREFUSED: "ECONNREFUSED: nobody listening, or its backlog full (net.core.somaxconn)",
    errno.ETIMEDOUT: "ETIMEDOUT: no answer to the SYN (backlog full: net.core.somaxconn, "
    "net.ipv4.tcp_max_syn_backlog)",
    errno.ECONNRESET: "ECONNRESET: reset during the handshake (a full accept queue: "
    "net.core.somaxconn, the server's backlog)",
}


def cause(exc: BaseException) -> str:
    """A failure's cause, named after the limit or setting behind it where one is."""
    if isinstance(exc, OSError) and exc.errno in CAUSES:
        return CAUSES[exc.errno]
    if isinstance(exc, TimeoutError):
        return "timeout (60 s)"
    text = str(exc)
    if text.startswith("HTTP/1.1 "):
        return "HTTP " + text[9:]
    return f"{type(exc).__name__}: {text}"[:120]
