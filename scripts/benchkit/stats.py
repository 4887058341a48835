"""Figures from samples, and how the tables print them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank ``q`` (0..1) quantile; ``None`` for no values."""
    s = sorted(values)
    if not s:
        return None
    return s[max(0, math.ceil(q * len(s)) - 1)]


def median(values: Iterable[float]) -> float | None:
    s = sorted(values)
    if not s:
        return None
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def rnd(x: float | None, digits: int = 2) -> float | None:
    """``round``, passing ``None`` through."""
    return None if x is None else round(x, digits)


def summary(values: list[float], digits: int = 2) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": rnd(min(values) if values else None, digits),
        "p50": rnd(median(values), digits),
        "p90": rnd(percentile(values, 0.9), digits),
        "max": rnd(max(values) if values else None, digits),
    }


def lat_summary(values: list[float]) -> dict[str, Any]:
    """Latencies in ms: how many, p50, p90, p99 and the largest."""
    return {
        "n": len(values),
        "p50_ms": rnd(median(values)),
        "p90_ms": rnd(percentile(values, 0.9)),
        "p99_ms": rnd(percentile(values, 0.99)),
        "max_ms": rnd(max(values, default=None)),
    }


def fmt(x: Any, unit: str = "") -> str:
    """A table cell: ``-`` for nothing, thousands separators, fewer decimals for bigger floats."""
    if x is None:
        return "-"
    if isinstance(x, float):
        x = f"{x:,.2f}" if abs(x) < 10 else (f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}")
    elif isinstance(x, int):
        x = f"{x:,}"
    return f"{x}{unit}"


def latency_cell(lat: dict[str, Any]) -> str:
    """A phase's p50 / p99 ms, and its delivery when not all arrived."""
    pct = lat["delivery_pct"]
    return f"{fmt(lat['p50_ms'])} / {fmt(lat['p99_ms'])}" + ("" if pct == 100 else f" ({pct:g}%)")


def times(x: float | None) -> str:
    """A ratio: two significant digits below 0.1 (ours / IRC's throughput is ~0.01)."""
    if x is None:
        return "-"
    return f"{x:.2g}x" if abs(x) < 0.1 else f"{fmt(x)}x"


def print_rows(head: tuple[str, ...], rows: list[tuple[str, ...]], left: int = 1) -> None:
    """A text table under a rule: the first ``left`` columns left-aligned, the others right-aligned."""
    lines = [head, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for k, line in enumerate(lines):
        cells = (
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        print("  ".join(cells).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
