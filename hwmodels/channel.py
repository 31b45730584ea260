"""Wireless channel models: path loss, shadowing, small-scale fading, SNR, capacity, outage.

Complex baseband; one channel use is one complex symbol. Everything is SI and linear inside
(W, Hz, m, power ratios); dB only where the field name says so. Vectorised over devices.

Path-loss models (:data:`PATH_LOSS`, by name):

============ ============================================================== ==========
name         PL(d) in dB, d in metres                                       sigma_SF
============ ============================================================== ==========
free-space   20 log10(4 pi d f / c)                                         0 dB
log-distance 20 log10(4 pi d0 f / c) + 10 n log10(d / d0)                   0 dB
uma-los      28.0 + 22 log10 d3D + 20 log10 f_GHz (3GPP TR 38.901)          4 dB
uma-nlos     max(uma-los, 13.54 + 39.08 log10 d3D + 20 log10 f_GHz - 0.6 (h_UT - 1.5))  6 dB
umi-los      32.4 + 21 log10 d3D + 20 log10 f_GHz                           4 dB
umi-nlos     max(umi-los, 22.4 + 35.3 log10 d3D + 21.3 log10 f_GHz - 0.3 (h_UT - 1.5))  7.82 dB
macro-km     128.1 + 37.6 log10(d / 1 km) (common in FL papers)             8 dB
============ ============================================================== ==========

3GPP formulas hold below the breakpoint distance for 10 m <= d2D <= 5 km (TR 38.901 Table
7.4.1-1); :meth:`Channel.check_distances` rejects devices outside a model's range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import special, stats

from .checks import is_number
from .errors import SpecError
from .registry import Registry

__all__ = ["Channel", "PATH_LOSS", "FADINGS", "SPEED_OF_LIGHT_M_PER_S", "noise_power_W", "capacity_bits_per_use",
           "shannon_rate_bps", "outage_probability", "ergodic_capacity_rayleigh"]

SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
_KT0_W_PER_HZ = 1.380649e-23 * 290.0   # thermal noise density at 290 K (-174 dBm/Hz)
FADINGS: Registry[str] = Registry.of("fading", ("none", "rayleigh", "rician"))


@dataclass(frozen=True)
class _PathLoss:
    formula: Callable[..., np.ndarray]
    shadowing_dB: float
    range_m: tuple[float, float]   # valid 2-D distances


def _fspl(d: np.ndarray, f: float) -> np.ndarray:
    return 20.0 * np.log10(4.0 * math.pi * d * f / SPEED_OF_LIGHT_M_PER_S)


def _log_distance(d, f, ch):
    return _fspl(np.full_like(d, ch.reference_m), f) + 10.0 * ch.exponent * np.log10(d / ch.reference_m)


def _uma_los(d3, f, ch):
    return 28.0 + 22.0 * np.log10(d3) + 20.0 * math.log10(f / 1e9)


def _umi_los(d3, f, ch):
    return 32.4 + 21.0 * np.log10(d3) + 20.0 * math.log10(f / 1e9)


def _uma_nlos(d3, f, ch):
    nlos = 13.54 + 39.08 * np.log10(d3) + 20.0 * math.log10(f / 1e9) - 0.6 * (ch.ut_height_m - 1.5)
    return np.maximum(_uma_los(d3, f, ch), nlos)


def _umi_nlos(d3, f, ch):
    nlos = 22.4 + 35.3 * np.log10(d3) + 21.3 * math.log10(f / 1e9) - 0.3 * (ch.ut_height_m - 1.5)
    return np.maximum(_umi_los(d3, f, ch), nlos)


PATH_LOSS: Registry[_PathLoss] = Registry.of("path_loss", {
    "free-space": _PathLoss(lambda d, f, ch: _fspl(d, f), 0.0, (0.0, math.inf)),
    "log-distance": _PathLoss(_log_distance, 0.0, (0.0, math.inf)),
    "uma-los": _PathLoss(_uma_los, 4.0, (10.0, 5000.0)),
    "uma-nlos": _PathLoss(_uma_nlos, 6.0, (10.0, 5000.0)),
    "umi-los": _PathLoss(_umi_los, 4.0, (10.0, 5000.0)),
    "umi-nlos": _PathLoss(_umi_nlos, 7.82, (10.0, 5000.0)),
    "macro-km": _PathLoss(lambda d, f, ch: 128.1 + 37.6 * np.log10(d / 1000.0), 8.0, (1.0, math.inf)),
})
_3GPP = ("uma-los", "uma-nlos", "umi-los", "umi-nlos")


@dataclass(frozen=True)
class Channel:
    """Large-scale (path loss + log-normal shadowing) and small-scale (block fading) channel.

    ``shadowing_dB=None`` takes the model's sigma_SF (table above); ``rician_k`` is the linear
    K-factor of Rician fading; heights are for the 3GPP models (d3D from d2D and heights).
    """

    path_loss: str = "log-distance"
    exponent: float = 3.0
    reference_m: float = 1.0
    shadowing_dB: Optional[float] = None
    fading: str = "rayleigh"
    rician_k: float = 1.0
    bs_height_m: float = 10.0
    ut_height_m: float = 1.5

    def __post_init__(self) -> None:
        PATH_LOSS.get(self.path_loss, where="channel")
        FADINGS.get(self.fading, where="channel")
        for name in ("exponent", "reference_m", "bs_height_m", "ut_height_m"):
            value = getattr(self, name)
            if not (is_number(value) and value > 0):
                raise SpecError(f"channel: {name} must be a positive number, got {value!r}")
        for name in ("shadowing_dB", "rician_k"):
            value = getattr(self, name)
            if value is not None and not (is_number(value) and value >= 0):
                raise SpecError(f"channel: {name} must be a number >= 0, got {value!r}")

    @property
    def sigma_shadowing_dB(self) -> float:
        """Standard deviation of the log-normal shadowing in dB."""
        return PATH_LOSS[self.path_loss].shadowing_dB if self.shadowing_dB is None else float(self.shadowing_dB)

    def check_distances(self, distances_m: np.ndarray) -> np.ndarray:
        """The distances as a float array; SpecError if any is outside the model's range."""
        d = np.asarray(distances_m, dtype=float).reshape(-1)
        low, high = PATH_LOSS[self.path_loss].range_m
        bad = ~np.isfinite(d) | (d <= 0) | (d < low) | (d > high)
        if d.size == 0 or bad.any():
            which = "no devices" if d.size == 0 else f"device {int(np.argmax(bad))} at {d[np.argmax(bad)]:g} m"
            raise SpecError(f"channel: {which} is outside the {self.path_loss} model's range "
                            f"({low:g} m < d <= {high:g} m)")
        return d

    def path_loss_dB(self, distances_m: np.ndarray, carrier_Hz: float) -> np.ndarray:
        """Mean path loss in dB at 2-D distances ``distances_m`` (3GPP models use d3D)."""
        d = self.check_distances(distances_m)
        if self.path_loss in _3GPP:
            d = np.hypot(d, self.bs_height_m - self.ut_height_m)
        return PATH_LOSS[self.path_loss].formula(d, float(carrier_Hz), self)

    def large_scale_gain(self, distances_m: np.ndarray, carrier_Hz: float, rng: np.random.Generator,
                         antenna_gain_dB: float = 0.0) -> np.ndarray:
        """Linear power gain G_tx G_rx / (PL X_sigma) with one shadowing draw per device."""
        pl = self.path_loss_dB(distances_m, carrier_Hz)
        shadow = rng.normal(0.0, self.sigma_shadowing_dB, pl.shape) if self.sigma_shadowing_dB > 0 else 0.0
        return 10.0 ** ((antenna_gain_dB - pl - shadow) / 10.0)

    def fade(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Small-scale coefficients h (complex, E|h|^2 = 1): 1, CN(0,1), or Rician(K)."""
        if self.fading == "none":
            return np.ones(size, dtype=complex)
        scatter = (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / math.sqrt(2.0)
        if self.fading == "rayleigh":
            return scatter
        k = self.rician_k
        phase = np.exp(1j * rng.uniform(0.0, 2.0 * math.pi, size))
        return math.sqrt(k / (k + 1.0)) * phase + math.sqrt(1.0 / (k + 1.0)) * scatter

    def fading_cdf(self, x: np.ndarray | float) -> np.ndarray:
        """P(|h|^2 <= x) of the small-scale power gain."""
        x = np.asarray(x, dtype=float)
        if self.fading == "none":
            return (x >= 1.0).astype(float)
        if self.fading == "rayleigh":
            return -np.expm1(-np.maximum(x, 0.0))
        k = self.rician_k   # 2 (K+1) |h|^2 is noncentral chi-square, 2 dof, noncentrality 2K
        return stats.ncx2.cdf(2.0 * (k + 1.0) * np.maximum(x, 0.0), 2, 2.0 * k)


def noise_power_W(bandwidth_Hz: float, noise_figure_dB: float = 0.0) -> float:
    """k T0 W F: thermal noise over ``bandwidth_Hz`` at 290 K with the receiver noise figure."""
    if not bandwidth_Hz > 0:
        raise SpecError(f"noise power: bandwidth must be > 0 Hz, got {bandwidth_Hz!r}")
    return _KT0_W_PER_HZ * bandwidth_Hz * 10.0 ** (noise_figure_dB / 10.0)


def capacity_bits_per_use(snr: np.ndarray | float) -> np.ndarray:
    """log2(1 + SNR) bit per complex channel use."""
    return np.log2(1.0 + np.asarray(snr, dtype=float))


def shannon_rate_bps(bandwidth_Hz: float | np.ndarray, snr: np.ndarray | float) -> np.ndarray:
    """W log2(1 + SNR) in bit/s."""
    return np.asarray(bandwidth_Hz, dtype=float) * capacity_bits_per_use(snr)


def outage_probability(rate_bits_per_use: float, mean_snr: np.ndarray | float, channel: Channel | None = None) -> np.ndarray:
    """P(log2(1 + SNR |h|^2) < R) = F_{|h|^2}((2^R - 1) / SNR); Rayleigh: 1 - exp(-(2^R - 1)/SNR)."""
    if not rate_bits_per_use > 0:
        raise SpecError(f"outage: rate must be > 0 bit per channel use, got {rate_bits_per_use!r}")
    threshold = (2.0 ** rate_bits_per_use - 1.0) / np.asarray(mean_snr, dtype=float)
    return (channel or Channel()).fading_cdf(threshold)


def ergodic_capacity_rayleigh(mean_snr: np.ndarray | float) -> np.ndarray:
    """E[log2(1 + SNR |h|^2)] under Rayleigh fading: log2(e) e^{1/SNR} E1(1/SNR)."""
    inv = 1.0 / np.asarray(mean_snr, dtype=float)
    return math.log2(math.e) * special.exp1(inv) * np.exp(inv)
