"""Operating a cluster started in the background: start, stop, restart, reload, scale, logs.

``gw start ...`` runs ``gw up ...`` as a daemon (its own session), with its state under
a run folder (:mod:`common.rundir`), and returns once everything is ready, printing
where it serves. The other commands act on it: ``gw stop`` (SIGTERM: the supervisor
stops the gateways, which drain their clients while the workers still handle their
close events, then the workers, then the register), ``gw restart`` (the same
arguments, and the options given in the environment then), ``gw reload`` (SIGHUP:
workers replaced one at a time), ``gw scale N`` (through the control socket; a
restart keeps the count), ``gw logs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import binding, ready
from .config import RegisterConfig, split_address
from .exceptions import ConfigError
from .launch import SECRETS, Refused
from .options import MAX_PROCESSES, option
from .rundir import RunDir, given_in_the_environment, run_dir_option, without_secrets
from .supervisor import REFUSED

KILLED = 10.0  # s: a killed cluster's processes are gone within this


def running(run: RunDir, doing: str) -> int:
    """The running cluster's pid, or a clear error (``doing``: what was asked, for what
    to say of a cluster in the foreground)."""
    pid = run.pid()
    if pid is None:
        raise click.ClickException(
            f"no cluster running from {run.path}/ (make start or gw start first)"
            + in_the_foreground(doing)
        )
    return pid


# what to do instead, for a cluster that runs in the foreground (make run's gw up):
# it has no run folder, no control socket and logs to its terminal
IN_THE_FOREGROUND = {
    "stop": "Ctrl-C where it runs stops it (or kill -TERM {pid})",
    "reload": "kill -HUP {pid} reloads its workers one at a time",
    "scale": "kill -TTIN {pid} adds a worker, kill -TTOU {pid} stops one (gw scale N "
    "is for a cluster started with make start)",
    "logs": "it logs to the terminal where it runs",
}


def in_the_foreground(doing: str = "", address: str = RegisterConfig().listen) -> str:
    """What to say of a cluster that is not one of ours (``make run``'s ``gw up``, in
    another terminal): who holds the register port (make run's: the default), if anyone,
    and what to do with it instead of ``doing`` (stop, reload, scale, logs)."""
    held = binding.holder(split_address(address)[1])
    if held is None:
        return ""
    said = f"; the register's port {address} is held by {held}"
    instead = IN_THE_FOREGROUND.get(doing)
    if instead and held.top_command.startswith("gw up") and not held.background:
        return f"{said}, a cluster in the foreground (make run): {instead.format(pid=held.top)}"
    return f"{said}: {held.what_to_do}"


def describe(info: dict[str, Any]) -> list[str]:
    """What serves where, one line per process."""
    lines = []
    for p in info.get("processes", []):
        role, name = p.get("role", "?"), p.get("name", "?")
        if name.startswith("with-") and role != "?":
            name = role  # a --with command that says what it is (the chat's "web")
        if role == "register":
            where = f"register {p['listen']}"
        elif role == "gateway":
            scheme = "wss" if p.get("tls") else "ws"
            where = f"{scheme}://{p['websocket']}  (internal {p['internal']})"
        elif role == "worker":
            where = f"app {p.get('app', '?')}"
        elif role == "api":
            where = f"http://{p['listen']}/api/v1/  (GET /api/v1/openapi.json)"
        elif "listen" in p:
            where = f"http://{p['listen']}/"
        else:
            where = ""
        metrics = f"  metrics http://{p['metrics']}/metrics" if p.get("metrics") else ""
        lines.append(f"  {name:<10} pid {p.get('pid', '?'):<7} {where}{metrics}")
    return lines


@click.command(context_settings={"ignore_unknown_options": True})
@run_dir_option
@option("--timeout", type=float, default=60.0, help="Seconds to wait until ready.")
@click.argument("up_args", nargs=-1, type=click.UNPROCESSED)
def start(run_dir: Path, timeout: float, up_args: tuple[str, ...]) -> None:
    """Start the cluster in the background (gw up UP_ARGS...); return once ready."""
    run = RunDir(run_dir)
    pid = run.pid()
    if pid is not None:
        raise Refused(
            f"a cluster is already running from {run.path}/ (pid {pid}): stop it "
            "first (make stop, gw stop), or use another --run-dir"
        )
    run.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    args, secrets = without_secrets(list(up_args))
    # for gw restart: the arguments, and the names of the secrets it must find in its
    # environment (never their values)
    needed = sorted({*secrets, *(env for env in SECRETS.values() if os.environ.get(env))})
    run.save(args, needed, given_in_the_environment(os.environ))
    info = _launch(run, args, timeout, secrets)
    click.echo(f"cluster running (pid {info['pid']}), logs in {run.log}:")
    for line in describe(info):
        click.echo(line)


def _launch(
    run: RunDir, up_args: list[str], timeout: float, secrets: dict[str, str]
) -> dict[str, Any]:
    with run.log.open("ab") as log:
        offset = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "common.cli", "up", "--control", str(run.socket), *up_args],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **secrets},
        )
    run.pid_file.write_text(str(proc.pid))
    click.echo(f"starting (pid {proc.pid})...", err=True)
    deadline = time.monotonic() + timeout
    with run.log.open("rb") as log:
        log.seek(offset)
        pending = b""
        while True:
            chunk = log.read()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                info = ready.parse(raw.decode(errors="replace"))
                if info is not None and info.get("role") == "up":
                    run.info_file.write_text(json.dumps(info))
                    return info
            if proc.poll() is not None:
                run.clear()
                if proc.returncode == REFUSED:  # a refusal: its one line says it all
                    log.seek(offset)
                    said = log.read().decode(errors="replace").splitlines()
                    errors = [
                        line.removeprefix("Error: ") for line in said if line.startswith("Error: ")
                    ]
                    raise Refused(errors[0] if errors else f"refused to start: see {run.log}")
                tail = run.log.read_text(errors="replace").splitlines()[-15:]
                raise click.ClickException(
                    f"the cluster exited ({proc.returncode}) before it was ready:\n"
                    + "\n".join(tail)
                )
            if time.monotonic() > deadline:
                proc.terminate()
                raise click.ClickException(f"not ready after {timeout:g}s: see {run.log}")
            if not chunk:
                time.sleep(0.05)


@click.command()
@run_dir_option
@option("--timeout", type=float, default=60.0, help="Seconds to wait for a graceful stop.")
@option("--force", is_flag=True, help="Past --timeout, kill every process (SIGKILL).")
def stop(run_dir: Path, timeout: float, force: bool) -> None:
    """Stop the background cluster gracefully (gateways drain, then workers, register)."""
    run = RunDir(run_dir)
    pid = run.pid()
    if pid is None:
        held = binding.holder(split_address(RegisterConfig().listen)[1])
        if held is not None and held.top_command.startswith("gw up") and not held.background:
            # asked to stop a cluster, and make run's runs: not this way (exit 1)
            other = in_the_foreground("stop")
            raise click.ClickException(f"nothing stopped: not running from {run.path}/{other}")
        click.echo(f"not running from {run.path}/")
        return
    info = run.info()
    click.echo(f"stopping (pid {pid}): gateways drain their clients first...", err=True)
    os.kill(pid, signal.SIGTERM)
    start_time, deadline = time.monotonic(), time.monotonic() + timeout
    killed = False
    while _alive(pid):
        if time.monotonic() > deadline:
            if killed:
                raise click.ClickException(f"pid {pid} still there {KILLED:g}s after SIGKILL")
            if not force:
                raise click.ClickException(
                    f"pid {pid} still running after {timeout:g}s (gw stop --force kills it)"
                )
            click.echo(f"killing every process of the cluster (pid {pid}'s group)", err=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # gw start made it a session of its own
            killed, deadline = True, time.monotonic() + KILLED
        time.sleep(0.05)
    run.clear()
    listening = [address for address in _addresses(info) if _listening(address)]
    if listening:
        raise click.ClickException(f"stopped, but still listening: {', '.join(listening)}")
    click.echo(f"stopped in {time.monotonic() - start_time:.1f}s; nothing left listening")


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our child (gw restart): reap it
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _addresses(info: dict[str, Any]) -> list[str]:
    found = []
    for p in info.get("processes", []):
        for key in ("listen", "websocket", "metrics"):
            if p.get(key):
                found.append(str(p[key]))
    return list(dict.fromkeys(found))


def _listening(address: str) -> bool:
    try:
        host, port = split_address(address)
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except (OSError, ConfigError):
        return False


@click.command()
@run_dir_option
@click.pass_context
def restart(ctx: click.Context, run_dir: Path) -> None:
    """Stop, then start again with the same arguments (and the secrets it was started
    with, from the environment: they are never saved)."""
    saved = RunDir(run_dir).saved()
    if saved is None:
        raise click.ClickException(f"no earlier gw start in {run_dir}/")
    missing = [env for env in saved["secrets"] if not os.environ.get(env)]
    if missing:  # it would stop, then fail to start (or start without its secret)
        raise click.ClickException(
            f"the cluster was started with {' and '.join(missing)}, which this environment "
            "lacks (secrets are never saved): give it again (make restart gives the ones "
            "make start made); nothing was stopped"
        )
    ctx.invoke(stop, run_dir=run_dir)
    if "env" in saved:  # the options given in the environment then, not now
        for name in given_in_the_environment(os.environ):
            del os.environ[name]
        os.environ.update(saved["env"])
    for name in set(SECRETS.values()) - set(saved["secrets"]):  # nor a secret it had not
        os.environ.pop(name, None)
    ctx.invoke(start, run_dir=run_dir, up_args=tuple(saved["args"]))


@click.command()
@run_dir_option
@option("--timeout", type=float, default=120.0, help="Seconds to wait for every worker.")
def reload(run_dir: Path, timeout: float) -> None:
    """Replace the business workers one at a time (clients stay connected)."""
    run = RunDir(run_dir)
    pid = running(run, "reload")
    workers = {
        p["name"]: p.get("pid")
        for p in _ask(run, {"status": True})["processes"]
        if p.get("role") == "worker"
    }
    offset = run.log.stat().st_size
    os.kill(pid, signal.SIGHUP)
    click.echo(f"reloading {len(workers)} workers, one at a time...")
    deadline, done = time.monotonic() + timeout, set[str]()
    while len(done) < len(workers):
        with run.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        for name, old in workers.items():
            found = re.search(rf"reloaded {re.escape(name)}: pid (\S+)", text)
            if name not in done and found:
                done.add(name)
                click.echo(f"  {name} replaced: pid {found[1]} (was {old})")
            if f"reload stopped, {name} kept" in text:
                raise click.ClickException(f"reload stopped at {name}: see {run.log}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"reload not done after {timeout:g}s: see {run.log}")
        time.sleep(0.1)
    click.echo("reloaded")


def _ask(run: RunDir, request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """One command to the supervisor's control socket."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(run.socket))
        except OSError as exc:
            raise click.ClickException(f"cannot reach {run.socket}: {exc}") from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer: dict[str, Any] = json.loads(sock.makefile().readline() or "{}")
    if not answer.get("ok"):
        raise click.ClickException(str(answer.get("error", "no answer")))
    return answer


@click.command()
@run_dir_option
@click.argument("workers", type=click.IntRange(0, MAX_PROCESSES))
def scale(run_dir: Path, workers: int) -> None:
    """Run WORKERS business worker processes now (more are started, extra ones stop
    gracefully: no event is lost)."""
    run = RunDir(run_dir)
    running(run, "scale")
    answer = _ask(run, {"scale": workers})
    run.save_workers(answer["count"])  # (what it reached: what a restart starts)
    click.echo(f"workers: {answer['count']}")


@click.command()
@run_dir_option
@option("--follow/--no-follow", "-f", default=True, help="Keep printing new lines.")
@option("--lines", "-n", type=int, default=50, help="Lines from the end to start with.")
def logs(run_dir: Path, follow: bool, lines: int) -> None:
    """Print the last lines of the background cluster's log, then follow it (Ctrl-C
    ends it)."""
    run = RunDir(run_dir)
    if not run.log.exists():
        raise click.ClickException(f"no log at {run.log}{in_the_foreground('logs')}")
    with run.log.open("rb") as log, contextlib.suppress(KeyboardInterrupt):
        for line in log.read().decode(errors="replace").splitlines()[-lines:]:
            click.echo(line)
        while follow:
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.2)
