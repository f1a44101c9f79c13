"""The operator's commands on the chat's database: ``python -m examples.chat.web.admin``.

``set-password NICKNAME``: give an account a new password and end its login sessions.
It is how the owner of an account made before passwords existed gets it back (such
an account cannot log in: anyone could have made it), and how a forgotten or stolen
password is reset. The password is asked twice on a terminal, or read as one line of
standard input (``make chat-password NICK=...`` runs it on the default database)::

    python -m examples.chat.web.admin set-password 小明
    echo 'a long passphrase' | python -m examples.chat.web.admin --db chat.db set-password 小明

Then the account's open connections are closed through the cluster (``--register``,
``--secret``: the web backend's): a page that reconnects needs a token, hence a
login with the new password. ``--keep-connections`` leaves them open; a cluster that
cannot be reached is said, not an error (the password is set either way).

The password is never printed or logged. Run it with the web backend up or down:
SQLite serializes the write.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from pathlib import Path

import click

from business import AsyncGatewayClient
from common.exceptions import ConfigError
from common.options import option

from . import passwords
from .db import Store, db_option

REACH_TIMEOUT = 3.0  # seconds to reach the cluster


@click.group()
@db_option
@click.pass_context
def main(ctx: click.Context, db_path: Path) -> None:
    """Operator commands on the chat's accounts."""
    ctx.obj = db_path


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = click.prompt("new password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def _close_connections(register: str, secret: str | None, uid: int) -> str:
    """Close the uid's open connections in the cluster; what happened, in words."""
    client = AsyncGatewayClient(register, secret=secret, timeout=REACH_TIMEOUT)
    try:
        await client.start()
    except ConfigError as exc:
        return f"open connections not closed: {exc}"
    try:
        if client.cluster.listed is None:
            return (
                f"open connections not closed: no register answered at {register} "
                "(--register, GW_REGISTER)"
            )
        found = await client.get_client_id_by_uid(str(uid))
        for client_id in found:
            client.close_client(client_id)
        missing = getattr(found, "missing", ())
        unasked = f" (these did not answer: {', '.join(missing)})" if missing else ""
        return f"{len(found)} open connection(s) closed{unasked}"
    finally:
        await client.close()


@main.command("set-password")
@click.argument("nickname")
@option(
    "--register",
    default="127.0.0.1:1236",
    show_default=True,
    envvar="GW_REGISTER",
    help="The cluster's register(s), where the account's connections are closed.",
)
@option("--secret", default=None, envvar="GW_SECRET", help="The cluster's shared secret.")
@option("--keep-connections", is_flag=True, help="Do not close the account's open connections.")
@click.pass_obj
def set_password(
    db_path: Path, nickname: str, register: str, secret: str | None, keep_connections: bool
) -> None:
    """Set NICKNAME's password, end its sessions and close its open connections."""
    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no such database (the web backend's --db?)")
    password = _read_password()
    problem = passwords.policy_error(password)
    if problem:
        raise click.ClickException(f"password refused: {problem}")
    try:
        store = Store(db_path)
    except (sqlite3.Error, RuntimeError) as exc:  # not a database; a newer schema
        raise click.ClickException(f"--db {db_path}: {exc}") from None
    try:
        user = store.set_password(nickname, passwords.hash_password(password))
    finally:
        store.close()
    if user is None:
        raise click.ClickException(f"no account called {nickname!r} in {db_path}")
    click.echo(f"password set for {user.nickname} (id {user.id}); its sessions ended")
    if not keep_connections:
        # our words say what happened: the push client's "still trying" would not
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        click.echo(asyncio.run(_close_connections(register, secret, user.id)))


if __name__ == "__main__":
    main()
