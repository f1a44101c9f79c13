"""The operator's password reset (``python -m examples.chat.admin``, ``make
chat-password``), run as a real process on a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from examples.chat import passwords, schema
from examples.chat.db import Store
from tests.harness import ROOT

PASSWORD = "我的新密码 long enough"


def admin(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.chat.admin", "--db", str(db), *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


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
    done = admin(legacy, "set-password", "老用户", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert "password set for 老用户 (id 1)" in done.stdout
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
        ["make", "--no-print-directory", "-s", *args], input=stdin, capture_output=True,
        text=True, cwd=ROOT, timeout=120, env={**clean, **env},
    )  # fmt: skip


def test_make_chat_password_sets_it(legacy: Path) -> None:
    done = make("chat-password", "NICK=老用户", stdin=PASSWORD + "\n", CHAT_DB=str(legacy))
    assert done.returncode == 0 and "password set for 老用户" in done.stdout, done.stderr
    store = Store(legacy)
    try:
        found = store.credentials("老用户")
        assert found is not None and passwords.verify(PASSWORD, found[1])
    finally:
        store.close()
    done = make("chat-password")
    assert done.returncode != 0 and "usage: make chat-password NICK=nickname" in done.stderr
