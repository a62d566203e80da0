"""How the report writes numbers, values, durations and sizes as text (the charts, the tables and the facts alike)."""

from __future__ import annotations

import json
import math

__all__ = [
    "ago",
    "count",
    "duration",
    "fitness_text",
    "fitness_value",
    "plain",
    "short_number",
    "size",
]


def short_number(value: float) -> str:
    """A short, readable number for axes and cells (``1.23M``, ``0.1400``); ``–`` for none."""
    if value is None or not math.isfinite(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude == 0 or magnitude >= 0.01:
        return f"{value:.4g}"
    return f"{value:.2e}"


def count(value) -> str:
    """A whole count with thousands separators and its short form (``1,234,567 (1.23M)``)."""
    number = int(value)
    exact = f"{number:,}"
    return exact if abs(number) < 1e4 else f"{exact} ({short_number(number)})"


def plain(value) -> str:
    """A setting's or a file's value as text: strings as they are, lists comma-separated, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return short_number(value) if abs(value) >= 1e4 else f"{value:g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(plain(v) for v in value)
    return json.dumps(value, default=str)


def fitness_value(value: float) -> str:
    """Accuracies with four decimals, counts (parameters, FLOPs) as whole numbers."""
    if math.isfinite(value) and value == int(value) and abs(value) >= 10:
        return f"{value:.0f}" if abs(value) < 1e6 else short_number(value)
    return f"{value:.4f}"


def fitness_text(row) -> str:
    """An evaluation's fitness values, comma-separated; the stored text where it did not parse."""
    values = row["fitness_values"]
    if values is None:
        return str(row.get("fitness") or "")
    return ", ".join(fitness_value(v) for v in values)


def duration(seconds: float) -> str:
    """Seconds as the largest unit that reads well: ``42 s``, ``3.5 min``, ``2.1 h``, ``1.5 d``."""
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} s"


def ago(seconds: float) -> str:
    return duration(max(0.0, seconds)) + " ago"


def size(size_in_bytes: int) -> str:
    for unit, length in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size_in_bytes >= length:
            return f"{size_in_bytes / length:.1f} {unit}"
    return f"{size_in_bytes} B"
