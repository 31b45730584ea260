"""Yardsticks per element at R bits: Gaussian D(R), the unbiased bound, Lloyd-Max, CEO.

All distortions are relative to the source variance (sigma^2 = 1) unless stated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from hwmodels import SpecError

__all__ = ["gaussian_distortion", "unbiased_bound", "LLOYD_MAX", "lloyd_max", "ceo_sum_rate", "ceo_sum_rate_equal",
           "ceo_distortion"]

# Fixed-rate Lloyd-Max quantizer of N(0, 1): D / sigma^2 at R = 1..4 bits (Max 1960).
LLOYD_MAX = {1: 0.3634, 2: 0.1175, 3: 0.03454, 4: 0.009497}


def gaussian_distortion(rate: float) -> float:
    """D(R) / sigma^2 = 2^(-2R): no code at ``rate`` bits/element does better on N(0, sigma^2)."""
    return 2.0 ** (-2.0 * rate)


def unbiased_bound(rate: float) -> float:
    """The least relative error of any unbiased code at ``rate`` bits on Gaussian input: 1/(2^(2R) - 1)."""
    return math.inf if rate <= 0 else 1.0 / (4.0**rate - 1.0)


def lloyd_max(levels: int, iterations: int = 500) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd-Max quantizer of N(0, 1) with ``levels`` points: (thresholds, points, D / sigma^2).

    Lloyd's iteration with exact Gaussian cell centroids; thresholds include +-inf.
    """
    if levels < 1:
        raise SpecError(f"levels must be an integer >= 1, got {levels}")
    edges, points, distortion = _lloyd_max(levels, iterations)
    return edges.copy(), points.copy(), distortion


@functools.lru_cache(maxsize=64)
def _lloyd_max(levels: int, iterations: int) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`lloyd_max`, computed once per (levels, iterations): every ISGQ compressor built
    with the same levels reuses it (callers get copies)."""
    points = stats.norm.ppf((np.arange(levels) + 0.5) / levels)
    for _ in range(iterations):
        edges = np.concatenate(([-np.inf], (points[1:] + points[:-1]) / 2, [np.inf]))
        mass = np.diff(stats.norm.cdf(edges))
        points = -np.diff(stats.norm.pdf(edges)) / mass
    edges = np.concatenate(([-np.inf], (points[1:] + points[:-1]) / 2, [np.inf]))
    mass = np.diff(stats.norm.cdf(edges))
    # E[X^2] in a cell minus centroid^2 mass: D = 1 - sum mass_i c_i^2.
    return edges, points, float(1.0 - np.sum(mass * points**2))


def _check_ceo(distortion: float, var_x: float, noise_vars: Sequence[float]) -> float:
    if var_x <= 0 or len(noise_vars) == 0 or any(v <= 0 for v in noise_vars):
        raise SpecError("ceo: the source variance and every noise variance must be > 0")
    floor = 1.0 / (1.0 / var_x + sum(1.0 / v for v in noise_vars))
    if not floor < distortion:
        raise SpecError(f"ceo: distortion must be in ({floor:.6g}, inf) for these variances, got {distortion!r}")
    return 1.0 / min(distortion, var_x) - 1.0 / var_x


def ceo_sum_rate_equal(distortion: float, var_x: float, noise_var: float, workers: int) -> float:
    """Quadratic Gaussian CEO sum rate (bits per sample) for L workers with equal noise, closed form.

    R = 0.5 log2(var_x / D) - (L/2) log2(1 - (noise_var / L)(1/D - 1/var_x)).
    """
    excess = _check_ceo(distortion, var_x, [noise_var] * workers)
    return 0.5 * math.log2(var_x / min(distortion, var_x)) - workers / 2 * math.log2(1 - noise_var / workers * excess)


def ceo_distortion(sum_rate: float, var_x: float, noise_var: float, workers: int) -> float:
    """The least distortion D (same units as ``var_x``) that ``workers`` equally noisy workers
    reach at ``sum_rate`` bits per sample in total: :func:`ceo_sum_rate_equal` inverted (it
    falls strictly from infinity at the floor (1/var_x + L/noise_var)^-1 to 0 at var_x).
    ``noise_var = 0`` is one noiseless source: var_x 2^(-2 R)."""
    if not sum_rate >= 0 or var_x <= 0 or noise_var < 0 or workers < 1:
        raise SpecError("ceo: sum rate >= 0, source variance > 0, noise variance >= 0 and workers >= 1 required")
    if noise_var == 0:
        return var_x * gaussian_distortion(sum_rate)
    if sum_rate == 0:
        return var_x
    floor = 1.0 / (1.0 / var_x + workers / noise_var)
    low = floor * (1 + 1e-12)
    if ceo_sum_rate_equal(low, var_x, noise_var, workers) <= sum_rate:   # beyond float resolution of the floor
        return low
    return float(optimize.brentq(lambda d: ceo_sum_rate_equal(d, var_x, noise_var, workers) - sum_rate, low, var_x,
                                 xtol=floor * 1e-12, rtol=1e-12))


def ceo_sum_rate(distortion: float, var_x: float, noise_vars: Sequence[float]) -> tuple[float, list[float]]:
    """Quadratic Gaussian CEO sum rate and per-worker rates (bits per sample), any noises.

    Minimises 0.5 log2(var_x / D) + sum r_i subject to 1/D = 1/var_x + sum (1 - 2^(-2 r_i)) / N_i
    by reverse water-filling: 2^(-2 r_i) = min(1, theta N_i) with sum (1/N_i - theta)^+ = 1/D - 1/var_x.
    """
    excess = _check_ceo(distortion, var_x, noise_vars)
    precision = np.sort(1.0 / np.asarray(noise_vars, dtype=float))[::-1]
    theta = 0.0
    for active in range(1, len(precision) + 1):  # water level among the `active` most precise workers
        theta = (precision[:active].sum() - excess) / active
        if active == len(precision) or theta >= precision[active]:
            break
    rates = [max(0.0, -0.5 * math.log2(min(1.0, theta / p))) for p in 1.0 / np.asarray(noise_vars, dtype=float)]
    return 0.5 * math.log2(var_x / min(distortion, var_x)) + sum(rates), rates
