"""One measured configuration: its median time over repeats after warm-up, and the spread."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Measurement", "combine_runs", "measurement", "table"]


@dataclass(frozen=True)
class Measurement:
    """``kind`` (collective, p2p, train-step, train-compute, gemm, triad, codec), the
    configuration, the median of ``repeats`` timings ``measured_s`` and their interquartile
    range ``spread_s`` (seconds); ``samples_s`` keeps every timing; ``runs_s`` each run's median
    when several runs were combined (:func:`combine_runs`)."""

    kind: str
    config: Mapping[str, Any]
    measured_s: float
    repeats: int
    spread_s: float
    samples_s: tuple[float, ...] = field(repr=False, default=())
    runs_s: tuple[float, ...] = ()

    @property
    def run_spread(self) -> float:
        """(largest - smallest) / median of the runs' medians: how far apart whole runs measure
        this configuration (NaN for one run)."""
        if len(self.runs_s) < 2:
            return math.nan
        return (max(self.runs_s) - min(self.runs_s)) / float(np.median(self.runs_s))

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


def combine_runs(runs: Sequence[Sequence[Measurement]]) -> list[Measurement]:
    """Measurements of the same configurations taken in several runs, in the same order, as
    one list: each configuration's ``measured_s`` the median of the runs' medians (``runs_s``
    keeps them), ``spread_s`` the median of their spreads, every sample kept."""
    if not runs:
        raise ValueError("combine_runs needs at least one run")
    out = []
    for group in zip(*runs, strict=True):
        first = group[0]
        if any(m.kind != first.kind or m.config.get("op") != first.config.get("op") for m in group):
            raise ValueError("combine_runs: the runs measured different configurations")
        medians = tuple(m.measured_s for m in group)
        out.append(Measurement(first.kind, first.config, float(np.median(medians)), sum(m.repeats for m in group),
                               float(np.median([m.spread_s for m in group])),
                               tuple(x for m in group for x in m.samples_s), medians if len(group) > 1 else ()))
    return out


def table(measurements: Iterable[Measurement]) -> list[dict[str, Any]]:
    """Tidy rows, one per measurement (``pandas.DataFrame(table(...))`` makes the table)."""
    return [m.row() for m in measurements]
