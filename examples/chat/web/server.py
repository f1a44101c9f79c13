"""The chat's web backend (design document 000): page, API, SQLite, push client.

::

    GW_AUTH_SECRET=... python -m examples.chat.web --listen 127.0.0.1:8080 \\
        --register 127.0.0.1:1236 --db data/chat.sqlite3 --ws-url ws://127.0.0.1:8783

``--auth-secret`` (env ``GW_AUTH_SECRET``, at least 32 bytes) signs the page's
WebSocket tokens; the gateway verifies them with the same secret (its own
``--auth-secret``, the same variable). Under ``gw up --with`` (``make run``) the
backend reads it from the environment it inherits from ``gw up``, as every child of
``gw up`` does: there is no placeholder for it, and it is best on no command line
(``ps`` shows command lines to every user). ``make run`` makes a new one each run.
The cluster's own ``--secret`` (env ``GW_SECRET``), if it has one, comes the same way.

Prints one line ``GW-READY {"role": "web", "listen": "HOST:PORT"}`` on stdout once
serving (with the real port when given port 0), logs to stderr, and exits 0 on
SIGTERM or SIGINT. Uploads go to an ``uploads`` folder next to the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import click
from aiohttp import web

from business import AsyncGatewayClient
from common import ready
from common.binding import check_free, refusal
from common.exceptions import ConfigError
from common.httpconns import IDLE_TIMEOUT, PER_ADDRESS, cap_per_address
from common.httplog import quiet_aiohttp
from common.launch import Refused
from common.options import Amount, option

from . import accesslog, guard, media, remote, tokens
from .accesslog import AccessLog
from .db import AsyncStore, db_option
from .routes import ROUTES
from .state import (
    GUARDS,
    LATER,
    PUSH,
    SETTINGS,
    STATIC,
    STORE,
    Limits,
    Settings,
    errors,
    give_back,
    guards,
)

log = logging.getLogger("chat.web")
CLIENT_MAX_SIZE = 10 << 20  # bytes of a request body (uploads)


def make_app(
    db: Path,
    register: str,
    ws_url: str,
    auth_secret: str,
    secret: str | None = None,
    limits: Limits | None = None,
    proxies: tuple[remote.Network, ...] = (),
) -> web.Application:
    """The aiohttp application; the store and the push client open on startup."""
    problem = tokens.secret_error(auth_secret)
    if problem:
        raise ValueError(problem)
    app = web.Application(
        middlewares=[remote.middleware(proxies), errors, give_back, guard.same_origin],
        client_max_size=CLIENT_MAX_SIZE,
    )
    uploads = db.parent / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    app[SETTINGS] = Settings(
        ws_url=ws_url,
        uploads=uploads,
        auth_secret=auth_secret,
        page_policy=guard.page_policy(ws_url),
        limits=limits or Limits(),
    )
    app[GUARDS] = guards(app[SETTINGS].limits)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        store = AsyncStore(db)
        await store.open()
        app[STORE] = store
        push = AsyncGatewayClient(register, secret=secret, name="chat-web")
        await push.start()
        app[PUSH] = push
        later: set[asyncio.Task[None]] = set()
        app[LATER] = later
        try:
            yield
        finally:
            for task in later:
                task.cancel()
            await asyncio.gather(*later, return_exceptions=True)
            await push.close()
            await store.close()

    app.cleanup_ctx.append(resources)
    app.on_response_prepare.append(guard.add_headers)
    for table in ROUTES:
        app.add_routes(table)
    app.router.add_static("/static", STATIC)
    return app


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{listen!r} is not HOST:PORT")
    return host, int(port)


async def serve(
    app: web.Application,
    host: str,
    port: int,
    access_log: AccessLog = "api",
    idle_timeout: float = IDLE_TIMEOUT,
    per_address: int = PER_ADDRESS,
    proxies: tuple[remote.Network, ...] = (),
) -> None:
    """Serve until SIGTERM/SIGINT; print the ready line once listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # a busy port is said at once (one line, exit 2), before the store and the cluster
    check_free(f"{host}:{port}", "the chat's web port", "--listen")
    quiet_aiohttp(log)  # a malformed request: a line a second, never its headers
    options = accesslog.runner_options(access_log, log)
    runner = web.AppRunner(app, keepalive_timeout=idle_timeout, **options)
    await runner.setup()
    assert runner.server is not None  # (made by setup)
    cap_per_address(runner.server, per_address, log, lambda host: remote.trusted(host, proxies))
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise refusal(exc, f"{host}:{port}", "the chat's web port", "--listen") from None
        bound = runner.addresses[0]
        address = f"{bound[0]}:{bound[1]}"
        log.info("chat web on http://%s/", address)
        ready.print_ready("web", {"listen": address, "pid": os.getpid()})
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


@click.command()
@option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    envvar="CHAT_LISTEN",
    help="HTTP address (port 0: any free port).",
)
@option(
    "--register",
    default="127.0.0.1:1236",
    show_default=True,
    envvar="GW_REGISTER",
    help="Register address(es) of the cluster, comma-separated.",
)
@db_option
@option(
    "--ws-url",
    default="ws://127.0.0.1:8783",
    show_default=True,
    envvar="CHAT_WS_URL",
    help="Gateway WebSocket URL the page connects to.",
)
@option(
    "--auth-secret",
    default=None,
    envvar="GW_AUTH_SECRET",
    help="Signs the page's WebSocket tokens; the gateway's --auth-secret (>= 32 bytes).",
)
@option("--secret", default=None, envvar="GW_SECRET", help="The cluster's shared secret.")
@option(
    "--log-level",
    default="info",
    show_default=True,
    envvar="CHAT_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@option(
    "--access-log",
    default="api",
    show_default=True,
    envvar="CHAT_ACCESS_LOG",
    type=click.Choice(accesslog.MODES),
    help="api: the page and API calls, not static files or uploads; all; off.",
)
@option(
    "--register-limit",
    default=Limits.registrations,
    show_default=True,
    envvar="CHAT_REGISTER_LIMIT",
    type=click.IntRange(1, 1_000_000),
    help="Accounts one address may open an hour (all at once, then spread over the hour).",
)
@option(
    "--room-limit",
    default=Limits.rooms,
    show_default=True,
    envvar="CHAT_ROOM_LIMIT",
    type=click.IntRange(0, 1_000_000),
    help="Rooms one user may own (0: only the operator's rooms).",
)
@option(
    "--upload-limit",
    default=Limits.uploads,
    show_default=True,
    envvar="CHAT_UPLOAD_LIMIT",
    type=click.IntRange(1, 1_000_000),
    help="Files one user may upload an hour (all at once, then spread over the hour).",
)
@option(
    "--upload-memory",
    default=Limits.upload_memory,
    show_default=True,
    envvar="CHAT_UPLOAD_MEMORY",
    type=click.IntRange(media.MAX_UPLOAD >> 20, 1_000_000),
    help="MB of uploads held in memory at once, everyone's together (read, waiting to "
    "be checked, being written); past it an upload is refused with 503 and Retry-After.",
)
@option(
    "--idle-timeout",
    default=IDLE_TIMEOUT,
    show_default=True,
    envvar="CHAT_IDLE_TIMEOUT",
    type=Amount(min=0.1),
    help="Seconds a connection may go without a complete request (before its first, "
    "or after an answer) before it is closed.",
)
@option(
    "--max-connections-per-ip",
    "per_address",
    default=PER_ADDRESS,
    show_default=True,
    envvar="CHAT_MAX_CONNECTIONS_PER_IP",
    type=click.IntRange(min=1),
    help="Connections one address (an IPv6 /64) may hold at once; one more is closed "
    "as it is accepted (the --trusted-proxies are not counted).",
)
@option(
    "--trusted-proxies",
    default="",
    envvar="CHAT_TRUSTED_PROXIES",
    help="Proxies (addresses or networks, comma-separated) whose X-Forwarded-For names "
    "the client; without it the header is ignored.",
)
def main(
    listen: str,
    register: str,
    db_path: Path,
    ws_url: str,
    auth_secret: str | None,
    secret: str | None,
    log_level: str,
    access_log: AccessLog,
    register_limit: int,
    room_limit: int,
    upload_limit: int,
    upload_memory: int,
    idle_timeout: float,
    per_address: int,
    trusted_proxies: str,
) -> None:
    """Run the chat's web backend."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    host, port = _split(listen)
    try:
        proxies = remote.networks(trusted_proxies)
    except ValueError as exc:
        raise click.UsageError(f"--trusted-proxies: {exc}") from None
    problem = tokens.secret_error(auth_secret)
    if problem or auth_secret is None:
        raise click.UsageError(f"--auth-secret: {problem}")
    try:
        limits = Limits(register_limit, room_limit, upload_limit, upload_memory)
        app = make_app(db_path, register, ws_url, auth_secret, secret, limits, proxies)
        asyncio.run(serve(app, host, port, access_log, idle_timeout, per_address, proxies))
    except (ConfigError, OSError) as exc:  # a busy port, a database it cannot open...
        raise Refused(f"web: {exc}") from None
    except (sqlite3.Error, RuntimeError) as exc:  # not a database; a newer schema
        raise Refused(f"web: --db {db_path}: {exc}") from None


if __name__ == "__main__":
    main()
