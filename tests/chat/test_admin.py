"""The operator's password reset (``python -m examples.chat.web.admin``, ``make
chat-password``), run as a real process on a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from business import AsyncGatewayClient
from examples.chat.web import passwords, schema
from examples.chat.web.db import Store
from tests.harness import ROOT, UNIT

from .support import ChatClient, ChatCluster, token

PASSWORD = "我的新密码 long enough"


def admin(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.chat.web.admin", "--db", str(db), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A file of the first release: an account without a password, and its session."""
    path = tmp_path / "chat.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(schema.BASE)
        db.execute("INSERT INTO users VALUES (1, '老用户', '/static/avatars/2.svg', 1.0)")
        db.execute("INSERT INTO sessions VALUES ('old', 1, 1.0)")  # unusable now; dropped
    store = Store(path)  # migrated: the account has no password, so it cannot log in
    try:
        found = store.credentials("老用户")
        assert found is not None and found[1] is None
    finally:
        store.close()
    return path


def test_an_account_made_before_passwords_gets_one_and_loses_its_sessions(legacy: Path) -> None:
    store = Store(legacy)
    try:
        other = store.register("别人", passwords.hash_password("other password"), "/a.svg")
        kept = store.start_session(other.id)
    finally:
        store.close()
    done = admin(legacy, "set-password", "老用户", "--keep-connections", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "password set for 老用户 (id 1); its sessions ended\n"
    assert PASSWORD not in done.stdout + done.stderr
    store = Store(legacy)
    try:
        found = store.credentials("老用户")
        assert found is not None and passwords.verify(PASSWORD, found[1])
        assert not passwords.verify("something else", found[1])
        assert store.user_by_token(kept) == other  # nobody else was logged out
        assert [u.nickname for u in store.users()] == ["老用户", "别人"]  # listed again
    finally:
        store.close()
    with sqlite3.connect(legacy) as db:
        assert db.execute("SELECT user_id FROM sessions").fetchall() == [(other.id,)]


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        (("set-password", "没有这个人"), PASSWORD, "no account called '没有这个人'"),
        (("set-password", "老用户"), "short", "password refused: 密码需要6到128个字符"),
        (("set-password", "老用户"), "", "password refused"),
        (("set-password",), PASSWORD, "Missing argument 'NICKNAME'"),
    ],
)
def test_bad_requests_are_refused_clearly_and_change_nothing(
    legacy: Path, args: tuple[str, ...], stdin: str, error: str
) -> None:
    done = admin(legacy, *args, stdin=stdin + "\n")
    assert done.returncode != 0 and error in done.stderr, done.stderr
    store = Store(legacy)
    try:
        found = store.credentials("老用户")
        assert found is not None and found[1] is None
    finally:
        store.close()


def test_a_missing_database_is_named_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "chat.sqlite3"
    done = admin(missing, "set-password", "老用户", stdin=PASSWORD + "\n")
    assert done.returncode == 1 and "no such database" in done.stderr
    assert not missing.parent.exists()


def make(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    # under `make test`, an inner make would announce its directory (MAKELEVEL)
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**clean, **env},
    )


def test_make_chat_password_sets_it(legacy: Path) -> None:
    with socket.socket() as held:  # bound, never listening: nobody answers there
        held.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{held.getsockname()[1]}"
        done = make(
            "chat-password",
            "NICK=老用户",
            stdin=PASSWORD + "\n",
            CHAT_DB=str(legacy),
            GW_REGISTER=nowhere,
        )
    assert done.returncode == 0 and "password set for 老用户" in done.stdout, done.stderr
    # the password is set either way; the cluster not reached is said
    assert f"open connections not closed: no register answered at {nowhere}" in done.stdout
    store = Store(legacy)
    try:
        found = store.credentials("老用户")
        assert found is not None and passwords.verify(PASSWORD, found[1])
    finally:
        store.close()
    done = make("chat-password")
    assert done.returncode != 0 and "usage: make chat-password NICK=nickname" in done.stderr


async def test_the_accounts_open_connections_are_closed(legacy: Path, chat: ChatCluster) -> None:
    mine = await ChatClient.open(chat.ws_with(token(1, "老用户")))
    other = await ChatClient.open(chat.ws_with(token(2, "别人")))
    for client in (mine, other):
        assert (await client.recv())["action_type"] == "welcome"
    done = await asyncio.to_thread(
        admin,
        legacy,
        "set-password",
        "老用户",
        "--register",
        chat.register_address,
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1 open connection(s) closed"
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await mine.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    async with AsyncGatewayClient(chat.register_address) as gw:  # nobody else's
        deadline = time.monotonic() + 5 * UNIT
        while await gw.get_client_id_by_uid("1"):  # gone once the gateway saw the close
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        gw.send_to_uid("2", {"action_type": "new_msg", "content": "still here"})
    assert (await other.next("new_msg"))["content"] == "still here"
    await other.close()


def test_a_file_that_is_not_a_database_is_one_line_for_both_commands(tmp_path: Path) -> None:
    junk = tmp_path / "chat.sqlite3"
    junk.write_text("not a database, " * 20)
    done = admin(junk, "set-password", "老用户", stdin=PASSWORD + "\n")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"Error: --db {junk}: file is not a database"
    web = subprocess.run(
        [sys.executable, "-m", "examples.chat.web", "--listen", "127.0.0.1:0", "--db", str(junk)],
        env={**os.environ, "GW_AUTH_SECRET": "x" * 40},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60 * UNIT,
    )
    assert web.returncode == 2, web.stderr
    assert web.stderr.strip().splitlines()[-1] == f"Error: web: --db {junk}: file is not a database"
    assert "Traceback" not in web.stderr
