"""Non-finite numbers at the edges: JSON that strict parsers accept, and the first NaN of a run.

Python's ``json`` writes NaN and Infinity as bare tokens, which RFC 8259 parsers (jq, browsers,
most languages) reject; :func:`json_ready` turns them into null, so every JSON file and --json
output of ddlsim parses anywhere. :func:`first_nonfinite` finds where a run's metrics stopped
being numbers, for the ``diverged`` status.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["json_ready", "first_nonfinite"]


def json_ready(value: Any) -> Any:
    """``value`` with every NaN/inf float replaced by None, numpy scalars and arrays as Python
    values, tuples as lists and paths as text (recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k: json_ready(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):   # numpy and torch scalars and arrays
        return json_ready(value.tolist())
    return value


def first_nonfinite(rows: Sequence[Mapping[str, Any]]) -> tuple[int, str] | None:
    """(row index, metric name) of the first NaN or inf number among ``rows``; None if all are finite."""
    for i, row in enumerate(rows):
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                return i, key
    return None
