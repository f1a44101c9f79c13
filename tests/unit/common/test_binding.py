"""common.binding: who holds a port (read from a /proc we make), and the one line."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import zmq

from common.binding import check_free, command_of, holder, listening_inodes, refusal
from common.exceptions import ConfigError

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"  # noqa: E501


def tcp_line(port: int, state: str, inode: int) -> str:
    return (
        f"   0: 0100007F:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 "
        f"00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
    )


def fake_proc(tmp_path: Path) -> Path:
    """pid 10 is ``gw up`` (pid 1's child); pid 11, its child, listens on port 1236;
    pid 12 has a connected socket (inode 77) on the same port, not a listener."""
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "tcp").write_text(
        TCP_HEADER + tcp_line(1236, "0A", 555) + tcp_line(1236, "01", 77)
    )
    (proc / "net" / "tcp6").write_text(TCP_HEADER)
    python = "/opt/venv/bin/python3.11"
    for pid, parent, argv, inodes in [
        (10, 1, [python, "-m", "common.cli", "up", "--app", "examples.chat.worker.app"], []),
        (11, 10, [python, "-m", "common.cli", "register", "--listen", "127.0.0.1:1236"], [555]),
        (12, 1, ["/usr/bin/curl", "http://127.0.0.1:1236/"], [77]),
    ]:
        (proc / str(pid) / "fd").mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
        (proc / str(pid) / "stat").write_text(f"{pid} (py thon) S {parent} {pid} 0 0\n")
        for fd, inode in enumerate(inodes, start=3):
            os.symlink(f"socket:[{inode}]", proc / str(pid) / "fd" / str(fd))
    return proc


def test_only_listeners_on_the_port_count(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path)
    assert listening_inodes(1236, proc) == {"555"}
    assert listening_inodes(1237, proc) == set()


def test_the_holder_is_named_with_the_gw_command_that_started_it(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path)
    held = holder(1236, proc)
    assert str(held) == (
        "pid 11 (gw register --listen 127.0.0.1:1236), started by pid 10 "
        "(gw up --app examples.chat.worker.app)"
    )
    assert held is not None and "Ctrl-C where that `gw up` runs" in held.what_to_do
    assert holder(8080, proc) is None


def test_what_to_do_depends_on_who_holds_the_port(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path)
    python = "/opt/venv/bin/python3.11"
    argv = [python, "-m", "common.cli", "up", "--control", "run/gw.sock", "--app", "a"]
    (proc / "10" / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    held = holder(1236, proc)
    assert held is not None and held.background and "`make stop`" in held.what_to_do
    os.symlink("socket:[555]", proc / "12" / "fd" / "9")  # curl holds the listener
    (proc / "11" / "fd" / "3").unlink()
    other = holder(1236, proc)
    assert other is not None and other.pid == other.top == 12
    assert other.what_to_do == "Stop that process" and str(other).startswith("pid 12 (curl")


def test_a_command_line_is_shown_as_typed_and_shortened(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path)
    assert command_of(12, proc) == "curl http://127.0.0.1:1236/"
    assert command_of(99, proc) == "?"
    (proc / "13").mkdir()
    (proc / "13" / "cmdline").write_bytes(b"/venv/bin/python\0/venv/bin/gw\0worker\0" + b"x" * 100)
    shown = command_of(13, proc)
    assert shown.startswith("gw worker x") and shown.endswith("...") and len(shown) == 80


def test_this_process_is_found_as_the_holder_of_its_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert str(holder(port)).startswith(f"pid {os.getpid()} (")


def test_each_bind_error_is_one_line_that_says_what_to_do() -> None:
    busy = refusal(
        OSError(errno.EADDRINUSE, "in use"), "127.0.0.1:1", "the WebSocket port", "--listen"
    )
    assert str(busy).startswith("cannot listen on 127.0.0.1:1 (the WebSocket port, --listen): ")
    assert "already in use" in str(busy) and "another --listen" in str(busy)
    elsewhere = refusal(
        zmq.ZMQError(errno.EADDRNOTAVAIL),
        "192.0.2.1:2900",
        "the internal port",
        "--start-port",
        "--lan-ip",
        "Use --internal-listen.",
    )
    assert str(elsewhere) == (
        "cannot listen on 192.0.2.1:2900 (the internal port, --lan-ip): 192.0.2.1 is not an "
        "address of this host. Use --internal-listen."
    )
    denied = refusal(PermissionError(errno.EACCES, "denied"), "0.0.0.0:80", "x", "--listen")
    assert "below 1024" in str(denied)
    other = refusal(OSError(errno.EMFILE, "Too many open files"), "h:1", "x", "--listen")
    assert isinstance(other, ConfigError) and str(other).endswith(": Too many open files")
    assert all("\n" not in str(e) for e in (busy, elsewhere, denied, other))


def test_check_free_refuses_a_busy_port_and_passes_a_free_one() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        try:
            check_free(f"127.0.0.1:{port}", "the register's port", "--register-listen")
        except ConfigError as exc:
            assert "another --register-listen" in str(exc)
        else:
            raise AssertionError("a busy port passed")
    check_free(f"127.0.0.1:{port}", "the register's port", "--register-listen")  # free now
    check_free("127.0.0.1:0", "any", "--listen")  # port 0 is always free
