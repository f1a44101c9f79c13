"""The one table a bench run prints, and the percentile helper (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(ordered: Sequence[int], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None if empty)."""
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[index])


@dataclass
class Row:
    """One line of the table: a figure for the cluster and for the baseline."""

    scenario: str
    metric: str
    cluster: float | None
    baseline: float | None = None
    target: str = ""
    # cluster value, ratio -> target met?
    check: Callable[[float, float | None], bool] | None = None
    digits: int = 1
    compare: bool = True  # False for counts that must be 0 (losses): no ratio

    @property
    def ratio(self) -> float | None:
        if not self.compare or self.cluster is None or not self.baseline:
            return None
        return self.cluster / self.baseline

    @property
    def verdict(self) -> str:
        if self.check is None or self.cluster is None:
            return ""
        return "MET" if self.check(self.cluster, self.ratio) else "MISSED"


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    """Markdown table (readable as plain text too)."""
    head = ["scenario", "metric", "cluster", "baseline", "cluster/baseline", "target", ""]
    body = [
        [
            r.scenario,
            r.metric,
            _fmt(r.cluster, r.digits),
            _fmt(r.baseline, r.digits),
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.target,
            r.verdict,
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [head, ["-" * w for w in widths], *body]
    right = {2, 3, 4}
    return "\n".join(
        "| "
        + " | ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        + " |"
        for line in lines
    )
