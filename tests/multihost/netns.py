"""Hosts made of Linux network namespaces, joined by a switch, that a test can cut.

Every host is a namespace with one interface (``eth0``, 10.77.0.x/24) whose other end
sits on a bridge in a namespace of its own (the switch): the machine's own network
is never touched, and two runs side by side (their namespaces are named after the
test process) cannot see each other. Cutting a host downs its port on the switch:
its packets are dropped without a FIN or an RST, as when a cable is pulled.

Processes run in a host with ``ip netns exec`` (the harness's
:class:`~tests.harness.ReadyProcess`); sockets of the test process itself are made
in a host by a thread that joined its namespace (:meth:`Network.connect`).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import itertools
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness import ROOT, ReadyProcess

SUBNET = "10.77.0"
CLONE_NEWNET = 0x40000000
PREFIX = "gwmh"  # every namespace of ours: gwmh<pid>-<network>-<host>
_networks = itertools.count(1)


def unavailable() -> str | None:
    """Why namespaces cannot be made here; None if they can."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *(["-n", namespace] if namespace else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


def forget_stale() -> None:
    """Delete the namespaces of earlier runs whose process is gone (a killed run)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@dataclass
class Host:
    name: str  # the test's name for it: "register", "gw1"...
    namespace: str
    address: str  # its IPv4 on the switch
    port: str  # its interface on the switch


class Network:
    """A switch and hosts on it; :meth:`close` deletes everything it made."""

    def __init__(self, names: list[str]) -> None:
        self.tag = f"{PREFIX}{os.getpid()}-{next(_networks)}"
        self.switch = f"{self.tag}-switch"
        self.hosts: dict[str, Host] = {}
        self._threads: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        forget_stale()
        ip("netns", "add", self.switch)
        try:
            ip("link", "add", "br0", "type", "bridge", namespace=self.switch)
            ip("link", "set", "br0", "up", namespace=self.switch)
            for index, name in enumerate(names, start=1):
                self._add(name, index)
        except BaseException:
            self.close()
            raise

    def _add(self, name: str, index: int) -> None:
        host = Host(name, f"{self.tag}-{name}", f"{SUBNET}.{index}", f"p{index}")
        ip("netns", "add", host.namespace)
        self.hosts[name] = host
        # both ends made in place: nothing appears in the machine's own namespace
        ip(
            "link",
            "add",
            host.port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.namespace,
            namespace=self.switch,
        )
        ip("link", "set", host.port, "master", "br0", "up", namespace=self.switch)
        ip("addr", "add", f"{host.address}/24", "dev", "eth0", namespace=host.namespace)
        ip("link", "set", "eth0", "up", namespace=host.namespace)
        ip("link", "set", "lo", "up", namespace=host.namespace)

    def address(self, name: str) -> str:
        return self.hosts[name].address

    def cut(self, name: str) -> None:
        """Drop everything to and from ``name`` (no FIN, no RST) until :meth:`restore`."""
        ip("link", "set", self.hosts[name].port, "down", namespace=self.switch)

    def restore(self, name: str) -> None:
        ip("link", "set", self.hosts[name].port, "up", namespace=self.switch)

    def restore_all(self) -> None:
        for name in self.hosts:
            self.restore(name)

    def process(
        self, name: str, label: str, *command: str, env: dict[str, str] | None = None
    ) -> ReadyProcess:
        """Start ``command`` in host ``name`` (it prints a ready line when serving)."""
        host = self.hosts[name]
        return ReadyProcess(
            ["ip", "netns", "exec", host.namespace, *command],
            label,
            env={"GW_TEST_HOST": name, **(env or {})},
            cwd=ROOT,
        )

    def gw(self, name: str, *args: str, env: dict[str, str] | None = None) -> ReadyProcess:
        """A ``gw`` command in host ``name``."""
        return self.process(
            name, f"gw {args[0]}@{name}", sys.executable, "-m", "common.cli", *args, env=env
        )

    def connect(self, name: str, address: str, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP socket of this process, made and connected inside host ``name``."""
        pool = self._threads.get(name)
        if pool is None:
            path = f"/run/netns/{self.hosts[name].namespace}"
            pool = concurrent.futures.ThreadPoolExecutor(1, initializer=_enter, initargs=(path,))
            self._threads[name] = pool

        def make() -> socket.socket:
            sock = socket.create_connection((address, port), timeout)
            sock.setblocking(False)
            return sock

        return pool.submit(make).result(timeout + 5)

    def close(self) -> None:
        """Delete every namespace made (their interfaces go with them)."""
        for pool in self._threads.values():
            pool.shutdown(wait=False)
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "delete", host.namespace], capture_output=True)
        subprocess.run(["ip", "netns", "delete", self.switch], capture_output=True)


def _enter(path: str) -> None:
    """In a pool's thread: join the network namespace at ``path`` for good."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns({path}): {os.strerror(error)}")
    finally:
        os.close(fd)
