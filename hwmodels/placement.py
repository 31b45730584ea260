"""Where the devices are: distances (m) from the base station or access point.

``place(kind, count, rng, ...)``: ``disc`` (uniform in an annulus min_distance_m..radius_m, i.e.
uniform over its area), ``fixed`` (given distances, repeated cyclically to ``count``) or
``file`` (a text/CSV file of distances, or of x,y coordinates in metres, one device a line).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import SpecError

__all__ = ["PLACEMENTS", "place", "uniform_disc"]

PLACEMENTS = ("disc", "fixed", "file")


def uniform_disc(count: int, radius_m: float, rng: np.random.Generator, min_distance_m: float = 1.0) -> np.ndarray:
    """Distances of ``count`` points uniform over the annulus min_distance_m < r <= radius_m."""
    if not 0 <= min_distance_m < radius_m or not math.isfinite(radius_m):
        raise SpecError(f"placement: need 0 <= min_distance_m < radius_m, got {min_distance_m!r} and {radius_m!r}")
    u = rng.uniform(0.0, 1.0, count)
    return np.sqrt(min_distance_m ** 2 + u * (radius_m ** 2 - min_distance_m ** 2))


def _read(path: str | Path) -> np.ndarray:
    path = Path(path)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        try:
            values = [float(v) for v in line.replace(",", " ").split()]
        except ValueError:
            if not rows:   # a header line
                continue
            raise SpecError(f"{path}:{n}: expected a distance or x,y in metres, got {line!r}") from None
        if len(values) not in (1, 2):
            raise SpecError(f"{path}:{n}: expected a distance or x,y in metres, got {len(values)} numbers")
        rows.append(values[0] if len(values) == 1 else math.hypot(*values))
    if not rows:
        raise SpecError(f"{path}: no device positions")
    return np.asarray(rows, dtype=float)


def place(kind: str, count: int, rng: np.random.Generator, *, radius_m: Optional[float] = None,
          min_distance_m: float = 1.0, distances_m: Optional[list[float]] = None,
          path: Optional[str] = None) -> np.ndarray:
    """Distances of ``count`` devices; SpecError for an unknown kind or missing parameters."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SpecError(f"placement: count must be an integer >= 1, got {count!r}")
    if kind == "disc":
        if radius_m is None:
            raise SpecError("placement disc: give radius_m")
        return uniform_disc(count, float(radius_m), rng, float(min_distance_m))
    if kind in ("fixed", "file"):
        if kind == "fixed" and not distances_m:
            raise SpecError("placement fixed: give distances_m (a list of metres)")
        if kind == "file" and path is None:
            raise SpecError("placement file: give path")
        d = np.asarray(distances_m, dtype=float) if kind == "fixed" else _read(path)
        if radius_m is not None and (d > radius_m).any():
            raise SpecError(f"placement: a device at {d.max():g} m is outside the cell (radius {radius_m:g} m)")
        return np.resize(d, count)
    raise SpecError(f"placement: unknown kind {kind!r}; known: {', '.join(PLACEMENTS)}")
