"""Why a port could not be bound, in one line: who holds it and what to do.

A second ``make run`` (or ``gw gateway`` on a busy port, or a ``--lan-ip`` that is not
this host's) must not end in a traceback: every role binds through :func:`refusal`,
which turns the socket's or libzmq's error into a :class:`~common.exceptions.ConfigError`
naming the address, the option that chose it, the process that holds the port (read
from ``/proc`` where this user may read it) and what to do. The CLI prints it as one
line and exits 2.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from .exceptions import ConfigError

PROC = Path("/proc")
LISTEN = "0A"  # the TCP state "listen" in /proc/net/tcp
NOT_AN_ADDRESS = (errno.EADDRNOTAVAIL, errno.EINVAL)
GW_ENTRY = ("-m", "common.cli")  # how a supervisor starts a role: python -m common.cli


def listening_inodes(port: int, proc: Path = PROC) -> set[str]:
    """The socket inodes listening on TCP ``port`` (any address, IPv4 or IPv6)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == LISTEN
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def _argv(pid: int, proc: Path) -> list[str]:
    try:
        argv = (proc / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
    return [a for a in argv if a]


def command_of(pid: int, proc: Path = PROC) -> str:
    """A process's command line as a person would type it (``gw up ...``), shortened."""
    argv = _argv(pid, proc)
    if not argv:
        return "?"
    for i, arg in enumerate(argv):
        if tuple(argv[i : i + 2]) == GW_ENTRY or (i < 2 and os.path.basename(arg) == "gw"):
            argv = ["gw", *argv[i + (2 if arg == "-m" else 1) :]]
            break
    else:
        if argv:
            argv[0] = os.path.basename(argv[0])
    line = " ".join(" ".join(argv).split())  # one line, whatever its arguments hold
    return line if len(line) <= 80 else line[:77] + "..."


def _parent(pid: int, proc: Path) -> int:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return 0
    return int(stat.rpartition(")")[2].split()[1])  # the name may hold spaces and ')'


@dataclass(frozen=True, slots=True)
class Holder:
    """Who listens on a port, and the ``gw`` command that started it (itself if none)."""

    pid: int
    command: str
    top: int
    top_command: str
    background: bool  # the top is a gw up that gw start (make start) started

    def __str__(self) -> str:
        """``pid 12 (gw register ...), started by pid 9 (gw up ...)``."""
        text = f"pid {self.pid} ({self.command})"
        if self.top != self.pid:
            text += f", started by pid {self.top} ({self.top_command})"
        return text

    @property
    def what_to_do(self) -> str:
        """How to stop it, for the kind of process it is."""
        if not self.top_command.startswith("gw up"):
            return "Stop that process"
        if self.background:
            return "Stop that cluster (`make stop`, or `gw stop` in the folder it was started from)"
        return "Stop that cluster (Ctrl-C where that `gw up` runs, as `make run`)"


def holder(port: int, proc: Path = PROC) -> Holder | None:
    """Who listens on ``port`` (None: nobody this user can see)."""
    inodes = listening_inodes(port, proc)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    return _describe(int(entry.name), proc)
            except OSError:
                continue
    return None


def _describe(pid: int, proc: Path) -> Holder:
    top, parent = pid, _parent(pid, proc)
    while parent > 1 and command_of(parent, proc).startswith("gw "):
        top, parent = parent, _parent(parent, proc)
    return Holder(
        pid, command_of(pid, proc), top, command_of(top, proc), "--control" in _argv(top, proc)
    )


def _errno(exc: BaseException) -> int | None:
    number = getattr(exc, "errno", None)
    return number if isinstance(number, int) else None


def refusal(
    exc: BaseException,
    address: str,
    what: str,
    option: str,
    host_option: str = "",
    not_here: str = "",
) -> ConfigError:
    """The one-line error for a failed bind of ``address`` (``host:port``).

    ``what`` says which port it is ("the WebSocket port"), ``option`` the option
    that chose it (``--listen``), so the line says what to change; ``host_option``
    the one that chose the host, if another, and ``not_here`` what to do when that
    host is not an address of this machine (the default: name one).
    """
    number = _errno(exc)
    host, _, port = address.rpartition(":")
    if number in NOT_AN_ADDRESS and host_option:
        option = host_option
    where = f"cannot listen on {address} ({what}, {option})"
    if number == errno.EADDRINUSE:
        held = holder(int(port)) if port.isdigit() and int(port) else None
        if held is None:
            return ConfigError(
                f"{where}: the port is already in use (who holds it could not be found). "
                f"Stop it (`make stop` for a cluster started with `make start`, Ctrl-C "
                f"where `make run` runs) or choose another {option}."
            )
        return ConfigError(
            f"{where}: the port is already in use by {held}. {held.what_to_do} or choose "
            f"another {option}."
        )
    if number in NOT_AN_ADDRESS:
        return ConfigError(
            f"{where}: {host} is not an address of this host. "
            + (not_here or "Give one of its own (`ip -4 addr`), or 0.0.0.0 for all of them.")
        )
    if number == errno.EACCES:
        return ConfigError(
            f"{where}: permission denied (ports below 1024 need root or "
            f"CAP_NET_BIND_SERVICE); choose another {option}."
        )
    return ConfigError(f"{where}: {getattr(exc, 'strerror', None) or exc}")


def check_free(address: str, what: str, option: str) -> None:
    """Refuse (:func:`refusal`) if ``address`` cannot be listened on now: for a command
    that starts several processes, before it starts any (port 0 is always free)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise refusal(exc, address, what, option) from None
