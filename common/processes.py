"""The processes of a cluster running on this machine, read from /proc (Linux; nothing
elsewhere): each descendant of a supervisor, named by its ``gw`` command, with its
resident memory. ``gw status`` shows them for a cluster ``gw start`` runs, the
workers' and the register's memory included (the gateways report their own)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
ROLES = ("register", "gateway", "worker", "api", "up")  # gw's commands that run a role


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    name: str  # the gw command (register, gateway...), or what else it runs
    rss_bytes: int


def rss_bytes(pid: int | str = "self", proc: Path = PROC) -> int:
    """A process's resident memory (this one's by default); OSError where /proc
    cannot tell (the process is gone, or this is not Linux)."""
    return int((proc / str(pid) / "statm").read_text().split()[1]) * PAGE


def name_of(argv: list[str]) -> str:
    """What a process runs, from its command line (pure): the ``gw`` command of a role
    (``gw worker ...``, ``python -m common.cli worker ...``), else the module it runs
    (``python -m examples.chat.web``), else its program."""
    for i, arg in enumerate(argv):
        if (os.path.basename(arg) == "gw" or arg == "common.cli") and i + 1 < len(argv):
            return argv[i + 1] if argv[i + 1] in ROLES else f"gw {argv[i + 1]}"
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    return os.path.basename(argv[0]) if argv else "?"


def tree(root: int, proc: Path = PROC) -> list[Process]:
    """``root`` and every process under it, in pid order; [] where /proc cannot tell."""
    parents: dict[int, int] = {}
    for entry in proc.glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid ...": the command may hold spaces and parentheses
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    wanted, found = {root}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                found = True
    processes = []
    for pid in sorted(wanted & parents.keys()):
        try:
            argv = (proc / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            rss = rss_bytes(pid, proc)
        except OSError:  # gone meanwhile
            continue
        processes.append(Process(pid, name_of([a.decode(errors="replace") for a in argv]), rss))
    return processes
