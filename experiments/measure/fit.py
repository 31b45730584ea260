"""Least-squares fits of hardware figures to measured times (numpy/scipy, no I/O).

The rate and alpha-beta fits minimise the *relative* error (each row weighted by 1/measured,
so a 4 KiB and a 64 MiB message count alike) with non-negative coefficients
(``scipy.optimize.nnls``); every fit returns its residuals as (model - measured) / measured per
point.

* :func:`fit_rate`: ``t = overhead_s + work / rate`` (GEMM FLOP/s, triad bytes/s).
* :func:`fit_call_overhead`: seconds per operator call, the slope of ``t = fixed_s + calls x
  call_s`` over loops of different lengths (the fixed part, the loop's own start, drops out).
* :func:`fit_linear`: ``t = fixed_s + design @ x``, e.g. x = (alpha, beta) with each point's
  latency and per-byte coefficients under the algorithm's closed form (one message: 1 and
  its bytes).
* :func:`fit_efficiency`: the efficiency e in (0, 1] with ``t = ideal_s(work) / e`` from
  (measured seconds, declared work) pairs, the median ratio (least absolute error of log
  time); ``ideal_s`` prices work at efficiency 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

from hwmodels import SpecError

__all__ = ["RateFit", "EfficiencyFit", "fit_rate", "fit_linear", "fit_efficiency", "fit_call_overhead",
           "relative_residuals"]


def relative_residuals(model_s: Any, measured_s: Any) -> np.ndarray:
    """(model - measured) / measured, elementwise."""
    m = np.asarray(measured_s, dtype=float)
    return (np.asarray(model_s, dtype=float) - m) / m


def _times(seconds: Any, n: int) -> np.ndarray:
    t = np.asarray(seconds, dtype=float).reshape(-1)
    if t.size != n or t.size == 0:
        raise SpecError(f"fit: need one positive time per point, got {t.size} times for {n} points")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise SpecError("fit: measured times must be finite and positive")
    return t


def _relative_nnls(design: np.ndarray, t: np.ndarray) -> np.ndarray:
    coef, _ = nnls(design / t[:, None], np.ones_like(t))
    return coef


@dataclass(frozen=True)
class RateFit:
    """``t = overhead_s + work / rate``; ``rate`` in work units per second."""

    rate: float
    overhead_s: float
    residuals: tuple[float, ...]

    def predict(self, work: Any) -> np.ndarray:
        """Modelled seconds for ``work``."""
        return self.overhead_s + np.asarray(work, dtype=float) / self.rate


@dataclass(frozen=True)
class EfficiencyFit:
    """``t = ideal_s / efficiency``."""

    efficiency: float
    residuals: tuple[float, ...]


def fit_rate(work: Sequence[float], seconds: Sequence[float], *, overhead: bool = True) -> RateFit:
    """Fit ``seconds = overhead_s + work / rate`` (``overhead=False``: no intercept)."""
    w = np.asarray(work, dtype=float).reshape(-1)
    t = _times(seconds, w.size)
    if np.any(w <= 0):
        raise SpecError("fit_rate: work must be positive")
    design = np.column_stack([np.ones_like(w), w]) if overhead else w[:, None]
    if overhead and np.unique(w).size < 2:
        raise SpecError("fit_rate: an overhead and a rate need at least two different work sizes")
    coef = _relative_nnls(design, t)
    slope = coef[-1]
    if slope <= 0:
        raise SpecError("fit_rate: times do not grow with work; no rate can be fitted")
    return RateFit(1.0 / slope, float(coef[0]) if overhead else 0.0, tuple(relative_residuals(design @ coef, t)))


def fit_call_overhead(calls: Sequence[float], seconds: Sequence[float]) -> RateFit:
    """Seconds per call (``1 / rate`` of the returned fit) from loops of ``calls`` tiny operators
    taking ``seconds``: :func:`fit_rate` with an intercept, calls as the work."""
    return fit_rate(calls, seconds, overhead=True)


def fit_linear(design: Any, seconds: Sequence[float], fixed_s: Sequence[float] | float = 0.0, *,
               names: Sequence[str] = ("alpha", "beta")) -> tuple[np.ndarray, tuple[float, ...]]:
    """Non-negative coefficients x of ``seconds = fixed_s + design @ x`` (relative least squares;
    ``fixed_s``: known terms such as reductions) and the residuals. The second column is the
    per-byte one: it must come out positive (``names`` label the columns in errors)."""
    d = np.asarray(design, dtype=float)
    t = _times(seconds, d.shape[0] if d.ndim == 2 else -1)
    fixed = np.broadcast_to(np.asarray(fixed_s, dtype=float), t.shape)
    if np.linalg.matrix_rank(d) < d.shape[1]:
        raise SpecError(f"fit: cannot tell {', '.join(names[:d.shape[1]])} apart: need points of at least two "
                        f"different sizes (and, with an oversubscription term, process counts)")
    # Relative weighting on the full time; the known part moves to the left-hand side.
    coef, _ = nnls(d / t[:, None], (t - fixed) / t)
    if coef[1] <= 0:
        raise SpecError("fit: times do not grow with message size; measure larger messages")
    return coef, tuple(relative_residuals(fixed + d @ coef, t))


def fit_efficiency(pairs: Sequence[tuple[float, Any]], ideal_s: Callable[[Any], float]) -> EfficiencyFit:
    """Efficiency in (0, 1] from (measured seconds, declared work) pairs: the least absolute
    error of log ``ideal_s(work) / e`` against log measured time, i.e. the median of
    r = ideal / measured. On log time a kernel twice too fast weighs as much as one twice too
    slow; the median keeps one kernel whose declared work it skips (a decode that returns its
    input) from moving the fit."""
    if not pairs:
        raise SpecError("fit_efficiency: need at least one (seconds, work) pair")
    t = _times([s for s, _ in pairs], len(pairs))
    ideal = np.array([float(ideal_s(w)) for _, w in pairs])
    if np.any(ideal <= 0):
        raise SpecError("fit_efficiency: the declared work must cost a positive ideal time")
    efficiency = min(1.0, float(np.median(ideal / t)))
    return EfficiencyFit(efficiency, tuple(relative_residuals(ideal / efficiency, t)))
