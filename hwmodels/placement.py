"""Where the devices are: distances (m) from the base station or access point.

``place(kind, count, rng, ...)``: ``disc`` (uniform in an annulus min_distance_m..radius_m, i.e.
uniform over its area), ``fixed`` (given distances, repeated cyclically to ``count``) or
``file`` (a text/CSV file of distances, or of x,y coordinates in metres, one device a line).
"""

from __future__ import annotations

import math
from pathlib import Path
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from .checks import is_int
from .errors import SpecError
from .registry import Registry, bind_params

__all__ = ["PLACEMENTS", "disc", "fixed", "from_file", "place", "uniform_disc"]

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


def disc(count: int, rng: np.random.Generator, *, radius_m: float, min_distance_m: float = 1.0) -> np.ndarray:
    """``count`` distances uniform over the annulus min_distance_m < r <= radius_m (m)."""
    return uniform_disc(count, float(radius_m), rng, float(min_distance_m))


def fixed(count: int, rng: np.random.Generator, *, distances_m: list[float],
          radius_m: Optional[float] = None) -> np.ndarray:
    """The given distances (m), repeated cyclically to ``count``."""
    if not distances_m:
        raise SpecError("placement fixed: give distances_m (a list of metres)")
    return _inside(np.asarray(distances_m, dtype=float), count, radius_m)


def from_file(count: int, rng: np.random.Generator, *, path: str, radius_m: Optional[float] = None) -> np.ndarray:
    """Distances (m) read from ``path`` (one distance or x,y a line), repeated to ``count``."""
    return _inside(_read(path), count, radius_m)


def _inside(d: np.ndarray, count: int, radius_m: Optional[float]) -> np.ndarray:
    if radius_m is not None and (d > radius_m).any():
        raise SpecError(f"placement: a device at {d.max():g} m is outside the cell (radius {radius_m:g} m)")
    return np.resize(d, count)


PLACEMENTS: Registry[Callable[..., np.ndarray]] = Registry("kind")
PLACEMENTS.add("disc", disc)
PLACEMENTS.add("fixed", fixed)
PLACEMENTS.add("file", from_file)


def place(kind: str, count: int, rng: np.random.Generator, **params: Any) -> np.ndarray:
    """Distances (m) of ``count`` devices placed by the builder ``kind`` (see :data:`PLACEMENTS`)
    with its parameters; SpecError for an unknown kind or a missing or unknown parameter."""
    if not is_int(count) or count < 1:
        raise SpecError(f"placement: count must be an integer >= 1, got {count!r}")
    builder = PLACEMENTS.get(kind, where="placement")
    bind_params(builder, params, f"placement {kind}", given=("count", "rng"))
    return builder(count, rng, **params)
