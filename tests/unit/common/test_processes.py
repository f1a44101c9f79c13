"""common.processes: a cluster's processes from /proc, named by their gw command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.processes import PAGE, Process, name_of, tree


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["/srv/.venv/bin/python", "/srv/.venv/bin/gw", "worker", "--app", "x"], "worker"),
        (["python3", "-m", "common.cli", "gateway", "--listen", "0.0.0.0:8282"], "gateway"),
        (
            ["/usr/bin/python", "-m", "examples.chat.web", "--listen", "127.0.0.1:8080"],
            "examples.chat.web",
        ),
        (["gw", "status"], "gw status"),
        (["/usr/sbin/nginx"], "nginx"),
        ([], "?"),
    ],
)
def test_a_process_is_named_by_its_gw_command(argv: list[str], name: str) -> None:
    assert name_of(argv) == name


def _process(proc: Path, pid: int, parent: int, argv: list[str], rss_kb: int) -> None:
    entry = proc / str(pid)
    entry.mkdir()
    (entry / "stat").write_text(f"{pid} (py (x) y) S {parent} 1 1 0\n")  # a comm with ") "
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    pages = rss_kb * 1024 // PAGE
    (entry / "statm").write_text(f"{pages * 3} {pages} 0 0 0 0 0\n")  # size, resident...


def test_the_tree_under_a_supervisor_with_each_ones_memory(tmp_path: Path) -> None:
    _process(tmp_path, 10, 1, ["gw", "up"], 1000)
    _process(tmp_path, 11, 10, ["gw", "register"], 2000)
    _process(tmp_path, 12, 10, ["gw", "worker", "--count", "2"], 3000)
    _process(tmp_path, 13, 12, ["gw", "worker"], 4000)  # a child of the worker supervisor
    _process(tmp_path, 20, 1, ["gw", "gateway"], 5000)  # another cluster's
    (tmp_path / "self").mkdir()  # not a pid
    assert tree(10, tmp_path) == [
        Process(10, "up", 1000 * 1024),
        Process(11, "register", 2000 * 1024),
        Process(12, "worker", 3000 * 1024),
        Process(13, "worker", 4000 * 1024),
    ]
    assert tree(99, tmp_path) == []  # gone


def test_this_process_is_found_in_the_real_proc() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc here")
    (me,) = tree(os.getpid())[:1]
    assert me.pid == os.getpid() and me.rss_bytes > 0
