"""What the benchmarks share to keep and summarise their runs, torch-free: JSON-lines records and mean ± sd."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path


def read_json_lines(path: Path) -> list[dict]:
    """Every record of a JSON-lines file (none when it is missing; a torn last line from a kill is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def mean_sd(values, digits=3, scale=1.0) -> str:
    """``"mean ± sd"`` of ``values`` divided by ``scale``, skipping ``None`` and NaN; ``"n/a"`` when none are left."""
    values = [v / scale for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"
