"""The ``gw`` command: one subcommand per role (the composition root).

Role packages are imported lazily, inside each subcommand, so that ``common`` never
imports a role at import time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from .config import (
    GatewayConfig,
    RegisterConfig,
    Security,
    Timing,
    WorkerConfig,
    split_address,
)
from .exceptions import ConfigError
from .service import raise_open_file_limit

log = logging.getLogger("gw")


def _addresses(ctx: click.Context, param: click.Parameter, value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in values:
        for address in str(item).split(","):
            if address.strip():
                try:
                    split_address(address.strip())
                except ConfigError as exc:
                    raise click.BadParameter(str(exc)) from None
                out.append(address.strip().removeprefix("tcp://"))
    return tuple(out)


_register_option = click.option(
    "--register",
    "registers",
    envvar="GW_REGISTER",
    default="127.0.0.1:1236",
    show_default=True,
    callback=_addresses,
    help="Register address(es), comma-separated.",
)


def _setup(log_level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    raise_open_file_limit()  # many clients need many descriptors; raise to what we may


def _run(service: Any) -> None:
    from .service import run

    try:
        run(service)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{service.role}: {exc}") from None


def _common(func: Any) -> Any:
    options = [
        click.option("--secret", envvar="GW_SECRET", default=None,
                     help="Shared secret: internal links use CURVE keys derived from it."),
        click.option("--insecure", envvar="GW_INSECURE", is_flag=True,
                     help="Allow internal ports on non-loopback addresses without --secret."),
        click.option("--heartbeat", envvar="GW_HEARTBEAT", type=float, default=1.0,
                     show_default=True, help="Internal heartbeat period (s)."),
        click.option("--peer-timeout", envvar="GW_PEER_TIMEOUT", type=float, default=None,
                     help="An internal peer silent this long is gone (default 3.5 x heartbeat)."),
        click.option("--log-level", envvar="GW_LOG_LEVEL", default="info", show_default=True,
                     type=click.Choice(["debug", "info", "warning", "error"])),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _timing(heartbeat: float, peer_timeout: float | None, query_timeout: float = 5.0) -> Timing:
    return Timing(heartbeat, peer_timeout or heartbeat * 3.5, query_timeout)


def _child_args(params: dict[str, Any], skip: Sequence[str] = ()) -> list[str]:
    """Turn parsed options back into argv for a child process."""
    argv: list[str] = []
    for name, value in params.items():
        if name in skip or value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, tuple):
            argv += [flag, ",".join(value)]
        else:
            argv += [flag, str(value)]
    return argv


@click.group()
@click.version_option(package_name="gatewayworker-py")
def main() -> None:
    """GatewayWorker's architecture in Python: register, gateways, business workers."""


@main.command()
@click.option("--listen", envvar="GW_REGISTER_LISTEN", default="127.0.0.1:1236",
              show_default=True, help="Address to bind (port 0: any free port).")  # fmt: skip
@_common
def register(listen: str, secret: str | None, insecure: bool, heartbeat: float,
             peer_timeout: float | None, log_level: str) -> None:  # fmt: skip
    """Run the register (service discovery)."""
    _setup(log_level)
    from register.server import RegisterServer

    config = RegisterConfig(listen, _timing(heartbeat, peer_timeout), Security(secret, insecure))
    _run(RegisterServer(config))


def _gateway_options(func: Any) -> Any:
    options = [
        click.option("--listen", envvar="GW_LISTEN", default="127.0.0.1:8783", show_default=True,
                     help="Public WebSocket address."),
        click.option("--lan-ip", envvar="GW_LAN_IP", default="127.0.0.1", show_default=True,
                     help="Internal IPv4 address workers reach this gateway on."),
        click.option("--start-port", envvar="GW_START_PORT", type=int, default=2900,
                     show_default=True,
                     help="Internal port of process 0 (+1 per process; 0: any free port)."),
        click.option("--ping-interval", envvar="GW_PING_INTERVAL", type=float, default=0.0,
                     show_default=True, help="Application heartbeat tick (s); 0 disables it."),
        click.option("--ping-not-response-limit", envvar="GW_PING_NOT_RESPONSE_LIMIT", type=int,
                     default=0, show_default=True,
                     help="Close a client silent for this many ticks (0: never)."),
        click.option("--ping-data", envvar="GW_PING_DATA", default="",
                     help="Message sent to clients on every tick."),
        click.option("--ws-ping-interval", envvar="GW_WS_PING_INTERVAL", type=float, default=20.0,
                     show_default=True, help="WebSocket ping period (s); 0 disables it."),
        click.option("--max-message-size", envvar="GW_MAX_MESSAGE_SIZE", type=int,
                     default=1 << 20, show_default=True, help="Largest client message (bytes)."),
        click.option("--max-send-buffer", envvar="GW_MAX_SEND_BUFFER", type=int, default=4 << 20,
                     show_default=True, help="Bytes queued to one slow client before closing it."),
        click.option("--max-pending-events", envvar="GW_MAX_PENDING_EVENTS", type=int,
                     default=10_000, show_default=True,
                     help="Events held while no worker is connected."),
        click.option("--compression/--no-compression", envvar="GW_COMPRESSION", default=False,
                     show_default=True, help="permessage-deflate for clients."),
        click.option("--router", envvar="GW_ROUTER", type=click.Choice(["least", "random"]),
                     default="least", show_default=True, help="First pick of a client's worker."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _gateway_config(
    params: dict[str, Any], registers: tuple[str, ...], index: int
) -> GatewayConfig:
    ws_ping = params["ws_ping_interval"] or None
    return GatewayConfig(
        listen=params["listen"],
        lan_ip=params["lan_ip"],
        start_port=params["start_port"],
        registers=registers,
        ping_interval=params["ping_interval"],
        ping_not_response_limit=params["ping_not_response_limit"],
        ping_data=params["ping_data"],
        ws_ping_interval=ws_ping,
        ws_ping_timeout=ws_ping,
        max_message_size=params["max_message_size"],
        max_send_buffer=params["max_send_buffer"],
        max_pending_events=params["max_pending_events"],
        compression=params["compression"],
        router=params["router"],
        process_index=index,
        timing=_timing(params["heartbeat"], params["peer_timeout"]),
        security=Security(params["secret"], params["insecure"]),
    )


def _with_command(command: str, values: dict[str, str]) -> list[str]:
    """Split an extra command; ``python`` means this interpreter (the virtualenv's)."""
    import shlex

    argv = shlex.split(command)
    for name, value in values.items():  # str.replace: the command may hold other braces
        argv = [part.replace("{" + name + "}", value) for part in argv]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def _reserve_port(listen: str) -> str:
    """For several gateway processes on port 0: pick one free port they all share."""
    import socket

    host, port = split_address(listen)
    if port:
        return listen
    with socket.socket() as sock:
        sock.bind((host, 0))
        return f"{host}:{sock.getsockname()[1]}"


@main.command()
@_gateway_options
@_register_option
@click.option(
    "--count",
    envvar="GW_GATEWAY_COUNT",
    type=int,
    default=1,
    show_default=True,
    help="Gateway processes (sharing the WebSocket port).",
)
@click.option("--process-index", type=int, default=0, hidden=True)
@_common
def gateway(registers: tuple[str, ...], count: int, process_index: int, **params: Any) -> None:
    """Run gateway process(es): WebSocket clients in, events out to workers."""
    _setup(params["log_level"])
    if count == 1:
        from gateway.server import GatewayServer

        try:
            config = _gateway_config(params, registers, process_index)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        _run(GatewayServer(config))
        return
    from .supervisor import Child, Supervisor, gw_command

    params["listen"] = _reserve_port(params["listen"])
    base = [*_child_args({**params, "register": registers}), "--count", "1"]
    children = [
        Child(f"gateway-{i}", gw_command("gateway", *base, "--process-index", str(i)), 0)
        for i in range(count)
    ]
    sys.exit(asyncio.run(Supervisor("gateway").run([children])))


@main.command()
@click.option("--app", envvar="GW_APP", required=True, help="App module: PACKAGE.MODULE.")
@_register_option
@click.option(
    "--count",
    envvar="GW_WORKER_COUNT",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes, restarted if they crash (SIGHUP: rolling reload).",
)
@click.option("--name", envvar="GW_WORKER_NAME", default="worker", show_default=True)
@click.option(
    "--max-concurrency",
    envvar="GW_MAX_CONCURRENCY",
    type=int,
    default=1000,
    show_default=True,
    help="Events handled at once per process.",
)
@click.option(
    "--query-timeout",
    envvar="GW_QUERY_TIMEOUT",
    type=float,
    default=5.0,
    show_default=True,
    help="Default deadline of API queries (s).",
)
@click.option("--supervised/--single", default=True, hidden=True)
@_common
def worker(app: str, registers: tuple[str, ...], count: int, name: str, max_concurrency: int,
           query_timeout: float, supervised: bool, **params: Any) -> None:  # fmt: skip
    """Run business worker process(es) under a supervisor."""
    _setup(params["log_level"])
    if not supervised:
        from business.handlers import load
        from business.worker import Worker

        sys.path.insert(0, os.getcwd())
        config = WorkerConfig(
            app=app, registers=registers, name=name, max_concurrency=max_concurrency,
            timing=_timing(params["heartbeat"], params["peer_timeout"], query_timeout),
            security=Security(params["secret"], params["insecure"]),
        )  # fmt: skip
        try:
            loaded = load(app)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        _run(Worker(config, loaded))
        return
    from .supervisor import Child, Supervisor, gw_command

    base = _child_args(
        {"app": app, "register": registers, "name": name, "max_concurrency": max_concurrency,
         "query_timeout": query_timeout, **params}
    )  # fmt: skip
    children = [Child(f"worker-{i}", gw_command("worker", *base, "--single"), 0)
                for i in range(count)]  # fmt: skip
    sys.exit(asyncio.run(Supervisor("worker").run([children], reload_stage=0)))


@main.command()
@click.option(
    "--app",
    envvar="GW_APP",
    default="examples.echo.app",
    show_default=True,
    help="App module: PACKAGE.MODULE.",
)
@click.option(
    "--register-listen", envvar="GW_REGISTER_LISTEN", default="127.0.0.1:1236", show_default=True
)
@_gateway_options
@click.option("--gateways", envvar="GW_GATEWAY_COUNT", type=int, default=1, show_default=True)
@click.option("--workers", envvar="GW_WORKER_COUNT", type=int, default=2, show_default=True)
@click.option(
    "--with",
    "with_commands",
    multiple=True,
    metavar="COMMAND",
    help="Also run COMMAND (once the cluster is up) under the supervisor; it must "
    "print a GW-READY line. {register}, {websocket} and {secret} are replaced.",
)
@_common
def up(app: str, register_listen: str, gateways: int, workers: int,
       with_commands: tuple[str, ...], **params: Any) -> None:  # fmt: skip
    """Register + gateway(s) + workers in one command (development, ``make run``)."""
    _setup(params["log_level"])
    from .supervisor import Child, Supervisor, gw_command

    common = _child_args(
        {k: params[k] for k in ("secret", "insecure", "heartbeat", "peer_timeout", "log_level")}
    )
    gateway_args = _child_args(params, skip=("secret", "insecure", "heartbeat",
                                             "peer_timeout", "log_level", "listen"))  # fmt: skip

    async def run() -> int:
        supervisor = Supervisor("up")
        reg = Child("register", gw_command("register", "--listen", register_listen, *common), 0)
        supervisor.children.append(reg)
        try:
            info = await supervisor.spawn(reg)
        except RuntimeError as exc:
            log.error("%s", exc)
            return 1
        address = info["listen"]
        listen = _reserve_port(params["listen"]) if gateways > 1 else params["listen"]
        gws = [
            Child(f"gateway-{i}", gw_command("gateway", "--listen", listen, "--register", address,
                                             *gateway_args, *common, "--process-index", str(i)), 1)
            for i in range(gateways)
        ]  # fmt: skip
        wks = [
            Child(f"worker-{i}", gw_command("worker", "--app", app, "--register", address,
                                            *common, "--single"), 2)
            for i in range(workers)
        ]  # fmt: skip
        values = {"register": address, "websocket": listen, "secret": params["secret"] or ""}
        extras = [Child(f"with-{i}", _with_command(command, values), 3)
                  for i, command in enumerate(with_commands)]  # fmt: skip
        return await supervisor.run([gws, wks, extras], reload_stage=2)

    sys.exit(asyncio.run(run()))


@main.command()
@_register_option
@click.option("--secret", envvar="GW_SECRET", default=None)
@click.option("--timeout", type=float, default=3.0, show_default=True)
def status(registers: tuple[str, ...], secret: str | None, timeout: float) -> None:
    """Show every gateway's clients, workers, memory and counters (JSON)."""
    from business.client import AsyncGatewayClient

    async def ask() -> dict[str, Any]:
        async with AsyncGatewayClient(registers, secret=secret, timeout=timeout) as client:
            result = await client.get_status()
            return {"gateways": dict(result), "missing": list(result.missing)}

    click.echo(json.dumps(asyncio.run(ask()), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
