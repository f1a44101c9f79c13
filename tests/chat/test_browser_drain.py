"""A gateway drains under the page (a deploy): the page is back at once, elsewhere.

Two gateways share one port (SO_REUSEPORT, as ``gw gateway --count 2`` runs them);
the one holding the page's connection is drained with ``gw drain``: it closes the
page with 1012, and the page reconnects at once (a jitter under a second, no
back-off) to the other one, and is online there.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.harness import ROOT, UNIT, Cluster, free_port, run_gw

from .browser import WAIT, browser, chromium, needs_chromium, open_page, sign_in, site
from .support import APP, AUTH_SECRET, ChatCluster

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatCluster]:
    """Register, two gateways on one port, one chat worker."""
    cluster = Cluster()
    try:
        register = cluster.register()
        port = free_port()
        gateways = [
            cluster.start(
                "gateway",
                "--listen",
                f"127.0.0.1:{port}",
                "--start-port",
                "0",
                "--register",
                register.info["listen"],
                "--heartbeat",
                "0.2",
                "--ws-ping-interval",
                "0",
                "--drain-time",
                "1",
                # GW_REUSE_PORT: main's gateways share a port only when asked (older
                # ones always did, and ignore the variable)
                env={"GW_AUTH_SECRET": AUTH_SECRET, "GW_AUTH_OPTIONAL": "1", "GW_REUSE_PORT": "1"},
            )
            for _ in range(2)
        ]
        worker = cluster.start(
            "worker", "--app", APP, "--register", register.info["listen"], "--heartbeat", "0.2"
        )
        yield ChatCluster(register, gateways[0], worker)
    finally:
        cluster.stop_all()


def gateway_statuses(chat: ChatCluster) -> dict[str, dict]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "common.cli",
            "status",
            "--json",
            "--register",
            chat.register_address,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        check=True,
    )
    return json.loads(result.stdout)["gateways"]  # type: ignore[no-any-return]


async def test_the_page_comes_back_at_once_when_its_gateway_drains(chat, site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_page(browser, site.url, errors)
    await sign_in(page, "排水者")
    connects = await page.evaluate("window.__chat.link.connects")
    await page.evaluate("""() => {  // every state the connection badge goes through
        window.__states = [];
        const conn = document.querySelector("#conn");
        new MutationObserver(() => window.__states.push(conn.dataset.state))
            .observe(conn, {attributes: true, attributeFilter: ["data-state"]});
    }""")
    statuses = await asyncio.to_thread(gateway_statuses, chat)
    (holding,) = [address for address, s in statuses.items() if s["clients"] == 1]
    drain = await asyncio.to_thread(run_gw, "drain", "--gateway", holding)
    assert drain.returncode == 0, drain.stderr
    await page.wait_for_function(f"() => window.__chat.link.connects > {connects}", timeout=WAIT)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT)
    states = await page.evaluate("window.__states")
    assert "offline" not in states and states[-1] == "online", states  # no back-off on 1012
    statuses = await asyncio.to_thread(gateway_statuses, chat)
    assert holding not in statuses  # drained and gone
    assert [s["clients"] for s in statuses.values()] == [1]  # the page, on the other one
    assert errors == []
