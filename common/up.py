"""``gw up``: register + gateway(s) + workers (+ extra commands) under one supervisor.

For development and ``make run``: each role is a child process (``gw register``,
``gw gateway``, ``gw worker --single``), started in stages, each stage once the one
before printed its ready lines.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shlex
import shutil
import sys
from typing import Any

import click

from .background import describe
from .binding import check_free
from .config import split_address
from .exceptions import ConfigError
from .launch import Refused, child_args, export_secrets, metrics_args, setup
from .options import COMMON, MAX_PROCESSES, common_options, gateway_options, option
from .supervisor import Child, ChildFailed, Supervisor, gw_command, reserve_port

log = logging.getLogger("gw")


def with_command(command: str, values: dict[str, str]) -> list[str]:
    """Split an extra command; ``python`` means this interpreter (the virtualenv's)."""
    argv = shlex.split(command)
    for name, value in values.items():  # str.replace: the command may hold other braces
        argv = [part.replace("{" + name + "}", value) for part in argv]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def _announce(info: dict[str, Any]) -> None:
    """For people (the ready line above it is for programs): what serves where."""
    lines = "\n".join(describe(info))
    log.info("cluster up (pid %s); Ctrl-C or SIGTERM stops it:\n%s", info["pid"], lines)


def _check_ports(
    register: str, params: dict[str, Any], gateways: int, processes: int, metrics: str | None
) -> None:
    """Every fixed port this cluster will listen on is free, before any process starts:
    a second ``make run`` says which port is taken and by whom, and starts nothing."""
    check_free(register, "the register's port", "--register-listen")
    check_free(params["listen"], "the WebSocket port", "--listen")
    if params["start_port"]:
        host = params["internal_listen"] or params["lan_ip"]
        for port in range(params["start_port"], params["start_port"] + gateways):
            check_free(f"{host}:{port}", "a gateway's internal port", "--start-port")
    if metrics:
        host, port = split_address(metrics)
        for number in range(processes if port else 0):
            check_free(f"{host}:{port + number}", "a metrics port", "--metrics-port")


@click.command()
@option("--app", envvar="GW_APP", default="examples.echo.app", help="App module: PACKAGE.MODULE.")
@option(
    "--register-listen",
    envvar="GW_REGISTER_LISTEN",
    default="127.0.0.1:1236",
    help="The register's address.",
)
@gateway_options
@option(
    "--gateways",
    envvar="GW_GATEWAY_COUNT",
    type=click.IntRange(1, MAX_PROCESSES),
    default=1,
    help="Gateway processes (sharing the WebSocket port).",
)
@option(
    "--workers",
    envvar="GW_WORKER_COUNT",
    type=click.IntRange(0, MAX_PROCESSES),
    default=2,
    help="Business worker processes (0: they run elsewhere).",
)
@click.option(
    "--with",
    "with_commands",
    multiple=True,
    metavar="COMMAND",
    help="Also run COMMAND (once the cluster is up) under the supervisor; it must "
    "print a GW-READY line. {register}, {websocket} and {api} are replaced; the secrets "
    "(GW_SECRET, GW_AUTH_SECRET, GW_API_KEY) are in its environment, never on its command line.",
)
@option(
    "--metrics-port",
    envvar="GW_METRICS_PORT",
    type=click.IntRange(0, 65535),
    default=0,
    help="Serve /metrics, /healthz, /readyz from every process on 127.0.0.1: the "
    "register on this port, then one port each (0: off).",
)
@option(
    "--control",
    envvar="GW_CONTROL",
    default=None,
    type=click.Path(dir_okay=False),
    help="A Unix socket for gw scale (gw start sets it).",
)
@option(
    "--api-port",
    envvar="GW_API_PORT",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also run gw api, the HTTP API, on 127.0.0.1:PORT (0: any free port); {api} "
    "in --with is its address.",
)
@option(
    "--api-key",
    envvar="GW_API_KEY",
    multiple=True,
    help="The HTTP API's key(s), handed to it in its environment (or --insecure: none).",
)
@common_options
def up(
    app: str,
    register_listen: str,
    gateways: int,
    workers: int,
    with_commands: tuple[str, ...],
    metrics_port: int,
    control: str | None,
    api_port: int | None,
    **params: Any,
) -> None:
    """Register + gateway(s) + workers in one command (development, ``make run``)."""
    if api_port is not None and not params["api_key"] and not params["insecure"]:
        raise click.UsageError(
            "--api-port: the HTTP API needs --api-key (or GW_API_KEY; make one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), or "
            "--insecure to serve it on loopback without a key"
        )
    setup(params["log_level"], params["log_format"])
    check_app(app)
    check_with(with_commands)
    check_control(control)
    base = params["metrics_listen"] or (f"127.0.0.1:{metrics_port}" if metrics_port else None)
    try:
        _check_ports(register_listen, params, gateways, 1 + gateways + workers, base)
    except ConfigError as exc:
        raise Refused(f"gw up: {exc}") from None
    export_secrets(params)
    common = child_args({k: params[k] for k in COMMON})
    if gateways > 1:
        params["reuse_port"] = True  # the gateway processes share their port
    gateway_args = child_args(params, skip=(*COMMON, "listen", "metrics_listen"))

    def metrics(number: int) -> list[str]:  # register 0, gateways 1.., workers after them
        return metrics_args(base, number)

    async def run() -> int:
        reg = Child(
            "register", gw_command("register", "--listen", register_listen, *common, *metrics(0)), 0
        )
        address = ""

        def worker(n: int) -> Child:
            return Child(
                f"worker-{n}",
                gw_command(
                    "worker",
                    "--app",
                    app,
                    "--register",
                    address,
                    *common,
                    "--single",
                    "--count",  # (given: GW_WORKER_COUNT, which gw up reads too, may be 0)
                    "1",
                    *metrics(1 + gateways + n),
                ),
                2,
            )

        # a gateway drains its clients for --drain-time before it stops: wait for it
        supervisor = Supervisor("up", scalable={2: worker}, stop_timeout=params["drain_time"] + 30)
        # the extra commands, the API, then the gateways (they drain: their clients' close
        # events must still find workers), then the workers, then the register
        supervisor.stop_order = [3, 4, 1, 2, 0]
        supervisor.children.append(reg)
        try:
            info = await supervisor.spawn(reg)
        except ChildFailed as exc:
            return await supervisor.abandon(exc)
        address = info["listen"]  # the workers' factory reads it from here on
        listen = reserve_port(params["listen"]) if gateways > 1 else params["listen"]
        gws = [
            Child(
                f"gateway-{i}",
                gw_command(
                    "gateway",
                    "--listen",
                    listen,
                    "--register",
                    address,
                    *gateway_args,
                    *common,
                    "--process-index",
                    str(i),
                    *metrics(1 + i),
                ),
                1,
            )
            for i in range(gateways)
        ]
        wks = [worker(n) for n in range(workers)]
        values = {"register": address, "websocket": listen}
        api: list[Child] = []  # a push client: up once workers serve, stopped before gateways
        if api_port is not None:
            values["api"] = reserve_port(f"127.0.0.1:{api_port}")
            api.append(
                Child(
                    "api",
                    gw_command("api", "--listen", values["api"], "--register", address, *common),
                    4,
                )
            )
        extras = [
            Child(f"with-{i}", with_command(command, values), 3)
            for i, command in enumerate(with_commands)
        ]
        return await supervisor.run(
            [gws, wks, api, extras], reload_stage=2, control=control, announce=_announce
        )

    sys.exit(asyncio.run(run()))


def check_app(app: str) -> None:
    """Refuse (one line, exit 2) an ``--app`` whose module cannot be found, before
    anything starts: each worker would say it once, after the register and gateways had
    started. Looked for as the workers look: installed, or from the current directory.
    (Found is not imported: the app's own import errors are the workers' to report.)"""
    module, here = app.partition(":")[0], os.getcwd()
    sys.path.insert(0, here)
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing; an empty or odd name
        found = False
    except Exception as exc:  # a parent package's own code failed (it runs to be found)
        raise Refused(f"gw up: cannot import app {module!r}: {exc!r}") from None
    finally:
        sys.path.remove(here)
    if not found:
        raise Refused(
            f"gw up: cannot import app {module!r}: no such module, installed or in "
            f"{here} (--app takes a module path, e.g. examples.echo.app)"
        )


def check_with(commands: tuple[str, ...]) -> None:
    """Refuse (one line, exit 2) a ``--with`` command that cannot be run, before
    anything starts: empty, unbalanced quotes, or a program that is not there."""
    for command in commands:
        try:
            argv = with_command(command, {})
        except ValueError as exc:  # shlex: no closing quotation, say
            raise Refused(f"gw up: --with {command!r}: {exc}") from None
        if not argv:
            raise Refused("gw up: --with '': an empty command")
        if shutil.which(argv[0]) is None:
            raise Refused(
                f"gw up: --with {command!r}: no program {argv[0]!r} (not on PATH, or not "
                "an executable file)"
            )


def check_control(path: str | None) -> None:
    """Refuse (one line, exit 2) a ``--control`` socket whose folder is not there."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise Refused(f"gw up: --control {path}: no folder {folder} to make it in (or not ours)")
