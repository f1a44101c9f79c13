"""The JavaScript client (clients/js): its Node tests, run from pytest, and its package.

Each Node test file runs in its own ``node --test`` (TAP output parsed here): the unit
tests of the state machine and of the client on a fake WebSocket and a fake clock, the
type declarations compiled by TypeScript, and the tests against real clusters, which
start ``gw up`` themselves (tests/js/cluster.mjs) with this interpreter. Every test must
pass; a file whose tests Node skipped (no ``ws`` or ``typescript`` installed: ``make
node``) is skipped here with Node's reason, and so is everything without ``node``.
Node runs in a session of its own: whatever it leaves running fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from tests.harness import ROOT, UNIT

CLIENT = ROOT / "clients" / "js"
NODE = shutil.which("node")
NPM = shutil.which("npm")
WHY_NO_NODE = "node is missing: `make node` installs Debian's nodejs and npm (as root)"
SUMMARY = re.compile(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.M)
SKIPPED = re.compile(r"# SKIP (.+)$", re.M)
DIAGNOSTIC = re.compile(r"^\s+# (?:drained|killed) .+$", re.M)

# each file, and the fewest tests it must have passed (a file that lost its tests fails)
FILES = {
    "clients/js/test/lifecycle.test.js": 24,
    "clients/js/test/client.test.js": 22,
    "clients/js/test/types.test.js": 1,
    "tests/js/drain.test.mjs": 1,
    "tests/js/outage.test.mjs": 4,
}


def node(path: str, timeout: float) -> tuple[int, str]:
    """``node --test`` on one file, in a session of its own; (exit code, TAP output)."""
    assert NODE is not None
    env = {**os.environ, "GW_PYTHON": sys.executable}
    with subprocess.Popen(
        [NODE, "--test", "--test-reporter=tap", path],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            raise AssertionError(
                f"node --test {path}: no result within {timeout}s\n{output}"
            ) from None
    # the clusters Node started (gw up and its children) are in its process group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"node --test {path} left processes running (killed):\n{output}")
    return proc.returncode, output


@pytest.mark.skipif(NODE is None, reason=WHY_NO_NODE)
@pytest.mark.timeout(300 * UNIT)
@pytest.mark.parametrize(("path", "fewest"), FILES.items(), ids=list(FILES))
def test_node_test_file(path: str, fewest: int) -> None:
    code, output = node(path, 240 * UNIT)
    counts = {name: int(value) for name, value in SUMMARY.findall(output)}
    assert code == 0 and counts.get("fail") == 0, output
    assert counts["cancelled"] == counts["todo"] == 0, output
    for line in DIAGNOSTIC.findall(output):
        print(line.strip())  # figures: drain and restart times (pytest -s, or -rA)
    reasons = sorted(set(SKIPPED.findall(output)))  # a skipped suite counts no test
    if reasons:
        pytest.skip(f"{counts['pass']} passed, the rest skipped by node: {'; '.join(reasons)}")
    assert counts["pass"] == counts["tests"] >= fewest, output


@pytest.mark.skipif(NPM is None, reason=WHY_NO_NODE)
@pytest.mark.timeout(120 * UNIT)
def test_npm_pack_publishes_the_module_its_types_and_readme_only() -> None:
    pack = subprocess.run(
        [NPM, "pack", "--dry-run", "--json", "--ignore-scripts"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=100 * UNIT,
    )
    assert pack.returncode == 0, pack.stderr
    (packed,) = json.loads(pack.stdout)
    assert sorted(f["path"] for f in packed["files"]) == [
        "LICENSE",
        "README.md",
        "gateway-client.d.ts",
        "gateway-client.js",
        "package.json",
    ]
    manifest = json.loads((CLIENT / "package.json").read_text())
    assert packed["name"] == manifest["name"] and manifest["license"] == "MIT"
    assert manifest["type"] == "module" and not manifest.get("dependencies")
    entry = manifest["exports"]["."]
    assert entry == {"types": manifest["types"], "default": manifest["main"]}
    for path in (manifest["types"], manifest["main"]):
        assert (CLIENT / path).is_file(), path
    # what a browser loads as is: an ES module that imports nothing
    source = (CLIENT / manifest["main"]).read_text()
    assert not re.search(r"^\s*import\b|\brequire\(", source, re.M)
