"""One measured configuration: its median time over repeats after warm-up, and the spread."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Measurement", "measurement", "table"]


@dataclass(frozen=True)
class Measurement:
    """``kind`` (collective, p2p, train-step, train-compute, gemm, triad, codec), the
    configuration, the median of ``repeats`` timings ``measured_s`` and their interquartile
    range ``spread_s`` (seconds); ``samples_s`` keeps every timing."""

    kind: str
    config: Mapping[str, Any]
    measured_s: float
    repeats: int
    spread_s: float
    samples_s: tuple[float, ...] = field(repr=False, default=())

    def row(self) -> dict[str, Any]:
        """A flat record: kind, the configuration's keys, measured_s, repeats, spread_s, min_s."""
        return {"kind": self.kind, **self.config, "measured_s": self.measured_s, "repeats": self.repeats,
                "spread_s": self.spread_s, "min_s": min(self.samples_s) if self.samples_s else self.measured_s}


def measurement(kind: str, config: Mapping[str, Any], samples_s: Sequence[float]) -> Measurement:
    """The :class:`Measurement` of timings ``samples_s`` (seconds, warm-up already dropped)."""
    s = np.asarray(samples_s, dtype=float)
    if s.size == 0:
        raise ValueError("measurement needs at least one timing")
    q25, q50, q75 = np.percentile(s, [25, 50, 75])
    return Measurement(kind, dict(config), float(q50), int(s.size), float(q75 - q25), tuple(float(x) for x in s))


def table(measurements: Iterable[Measurement]) -> list[dict[str, Any]]:
    """Tidy rows, one per measurement (``pandas.DataFrame(table(...))`` makes the table)."""
    return [m.row() for m in measurements]
