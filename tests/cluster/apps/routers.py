"""Custom first-pick routers for --router (tests)."""

from __future__ import annotations

from typing import Any


def oldest(workers: list[Any]) -> Any:
    """Every new client to the worker with the smallest pid (deterministic)."""
    return min(workers, key=lambda w: w.pid)


def broken(workers: list[Any]) -> Any:
    raise RuntimeError("a bug in the router")


def stranger(workers: list[Any]) -> Any:
    return "not a worker"


def by_remote(workers: list[Any], client: Any) -> Any:
    """A router that reads the client: by its remote port's parity (deterministic)."""
    ordered = sorted(workers, key=lambda w: w.pid)
    return ordered[int(client.remote.rpartition(":")[2]) % 2 % len(ordered)]


def with_a_default(workers: list[Any], rng: Any = None) -> Any:
    """A router whose second parameter is not for the client: called with the workers."""
    assert rng is None
    return min(workers, key=lambda w: w.pid)
