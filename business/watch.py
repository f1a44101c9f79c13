"""``gw status --watch``: the status tables with per-second rates, refreshed.

Every ``--watch`` seconds it asks every gateway for its status (one push client, kept
open) and shows what changed since the last answer (:mod:`business.rates`): per
gateway the messages in and out, events sent to workers, commands, redeliveries and
refusals per second; per worker the events it handled per second; then a total line.
On a terminal the tables are redrawn in place (as ``top`` does); otherwise (a pipe, a
file) each refresh is printed after the last. A refresh that fails (a gateway refused
the query, the push client is stopping) says why in one line under the last tables, and
the next one is tried in time. Ctrl-C ends it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from common.exceptions import GatewayError

from .client import AsyncGatewayClient
from .rates import RATES, Rates, Sample, rates, sample, shown
from .tables import mib, table

HEADERS = ("MSG IN/s", "MSG OUT/s", "EVENTS/s", "CMDS/s", "REDELIV/s", "REFUSED/s")
TOTALS = ("msg in", "msg out", "events", "commands", "redelivered", "refused")
HOME, CLEAR_LINE, CLEAR_BELOW, CLEAR_SCREEN = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"


def frame(
    status: Mapping[str, Mapping[str, Any]],
    missing: list[str],
    found: Rates,
    every: float,
    clock: str,
) -> list[str]:
    """One refresh: a header, the gateways and workers with their rates, the total."""
    lines = [f"gw status --watch {every:g}s   {clock}   (Ctrl-C ends it)", ""]
    if not status:
        return [*lines, "no gateway", *_missing(missing)]
    gateways = [["GATEWAY", "CLIENTS", "WORKERS", "PENDING", *HEADERS, "RSS MiB"]]
    workers = [["WORKER", "GATEWAY", "CLIENTS", "UNACKED", "EVENTS/s"]]
    for address, s in sorted(status.items()):
        got = found.gateways.get(address, {})
        gateways.append(
            [
                address,
                str(s["clients"]),
                str(len(s["workers"])),
                str(s["pending_events"]),
                *(shown(got.get(key)) for key in RATES),
                mib(s["rss_bytes"]),
            ]
        )
        for name, w in sorted(s["workers"].items()):
            workers.append(
                [
                    name,
                    address,
                    str(w["clients"]),
                    str(w["unacked"]),
                    shown(found.workers.get((address, name))),
                ]
            )
    lines += table(gateways)
    if len(workers) > 1:
        lines += ["", *table(workers)]
    names = {name for s in status.values() for name in s["workers"]}
    clients = sum(int(s["clients"]) for s in status.values())
    per_second = ", ".join(
        f"{label} {shown(found.total[key])}/s" for label, key in zip(TOTALS, RATES, strict=True)
    )
    counts = ", ".join(
        _count(n, what)
        for n, what in ((len(status), "gateway"), (len(names), "worker"), (clients, "client"))
    )
    lines += ["", f"total: {counts}; {per_second}"]
    return lines + _missing(missing)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _missing(missing: list[str]) -> list[str]:
    return ["", f"did not answer: {', '.join(missing)}"] if missing else []


def failed(why: str, every: float, clock: str, tty: bool) -> str:
    """The line that says a refresh failed: on a terminal, below the tables it leaves,
    over the one a failure before it wrote (the cursor stays on it); else a line."""
    line = f"{clock}  no status this time: {why[:200]} (trying again in {every:g}s)"
    return "\r" + line + CLEAR_LINE + CLEAR_BELOW if tty else line + "\n"


def redraw(lines: list[str], first: bool) -> str:
    """The text that draws ``lines`` over the previous refresh on a terminal: from the
    top left, each line cleared to its end, and whatever was below it cleared."""
    return (
        (CLEAR_SCREEN if first else "")
        + HOME
        + "".join(line + CLEAR_LINE + "\n" for line in lines)
        + CLEAR_BELOW
    )


async def watch(
    client: AsyncGatewayClient,
    every: float,
    out: TextIO,
    tty: bool,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Refresh every ``every`` seconds until cancelled (Ctrl-C)."""
    before: Sample | None = None
    while True:
        started = clock()
        try:
            answer = await client.get_status()
        except GatewayError as exc:  # this refresh only: the next may be answered
            out.write(failed(str(exc), every, time.strftime("%H:%M:%S"), tty))
            out.flush()
            await asyncio.sleep(max(0.0, started + every - clock()))
            continue
        after = sample(answer, clock())
        lines = frame(
            dict(answer),
            list(answer.missing),
            rates(before, after),
            every,
            time.strftime("%H:%M:%S"),
        )
        out.write(redraw(lines, before is None) if tty else "\n".join(lines) + "\n\n")
        out.flush()
        before = after
        # the display's period, not a wait for readiness: the next refresh is due then
        await asyncio.sleep(max(0.0, started + every - clock()))
