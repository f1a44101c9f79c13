"""The namespaces helper itself: when it cannot run, and what it leaves behind."""

from __future__ import annotations

import subprocess

import pytest

from tests.multihost import netns
from tests.multihost.netns import Network


def test_without_root_the_suite_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.unavailable() == "making network namespaces needs root"


def test_without_iproute2_the_suite_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    reason = netns.unavailable()
    assert reason is not None and "iproute2" in reason


def namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


def test_a_network_cleans_up_after_itself_and_cuts_for_real() -> None:
    before = namespaces()
    network = Network(["a", "b"])
    try:
        made = namespaces() - before
        assert made == {network.switch, *(h.namespace for h in network.hosts.values())}
        server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                network.hosts["b"].namespace,
                "python3",
                "-c",
                "import socket; s = socket.create_server(('10.77.0.2', 7000)); "
                "print('up', flush=True); [s.accept()[0].close() for _ in range(2)]",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None and server.stdout.readline() == "up\n"
            network.connect("a", network.address("b"), 7000).close()
            network.cut("b")
            with pytest.raises(TimeoutError):  # dropped, not refused: the connect times out
                network.connect("a", network.address("b"), 7000, timeout=0.5)
            network.restore("b")
            network.connect("a", network.address("b"), 7000).close()
        finally:
            server.kill()
            server.wait()
            assert server.stdout is not None
            server.stdout.close()
    finally:
        network.close()
    assert namespaces() & made == set()
