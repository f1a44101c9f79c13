"""The operator's commands on the chat's database: ``python -m examples.chat.admin``.

``set-password NICKNAME``: give an account a new password and end its login sessions.
It is how the owner of an account made before passwords existed gets it back (such
an account cannot log in: anyone could have made it), and how a forgotten password
is reset. The password is asked twice on a terminal, or read as one line of standard
input (``make chat-password NICK=...`` runs it on the default database)::

    python -m examples.chat.admin set-password 小明
    echo 'a long passphrase' | python -m examples.chat.admin --db chat.db set-password 小明

The password is never printed or logged. Run it with the web backend up or down:
SQLite serializes the write.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import passwords
from .db import Store
from .web import db_option


@click.group()
@db_option
@click.pass_context
def main(ctx: click.Context, db_path: Path) -> None:
    """Operator commands on the chat's accounts."""
    ctx.obj = db_path


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = click.prompt("new password", hide_input=True,
                                     confirmation_prompt=True)  # fmt: skip
        return password
    return sys.stdin.readline().rstrip("\r\n")


@main.command("set-password")
@click.argument("nickname")
@click.pass_obj
def set_password(db_path: Path, nickname: str) -> None:
    """Set NICKNAME's password (and log it out everywhere)."""
    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no such database (the web backend's --db?)")
    password = _read_password()
    problem = passwords.policy_error(password)
    if problem:
        raise click.ClickException(f"password refused: {problem}")
    store = Store(db_path)
    try:
        user = store.set_password(nickname, passwords.hash_password(password))
    finally:
        store.close()
    if user is None:
        raise click.ClickException(f"no account called {nickname!r} in {db_path}")
    click.echo(f"password set for {user.nickname} (id {user.id}); its sessions ended")


if __name__ == "__main__":
    main()
