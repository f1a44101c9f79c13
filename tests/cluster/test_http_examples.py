"""examples/http: the curl, PHP and Node examples, run as a backend developer runs them,
against a real cluster and gw api, with a real WebSocket client that receives the pushes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.cluster.client import Probe
from tests.cluster.httpapi import KEY, HttpApi, start_api
from tests.harness import ROOT, UNIT, Cluster, GwProcess, free_port

EXAMPLES = ROOT / "examples" / "http"
APP = "tests.cluster.apps.probe"
# seed 000's user, as its broadcast shows it
NICKNAME, PHOTO = "南京⌘陆小凤", "http://81.68.107.23/Public/attached/2022/02/05091330275.jpeg"


@dataclass
class Setup:
    gateway: GwProcess
    api: GwProcess

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GW_API_URL": f"http://{self.api.info['listen']}", "GW_API_KEY": KEY}


@pytest.fixture
def setup(gw: Cluster) -> Setup:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    return Setup(gateway, start_api(gw, register))


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * UNIT
    )


async def test_curl(setup: Setup) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    probe = await Probe.open(setup.gateway)
    async with HttpApi(setup.api) as http:
        await http.result("join_group", client_id=probe.client_id, group="room-1")
    done = await asyncio.to_thread(run, ["sh", str(EXAMPLES / "curl.sh"), "hi from sh"], setup.env)
    assert done.returncode == 0, done.stderr
    assert await probe.json() == {"action_type": "notice", "content": "hi from sh"}
    assert await probe.recv() == "hi room-1"
    lines = done.stdout.splitlines()
    assert json.loads(lines[0]) == {"result": None}
    assert json.loads(lines[1]) == {"result": 1, "missing": []}
    assert json.loads(lines[2]) == [{"result": None}, {"result": 1, "missing": []}]
    assert '"code":"invalid_argument"' in lines[3] and lines[3].endswith("(HTTP 400)")


async def test_node_with_plain_fetch(setup: Setup) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    probe = await Probe.open(setup.gateway)
    async with HttpApi(setup.api) as http:
        await http.result("join_group", client_id=probe.client_id, group="room-1")
    done = await asyncio.to_thread(
        run, ["node", str(EXAMPLES / "node" / "push.mjs"), "hi from node"], setup.env
    )
    assert done.returncode == 0, done.stderr
    assert await probe.json() == {"action_type": "notice", "content": "hi from node"}
    assert await probe.recv() == "hi from node (room-1)"
    assert done.stdout.splitlines() == [
        "online: 1",
        "room-1: 1",
        "refused: 400 invalid_argument: join_group: join_group: argument 'client_id': "
        "'not-an-id' is not a client_id (28 lowercase hex digits)",
    ]
    bad_key = {**setup.env, "GW_API_KEY": "not-the-key-0123456789"}
    wrong = await asyncio.to_thread(run, ["node", str(EXAMPLES / "node" / "push.mjs")], bad_key)
    assert wrong.returncode != 0 and "GatewayError: send_to_all: wrong API key" in wrong.stderr


@pytest.fixture
def php_server(setup: Setup, tmp_path: Path) -> Iterator[str]:
    """``php -S`` serving examples/http/php, as in the example's comment."""
    php = shutil.which("php")
    if php is None:
        pytest.skip("php is not installed (make test installs Debian's php-cli as root)")
    port = free_port()
    with (tmp_path / "php.log").open("wb") as log:
        server = subprocess.Popen(
            [
                php,
                "-d",
                f"session.save_path={tmp_path}",
                "-S",
                f"127.0.0.1:{port}",
                "-t",
                str(EXAMPLES / "php"),
            ],
            cwd=ROOT,
            env=setup.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 20 * UNIT
        while True:  # php -S prints no ready line: it serves once its port accepts
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "php.log").read_text()
                assert time.monotonic() < deadline, "php -S never listened"
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10 * UNIT)


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """The page's side: a session that keeps the backend's cookie."""
    # unsafe: keep cookies of an IP address (127.0.0.1), as a browser does
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30 * UNIT), cookie_jar=jar
    ) as session:
        yield session


async def test_php_send2server_adds_the_users_name_and_avatar(
    setup: Setup, php_server: str, browser: aiohttp.ClientSession
) -> None:
    page = await Probe.open(setup.gateway)  # a chat page, connected to the gateway
    async with browser.post(
        f"{php_server}/send2server.php", json={"action_type": "send_msg", "content": "x"}
    ) as answer:
        assert answer.status == 401  # nobody is logged in yet
    async with browser.post(
        f"{php_server}/login.php", json={"uid": "2", "nickname": NICKNAME, "head_img": PHOTO}
    ) as answer:
        assert answer.status == 200
    # what the page posts: only what the user typed
    posted = {"action_type": "send_msg", "group_id": 100, "content": "2222", "msgtype": 0}
    async with browser.post(f"{php_server}/send2server.php", json=posted) as answer:
        assert answer.status == 200 and await answer.json() == {"code": 0, "msg": "success"}
    # what every page gets: seed 000's broadcast, word for word
    broadcast = {
        "action_type": "new_msg",
        "msgtype": 0,
        "uid": "2",
        "photo": PHOTO,
        "username": NICKNAME,
        "content": "2222",
    }
    assert await page.json() == broadcast
    async with browser.post(
        f"{php_server}/send2server.php", json={"action_type": "login"}
    ) as answer:
        assert answer.status == 200
    assert await page.json() == {
        "action_type": "new_user_login",
        "username": NICKNAME,
        "photo": PHOTO,
    }
    async with browser.get(f"{php_server}/send2server.php") as answer:
        assert answer.status == 405 and (await answer.json())["msg"] == "请用post方法请求接口"


def test_php_reports_a_refusal_without_the_key(setup: Setup, tmp_path: Path) -> None:
    php = shutil.which("php")
    if php is None:
        pytest.skip("php is not installed (make test installs Debian's php-cli as root)")
    script = (
        f"require '{EXAMPLES / 'php' / 'gateway.php'}';"
        "echo json_encode(gateway('get_all_client_id_count')), PHP_EOL;"
        "try { gateway('ungroup', ['group' => 0]); } catch (GatewayError $e) {"
        " echo $e->status, ' ', $e->error, ': ', $e->getMessage(), PHP_EOL; }"
    )
    done = run([php, "-r", script], setup.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "0",  # no client is connected
        "400 invalid_argument: ungroup: ungroup: argument 'group': 0 is not a valid id",
    ]
    wrong = run([php, "-r", script], {**setup.env, "GW_API_KEY": "not-the-key-0123456789"})
    assert wrong.returncode != 0  # the first call throws, uncaught: why is said
    assert "GatewayError: get_all_client_id_count: wrong API key" in wrong.stdout + wrong.stderr
    assert "not-the-key" not in wrong.stdout + wrong.stderr


def test_the_readme_lists_every_call_with_its_arguments() -> None:
    from business.httpapi.calls import CALLS

    readme = (EXAMPLES / "README.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in readme.splitlines()
        if line.startswith("| `")
    }
    assert set(CALLS) <= set(rows)
    for name, call in CALLS.items():
        cells = [cell.strip() for cell in rows[name].split("|")[1:-1]]
        expected = (
            ", ".join(f"`{a.name}`" if a.required else f"[`{a.name}`]" for a in call.args) or "-"
        )
        assert cells[2] == expected, (name, cells)
        assert cells[1] == ("one" if call.one else "all"), (name, cells)
