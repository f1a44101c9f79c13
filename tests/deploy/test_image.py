"""deploy/Dockerfile, built and run: the whole cluster in one container serves a
WebSocket client of this host and stops gracefully; the chat's backend serves the page's
JavaScript client from the image's copy.

Needs a running Docker engine (``make test`` starts one as root: ``make engine``) and
the Dockerfile's base image (no registry is reachable here: made first, as root, by
``make image-base`` from Debian's packages, ~45 s); skipped, with the reason, otherwise
(the other tests of deploy/ read the Dockerfile without an engine). The containers use
the host's network (an engine started with ``--bridge=none`` has no other), every port
chosen by the OS.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from tests.harness import ANY_PORTS

from .support import DEPLOY, ROOT, UNIT

TAG = "gatewayworker-py:test"
BASE = "python:3.11-slim-bookworm"

pytestmark = pytest.mark.timeout(700 * UNIT)  # (the first: the base image and the build)


def docker(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout * UNIT,
        check=False,
        env=env,
    )


def _why_not() -> str | None:
    """Why the image cannot be built here, or None; the base image made first where it
    is missing (``make image-base``: from Debian's packages, as root)."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "no docker command here"
    if info.returncode != 0:
        return "no Docker engine is running (make engine starts one, as root)"
    if docker("image", "inspect", BASE, timeout=20).returncode == 0:
        return None
    if os.geteuid() != 0:
        return f"the base image {BASE} is not here, and `make image-base` needs root"
    return _make_base(timeout=300 * UNIT)


def _make_base(timeout: float) -> str | None:
    """``make image-base`` (its own process group: debootstrap too is stopped if it
    takes too long); why not, if it failed. Debian's mirror out of reach or too slow
    is a missing part, as a missing engine is: a skip, not a failure."""
    make = subprocess.Popen(
        ["make", "-s", "image-base"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")},
    )
    try:
        out, _ = make.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(make.pid, signal.SIGKILL)
        make.communicate()
        return f"the base image {BASE} was not made in {timeout:g} s (make image-base)"
    if make.returncode != 0:
        last = out.strip().splitlines()[-1:] or ["no output"]
        return f"the base image {BASE} could not be made (make image-base): {last[0]}"
    return None


@pytest.fixture(scope="module")
def image() -> str:
    why = _why_not()
    if why is not None:
        pytest.skip(why)
    # without buildx, the classic builder (DOCKER_BUILDKIT=0) builds the same Dockerfile
    buildx = docker("buildx", "version", timeout=20).returncode == 0
    built = docker(
        "build",
        "--network=host",
        "-f",
        str(DEPLOY / "Dockerfile"),
        "-t",
        TAG,
        str(ROOT),
        timeout=240,
        env=None if buildx else {**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    return TAG


@pytest.fixture
def container(image: str) -> Iterator[list[str]]:
    """Names of the containers a test runs: removed at the end, whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", name)


def run(names: list[str], *args: str) -> str:
    name = f"gw-test-{secrets.token_hex(4)}"
    names.append(name)
    started = docker("run", "-d", "--name", name, "--network=host", *args)
    assert started.returncode == 0, started.stderr
    return name


def ready(name: str, timeout: float = 60) -> dict:
    """The container's GW-READY line (polled: another process's log)."""
    deadline = time.monotonic() + timeout * UNIT
    while True:
        logs = docker("logs", name)
        for line in (logs.stdout + logs.stderr).splitlines():
            if line.startswith("GW-READY "):
                return json.loads(line.removeprefix("GW-READY "))  # type: ignore[no-any-return]
        state = docker("inspect", name, "--format", "{{.State.Running}}").stdout.strip()
        assert state == "true", (logs.stdout + logs.stderr)[-3000:]
        assert time.monotonic() < deadline, (logs.stdout + logs.stderr)[-3000:]
        time.sleep(0.1)


def test_the_whole_cluster_runs_from_the_image_and_stops_gracefully(
    container: list[str],
) -> None:
    name = run(
        container,
        TAG,
        "up",
        "--app",
        "examples.echo.app",
        *ANY_PORTS,
    )
    info = ready(name)
    (gateway,) = [p for p in info["processes"] if p["role"] == "gateway"]

    async def echo() -> list[str]:
        async with connect(f"ws://{gateway['websocket']}/", open_timeout=10 * UNIT) as ws:
            await ws.send("from the host")
            return [str(await asyncio.wait_for(ws.recv(), 10 * UNIT)) for _ in range(2)]

    assert "from the host" in asyncio.run(echo())  # (the other: the app's greeting)
    assert docker("stop", "--time", "30", name, timeout=60).returncode == 0
    assert docker("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"
    logs = docker("logs", name)
    assert "stopped 4 processes, each exited 0" in logs.stdout + logs.stderr


def test_the_chat_backend_serves_the_pages_client_from_the_image(
    container: list[str],
) -> None:
    name = run(
        container,
        "-e",
        f"GW_AUTH_SECRET={secrets.token_urlsafe(32)}",  # in the environment, not argv
        "--entrypoint",
        "python",
        TAG,
        "-m",
        "examples.chat.web",
        "--listen",
        "127.0.0.1:0",
        "--db",
        "/data/chat.sqlite3",
    )
    listen = ready(name)["listen"]
    with urllib.request.urlopen(f"http://{listen}/static/gateway-client.js", timeout=10) as got:
        served = got.read()
    assert served == (ROOT / "clients" / "js" / "gateway-client.js").read_bytes()
    with urllib.request.urlopen(f"http://{listen}/", timeout=10) as page:
        assert page.status == 200 and b"<html" in page.read().lower()
