"""Per-second rates from two ``gw status`` answers (``gw status --watch``).

Pure: the caller takes a :func:`sample` of each answer with the time it arrived (a
monotonic clock) and asks :func:`rates` for what changed in between. A gateway's
counters only grow while its process lives; one that went down, or whose pid changed
(restarted on the same address), counts again from 0, as Prometheus' ``rate()`` does.
A rate that cannot be known yet (the first sample of a gateway or a worker) is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# the rates shown, each from one counter of a gateway's status ("refused": all refusals)
RATES = ("messages_in", "messages_out", "events", "commands", "events_redelivered", "refused")
Rate = float | None


def counters(status: Mapping[str, Any]) -> dict[str, int]:
    """The counters of one gateway's status that have a rate: the upgrades refused (by
    HTTP status, ``refused_401``...) and the events refused (no worker) add up to
    ``refused``."""
    found = {key: int(status.get(key, 0)) for key in RATES if key != "refused"}
    found["refused"] = sum(
        int(value)
        for key, value in status.items()
        if key.startswith("refused_") and isinstance(value, int)
    )
    return found


@dataclass(frozen=True, slots=True)
class Sample:
    """What the rates are computed from: one ``gw status`` answer, and when it came."""

    at: float  # seconds, monotonic
    gateways: dict[str, tuple[int, dict[str, int]]]  # address -> (pid, counters)
    workers: dict[tuple[str, str], int]  # (gateway, worker name) -> events handled


def sample(status: Mapping[str, Mapping[str, Any]], at: float) -> Sample:
    """A sample of ``status`` (internal address -> that gateway's status) taken at ``at``."""
    gateways = {address: (int(s.get("pid", 0)), counters(s)) for address, s in status.items()}
    workers = {
        (address, name): int(w.get("handled", 0))
        for address, s in status.items()
        for name, w in s.get("workers", {}).items()
    }
    return Sample(at, gateways, workers)


def per_second(before: int | None, after: int, seconds: float) -> Rate:
    """How fast a counter grew; None if there is no earlier value or no time passed. A
    counter that went down was reset (its process restarted): it grew from 0."""
    if before is None or seconds <= 0:
        return None
    return (after - before if after >= before else after) / seconds


@dataclass(frozen=True, slots=True)
class Rates:
    """Per gateway, per worker (events handled) and over every gateway: per second."""

    gateways: dict[str, dict[str, Rate]]
    workers: dict[tuple[str, str], Rate]
    total: dict[str, Rate]  # the sum of the gateways' known rates (None: none known)


def rates(before: Sample | None, after: Sample) -> Rates:
    """The rates between two samples (``before`` None: the first one, nothing known)."""
    seconds = after.at - before.at if before is not None else 0.0
    gateways: dict[str, dict[str, Rate]] = {}
    for address, (pid, now) in after.gateways.items():
        was = before.gateways.get(address) if before is not None else None
        old: dict[str, int] = {} if was is None else was[1]  # {}: nothing known yet
        if was is not None and was[0] != pid:  # restarted: its counters began at 0
            old = dict.fromkeys(now, 0)
        gateways[address] = {
            key: per_second(old.get(key), value, seconds) for key, value in now.items()
        }
    workers = {
        key: per_second(before.workers.get(key) if before else None, handled, seconds)
        for key, handled in after.workers.items()
    }
    total: dict[str, Rate] = {}
    for key in RATES:
        known = [rate for got in gateways.values() if (rate := got[key]) is not None]
        total[key] = sum(known) if known else None
    return Rates(gateways, workers, total)


def shown(rate: Rate) -> str:
    """A rate for people: "-" (not known yet), "0", "2.5" below ten, else whole."""
    if rate is None:
        return "-"
    if rate == 0:
        return "0"
    return f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"
