"""Commands that ask a running cluster through a push client: status, connections, drain.

They find the cluster by ``--register`` (``GW_REGISTER``), or, when that is not given,
from the cluster ``gw start`` runs in the background (``--run-dir``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from common import processes
from common.exceptions import ConfigError, GatewayError, InvalidArgument
from common.options import option, register_option
from common.rundir import RunDir, register_of, run_dir_option

from .client import AsyncGatewayClient
from .tables import mib, table
from .watch import watch

T = TypeVar("T")

OURS = "gw-control"  # these commands' push client: left out of the push clients shown
secret_option = option(
    "--secret", envvar="GW_SECRET", default=None, help="The cluster's shared secret."
)
timeout_option = option(
    "--timeout", type=float, default=3.0, help="Seconds to wait for the registers and the gateways."
)


def _registers(
    ctx: click.Context, registers: tuple[str, ...], run_dir: Path
) -> tuple[tuple[str, ...], str]:
    """The registers to ask (the background cluster's, unless --register was given),
    and what to add if none of them answers."""
    if ctx.get_parameter_source("registers") is ParameterSource.DEFAULT:
        background = register_of(run_dir)
        if background is not None:
            return (background,), ""
        hint = f" (no cluster was started from {run_dir}/ either: make start or make run first?)"
        return registers, hint
    return registers, ""


def _ask(
    registers: tuple[str, ...],
    secret: str | None,
    timeout: float,
    call: Callable[[AsyncGatewayClient], Awaitable[T]],
    hint: str = "",
) -> T:
    # this command says what went wrong itself: the push client's own warnings
    # ("no register answered...; still trying") would only contradict it
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    async def run() -> T:
        try:
            client = AsyncGatewayClient(registers, secret=secret, timeout=timeout, name=OURS)
            await client.start()
        except ConfigError as exc:  # no register took our handshake: the likely cause
            raise click.ClickException(str(exc)) from None
        try:
            if client.cluster.listed is None:
                raise click.ClickException(
                    f"no register answered within {timeout:g}s at {', '.join(registers)}: "
                    f"is it running?{hint}"
                )
            return await call(client)
        except GatewayError as exc:  # a gateway refused the query, or it timed out
            raise click.ClickException(str(exc)) from None
        finally:
            await client.close()

    return asyncio.run(run())


COUNTERS = (
    "messages_in",
    "messages_out",
    "commands",
    "queries",
    "events_redelivered",
    "refused_no_worker",
    "closed_slow",
    "closed_rate_limit",
    "closed_control_flood",
    "closed_fragments",
    "closed_ip_cap",
    "refused_401",
    "refused_403",
    "refused_503",
    "bad_frames",
    "errors",
)


def render(status: dict[str, Any], missing: list[str]) -> list[str]:
    """``gw status`` for people: gateways, workers, non-zero counters."""
    gateways = [
        [
            "GATEWAY",
            "WEBSOCKET",
            "PID",
            "CLIENTS",
            "UIDS",
            "GROUPS",
            "WORKERS",
            "PENDING",
            "RSS MiB",
        ]
    ]
    workers = [["WORKER", "GATEWAY", "CLIENTS", "UNACKED", "HANDLED"]]
    counters = []
    pushing: dict[str, int] = {}  # push client -> gateways it is linked to
    for address, s in sorted(status.items()):
        for name in s.get("push_clients", []):
            if not name.startswith(OURS + "-"):
                pushing[name] = pushing.get(name, 0) + 1
        gateways.append(
            [
                address,
                s["websocket"],
                str(s["pid"]),
                str(s["clients"]),
                str(s["uids"]),
                str(s["groups"]),
                str(len(s["workers"])),
                str(s["pending_events"]),
                mib(s["rss_bytes"]),
            ]
        )
        for name, w in sorted(s["workers"].items()):
            workers.append([name, address, str(w["clients"]), str(w["unacked"]), str(w["handled"])])
        shown = [f"{key} {s[key]}" for key in COUNTERS if s.get(key)]
        counters.append(f"  {address}: {', '.join(shown) or 'all zero'}")
    lines = table(gateways) if status else ["no gateway"]
    if len(workers) > 1:
        lines += ["", *table(workers)]
    if pushing:  # gw api, web backends...: what pushes into the cluster from outside
        lines += [
            "",
            *table(
                [["PUSH CLIENT", "GATEWAYS"]]
                + [[name, f"{count} of {len(status)}"] for name, count in sorted(pushing.items())]
            ),
        ]
    lines += ["", "counters:", *counters] if counters else []
    if missing:
        lines += ["", f"did not answer: {', '.join(missing)}"]
    return lines


@click.command()
@register_option
@secret_option
@timeout_option
@run_dir_option
@option("--json", "as_json", is_flag=True, help="The machine-readable JSON of every gateway.")
@option(
    "--watch",
    "every",
    type=click.FloatRange(min=0.1),
    is_flag=False,
    flag_value=2.0,
    default=None,
    show_default=False,
    metavar="[SECONDS]",
    help="Refresh every SECONDS (default 2) with per-second rates, until Ctrl-C.",
)
@click.pass_context
def status(
    ctx: click.Context,
    registers: tuple[str, ...],
    secret: str | None,
    timeout: float,
    run_dir: Path,
    as_json: bool,
    every: float | None,
) -> None:
    """Every gateway's clients, workers, memory and counters (exit 1: no register answered);
    with --watch, their rates per second, redrawn in place (make top)."""
    registers, hint = _registers(ctx, registers, run_dir)
    if every is not None:
        if as_json:
            raise click.UsageError("--watch is for people: without --json")
        out = sys.stdout
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the way to end it
            _ask(
                registers,
                secret,
                timeout,
                lambda client: watch(client, every, out, out.isatty()),
                hint,
            )
        return
    result = _ask(registers, secret, timeout, lambda client: client.get_status(), hint)
    gateways, missing = dict(result), list(result.missing)
    if as_json:
        click.echo(
            json.dumps({"gateways": gateways, "missing": missing}, indent=2, ensure_ascii=False)
        )
        return
    for line in render(gateways, missing):
        click.echo(line)
    run = RunDir(run_dir)
    pid = run.pid()
    if pid is not None and registers == (register_of(run_dir),):  # gw start's, here
        # a --with command is named as gw start named it (the chat's "web"), by its role
        roles = {p.get("pid"): p.get("role") for p in run.info().get("processes", [])}
        rows = [["PROCESS", "PID", "RSS MiB"]]
        rows += [
            [roles.get(p.pid) or p.name, str(p.pid), mib(p.rss_bytes)] for p in processes.tree(pid)
        ]
        if len(rows) > 1:
            click.echo("")
            for line in table(rows):
                click.echo(line)


@click.command()
@register_option
@secret_option
@timeout_option
@run_dir_option
@option("--json", "as_json", is_flag=True, help="One JSON object per connection.")
@click.pass_context
def connections(
    ctx: click.Context,
    registers: tuple[str, ...],
    secret: str | None,
    timeout: float,
    run_dir: Path,
    as_json: bool,
) -> None:
    """Every client connection: client_id, uid, groups, remote address, age."""
    registers, hint = _registers(ctx, registers, run_dir)

    found = _ask(registers, secret, timeout, lambda client: client.get_connections(), hint)
    now = time.time()
    if as_json:
        for conn in found:
            click.echo(json.dumps(conn, ensure_ascii=False))
        return
    rows = [["CLIENT_ID", "UID", "GROUPS", "REMOTE", "AGE s"]]
    for conn in sorted(found, key=lambda c: c["connected_at"]):
        rows.append(
            [
                conn["client_id"],
                str(conn["uid"] or "-"),
                ",".join(conn["groups"]) or "-",
                conn["remote"],
                f"{now - conn['connected_at']:.0f}",
            ]
        )
    for line in table(rows):
        click.echo(line)
    click.echo(
        f"{len(found)} connection{'' if len(found) == 1 else 's'}"
        + (f"; did not answer: {', '.join(found.missing)}" if found.missing else "")
    )


@click.command()
@option(
    "--gateway",
    "address",
    required=True,
    help="The gateway's internal address, tcp://IP:PORT (gw status lists them).",
)
@secret_option
@option("--timeout", type=float, default=60.0, help="Seconds to wait until it is gone.")
def drain(address: str, secret: str | None, timeout: float) -> None:
    """Drain one gateway: not ready, no new clients, its clients closed (1012) in waves
    over its --drain-time so they reconnect elsewhere; then it stops."""
    address = address if address.startswith("tcp://") else f"tcp://{address}"

    said: list[int] = []  # the count last said

    def left(clients: int) -> None:
        if said != [clients]:  # a line when the count changes
            said[:] = [clients]
            click.echo(f"{address}: {clients} {'client' if clients == 1 else 'clients'} left")

    async def run() -> None:
        async with AsyncGatewayClient((), secret=secret, timeout=2.0) as client:
            try:
                replaced_by = await client.drain(address, timeout=timeout, progress=left)
            except (InvalidArgument, TimeoutError) as exc:
                raise click.ClickException(str(exc)) from None
        if replaced_by is None:
            click.echo(f"{address}: drained and gone")
        else:
            click.echo(
                f"{address}: drained and gone; its supervisor started a new gateway "
                f"there (pid {replaced_by})"
            )

    asyncio.run(run())
