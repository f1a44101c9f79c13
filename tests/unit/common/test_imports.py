"""The pure modules load no I/O library (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
IO_MODULES = ("zmq", "websockets")

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {io!r})))
"""


def loaded_io_modules(module: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, io=IO_MODULES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def test_probe_sees_an_io_import() -> None:
    # the probe itself must be able to tell: importing zmq is reported
    assert "zmq" in loaded_io_modules("zmq")


def test_protocol_loads_neither_zmq_nor_websockets() -> None:
    assert loaded_io_modules("common.protocol") == []


@pytest.mark.parametrize(
    "module",
    [
        "common.ids",
        "common.ops",
        "common.frames",
        "common.ready",
        "gateway.clients",
        "gateway.router",
        "gateway.dispatch",
        "gateway.handshake",
        "register.membership",
    ],
)
def test_pure_modules_load_no_io(module: str) -> None:
    assert loaded_io_modules(module) == []
