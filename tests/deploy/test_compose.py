"""deploy/compose.yaml: read as Compose reads it (YAML, anchors, ``${...}``), and every
reference checked: roles and their settings, addresses, ports, dependencies, volumes.

``docker compose config`` (or Debian's docker-compose 1.29) runs too where installed:
this machine has a Docker CLI without the compose plugin, and no engine.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from .support import DEFAULT_DRAIN_TIME, DEPLOY, ROOT, UNIT, port_of, role_of, tool, unknown_envvars

COMPOSE = DEPLOY / "compose.yaml"
SECRETS = {"GW_SECRET": "s" * 48, "GW_AUTH_SECRET": "a" * 48, "GW_API_KEY": "k" * 24}
_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


class Missing(Exception):
    """A required ``${VAR:?message}`` is not set."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, on every string of a loaded file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        present = name in env and (env[name] != "" or not (operator or "").startswith(":"))
        if present:
            return env[name]
        if operator and operator.endswith("?"):
            raise Missing(f"{name}: {argument}")
        return argument if operator else ""

    return _VARIABLE.sub(one, value)


def load(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text())
    loaded: dict[str, Any] = interpolate(raw, SECRETS if env is None else env)
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load()["services"]
    return found


def role(service: dict[str, Any]) -> tuple[str, list[str]]:
    argv = [*(service.get("entrypoint") or ["gw"]), *(service.get("command") or [])]
    return role_of(argv)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment as a mapping"
    return {k: str(v) for k, v in environment.items()}


def published(service: dict[str, Any]) -> dict[int, int]:
    """{host port: container port}."""
    out: dict[int, int] = {}
    for entry in service.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        out[int(host.rpartition(":")[2])] = int(container)
    return out


def test_interpolation_as_compose_does() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} $$ $SET", env) == "x d d  $ x"
    with pytest.raises(Missing, match="give it"):
        interpolate("${EMPTY:?give it}", env)
    assert interpolate("${EMPTY?no}", env) == ""


def test_the_services() -> None:
    found = services()
    assert set(found) == {"register", "gateway-1", "gateway-2", "worker", "api", "chat-web"}
    expected = {
        "register": "register",
        "gateway-1": "gateway",
        "gateway-2": "gateway",
        "worker": "worker",
        "api": "api",
        "chat-web": "web",
    }
    assert {name: role(s)[0] for name, s in found.items()} == expected
    # one image, built from this repository's Dockerfile
    images = {s["image"] for s in found.values()}
    assert len(images) == 1, images
    for service in found.values():
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT and (context / build["dockerfile"]).is_file()


def test_every_setting_is_one_its_role_reads() -> None:
    for name, service in services().items():
        role_name, _args = role(service)
        env = env_of(service)
        assert env, f"{name}: no environment"
        unknown = unknown_envvars(role_name, list(env))
        assert not unknown, f"{name}: {role_name} reads no {unknown}"
        assert env["GW_SECRET"] == SECRETS["GW_SECRET"], name


def test_the_secrets_are_required_and_nowhere_in_the_repository() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    for name in SECRETS:
        with pytest.raises(Missing, match=name):
            interpolate(raw, {k: v for k, v in SECRETS.items() if k != name})
        with pytest.raises(Missing, match=name):  # an empty value (the example's) is refused
            interpolate(raw, {**SECRETS, name: ""})
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {k: v for k, v in example.items() if k in SECRETS} == dict.fromkeys(SECRETS, "")
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_gateways_announce_their_own_fixed_address() -> None:
    found = services()
    subnet = ipaddress.ip_network(load()["networks"]["default"]["ipam"]["config"][0]["subnet"])
    gateways = {n: s for n, s in found.items() if role(s)[0] == "gateway"}
    assert len(gateways) == 2
    lan_ips, host_ports = set(), set()
    for name, service in gateways.items():
        env = env_of(service)
        address = service["networks"]["default"]["ipv4_address"]
        assert env["GW_LAN_IP"] == address, f"{name} announces another address than its own"
        assert ipaddress.ip_address(address) in subnet
        assert env["GW_INTERNAL_LISTEN"] == "0.0.0.0"
        ports = published(service)
        assert list(ports.values()) == [port_of(env["GW_LISTEN"])], name
        (host_port,) = ports
        assert port_of(env["GW_PUBLIC_ADDRESS"]) == host_port, f"{name} reports another port"
        lan_ips.add(address)
        host_ports.add(host_port)
        # it drains on stop: compose waits longer than the drain before SIGKILL
        drain = float(env.get("GW_DRAIN_TIME", DEFAULT_DRAIN_TIME))
        grace = service["stop_grace_period"]
        assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) > drain + 5, (name, grace)
    assert len(lan_ips) == len(host_ports) == 2
    # no other service takes a gateway's address
    others = [s for n, s in found.items() if n not in gateways]
    assert not any("networks" in s for s in others)


def test_the_worker_scales() -> None:
    worker = services()["worker"]
    # `--scale worker=N` needs no fixed name, address or host port
    assert not {"container_name", "ports", "networks", "hostname"} & set(worker)
    assert env_of(worker)["GW_WORKER_COUNT"] == "1"
    assert env_of(worker)["GW_APP"] == "examples.chat.worker.app"


def test_the_http_api_is_published_with_its_key() -> None:
    from business.httpapi.server import STOP_TIMEOUT

    api = services()["api"]
    env = env_of(api)
    assert env["GW_API_KEY"] == SECRETS["GW_API_KEY"]  # from deploy/.env, required
    assert list(published(api).values()) == [port_of(env["GW_API_LISTEN"])]
    assert env["GW_API_LISTEN"].startswith("0.0.0.0:")  # reachable from other containers
    grace = api["stop_grace_period"]
    assert int(grace.removesuffix("s")) > STOP_TIMEOUT  # requests in progress finish


def test_references() -> None:
    config = load()
    found = config["services"]
    register_port = port_of(env_of(found["register"])["GW_REGISTER_LISTEN"])
    for name, service in found.items():
        env = env_of(service)
        if name != "register":  # everyone finds the register by its service name
            host, _, register = env["GW_REGISTER"].partition(":")
            assert (host, int(register)) == ("register", register_port), name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in found, f"{name} depends on an unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in found[dependency], f"{dependency} has no healthcheck"
        check = service.get("healthcheck")
        if check:  # it asks the port this service listens on
            url = re.search(r"https?://[^'\"]+", " ".join(check["test"]))
            assert url, check
            listen = env.get("GW_METRICS_LISTEN") if role(service)[0] != "web" else None
            assert urlsplit(url.group(0)).port == port_of(listen or env["CHAT_LISTEN"]), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in (config.get("volumes") or {}), f"{name}: undeclared volume {source}"
    web = env_of(found["chat-web"])
    assert web["CHAT_DB"].startswith("/data/")  # on the chat-data volume
    # the page's WebSocket URL is a gateway's published port
    ws = urlsplit(web["CHAT_WS_URL"])
    gateway_ports = {p for s in found.values() if role(s)[0] == "gateway" for p in published(s)}
    assert ws.scheme == "ws" and ws.port in gateway_ports
    assert list(published(found["chat-web"]).values()) == [port_of(web["CHAT_LISTEN"])]


def _compose_command() -> list[str] | None:
    docker = tool("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=10)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = tool("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_it(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        why = "the Docker CLI here has no compose plugin" if tool("docker") else "no Docker CLI"
        pytest.skip(
            f"neither `docker compose` ({why}) nor docker-compose is installed: "
            "`make deploy-check` installs Debian's docker-compose"
        )
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    base = [*command, "--env-file", str(env_file), "-f", str(COMPOSE)]
    done = subprocess.run([*base, "config"], capture_output=True, text=True, timeout=30 * UNIT)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    assert resolved["gateway-2"]["environment"]["GW_LAN_IP"] == "172.29.83.12"
    assert set(resolved) == set(services())
    env_file.write_text(f"GW_AUTH_SECRET={SECRETS['GW_AUTH_SECRET']}\n")
    done = subprocess.run([*base, "config"], capture_output=True, text=True, timeout=30 * UNIT)
    assert done.returncode != 0 and "GW_SECRET" in done.stderr
