"""The ``gw`` command: a group whose subcommands live with the roles that own them.

``common`` imports no role: the subcommands are found by import string
(:data:`COMMANDS`), and more can be added by other packages through the
``gw.commands`` entry-point group (``name = "package.module:command"``). A command's
module is imported only when that command runs (or ``--help`` lists it).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import click

from .imports import load

COMMANDS: dict[str, str] = {
    "register": "register.cli:register",
    "gateway": "gateway.cli:gateway",
    "worker": "business.cli:worker",
    "api": "business.httpapi.cli:api",
    "up": "common.up:up",
    "start": "common.background:start",
    "stop": "common.background:stop",
    "restart": "common.background:restart",
    "reload": "common.background:reload",
    "scale": "common.background:scale",
    "logs": "common.background:logs",
    "status": "business.control:status",
    "connections": "business.control:connections",
    "drain": "business.control:drain",
}


def _import(target: str) -> click.Command:
    command = load(target, "gw command")
    if not isinstance(command, click.Command):
        raise click.ClickException(f"{target} is not a click command")
    return command


class Commands(click.Group):
    """A click group that imports each subcommand on demand."""

    def _targets(self) -> dict[str, str]:
        targets = dict(COMMANDS)
        for point in entry_points(group="gw.commands"):
            targets.setdefault(point.name, point.value)
        return targets

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._targets()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        known = super().get_command(ctx, name)
        if known is not None:
            return known
        target = self._targets().get(name)
        return None if target is None else _import(target)


@click.group(cls=Commands)
@click.version_option(package_name="gatewayworker-py")
def main(**_: Any) -> None:
    """GatewayWorker's architecture in Python: register, gateways, business workers."""


if __name__ == "__main__":
    main()
