"""A background cluster's run folder (``--run-dir``, default ``run/``): its files, and
what ``gw start`` saves there for ``gw restart`` (arguments without their secrets).

::

    run/gw.pid    the gw up supervisor's pid       run/gw.log    every process's output
    run/gw.json   its ready line (what serves where) run/gw.args  its arguments (restart)
    run/gw.sock   its control socket (gw scale)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .launch import SECRETS
from .options import option

run_dir_option = option(
    "--run-dir",
    envvar="GW_RUN_DIR",
    default="run",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the background cluster keeps its pid, log and state.",
)


class RunDir:
    """The files of a background cluster."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid_file, self.log, self.info_file = path / "gw.pid", path / "gw.log", path / "gw.json"
        self.args_file, self.socket = path / "gw.args", path / "gw.sock"

    def pid(self) -> int | None:
        """The supervisor's pid if it runs (a stale pid file is removed, and so is one
        whose pid now belongs to another program)."""
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            self.clear()
            return None
        if b"common.cli" not in command or b"up" not in command:
            self.clear()
            return None
        return pid

    def info(self) -> dict[str, Any]:
        try:
            return json.loads(self.info_file.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    def clear(self) -> None:
        for path in (self.pid_file, self.info_file, self.socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- what gw restart needs: run/gw.args --------------------------------------------
    def saved(self) -> dict[str, Any] | None:
        """What ``gw start`` saved: ``args`` (secrets removed), ``secrets`` (the names of
        the variables they came in, never their values), ``env`` (the options given as
        variables); None if nothing was."""
        try:
            saved = json.loads(self.args_file.read_text())
        except (OSError, ValueError):
            return None
        if isinstance(saved, list):  # (an older release's: the arguments only)
            return {"args": saved, "secrets": []}
        return saved  # type: ignore[no-any-return]

    def save(self, args: list[str], secrets: list[str], env: dict[str, str]) -> None:
        self.args_file.write_text(json.dumps({"args": args, "secrets": secrets, "env": env}))

    def save_workers(self, workers: int) -> None:
        """``gw restart`` starts as many workers as ``gw scale`` made (the last
        ``--workers`` given is the one taken)."""
        saved = self.saved()
        if saved is None:
            return
        args, kept = iter(saved["args"]), []
        for arg in args:
            if arg == "--workers":
                next(args, None)
            elif not arg.startswith("--workers="):
                kept.append(arg)
        saved["args"] = [*kept, "--workers", str(workers)]
        self.args_file.write_text(json.dumps(saved))


def register_of(run_dir: Path) -> str | None:
    """The register address of the cluster running from ``run_dir``, if any."""
    for process in RunDir(run_dir).info().get("processes", []):
        if process.get("role") == "register":
            return str(process["listen"])
    return None


def given_in_the_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The options given as ``GW_...`` variables (every option reads one), secrets
    excepted, for ``gw restart`` to start the same cluster in another environment."""
    skip = {*SECRETS.values(), "GW_RUN_DIR", "GW_CONTROL"}
    return {k: v for k, v in environ.items() if k.startswith("GW_") and k not in skip}


def without_secrets(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """``gw up`` arguments without ``--secret``/``--auth-secret`` (they would show in
    ``ps`` and in ``run/gw.args``), and those as environment variables."""
    flags = {"--" + name.replace("_", "-"): env for name, env in SECRETS.items()}
    kept: list[str] = []
    secrets: dict[str, str] = {}
    items = iter(args)
    for arg in items:
        flag, sep, value = arg.partition("=")
        if flag in flags:  # a repeated one (--api-key): comma-separated, as its variable
            given = value if sep else next(items, "")
            env = flags[flag]
            secrets[env] = f"{secrets[env]},{given}" if env in secrets else given
        else:
            kept.append(arg)
    return kept, secrets
