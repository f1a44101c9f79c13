"""Text tables for people (``gw status``, ``gw connections``, ``gw status --watch``)."""

from __future__ import annotations


def table(rows: list[list[str]]) -> list[str]:
    """Columns aligned, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def mib(value: float) -> str:
    """Bytes as MiB, one decimal."""
    return f"{value / (1 << 20):.1f}"
