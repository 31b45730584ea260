"""Measure a scheme the way users compare them: bits on the wire and what it does to g.

``measure`` draws one tensor from a distribution, compresses it ``trials`` times with
independent randomness (step = trial) and reports bits per element, mean relative error
||g_hat - g||^2 / ||g||^2, bias ||mean(g_hat) - g||^2 / ||g||^2, the Gaussian D(R) at the
measured rate, and mean encode and decode wall time. ``measure_workers`` does the same for the
server's aggregate of several workers observing the source with noise (the CEO setting: NDQSG,
majority vote), ``measure_factors`` for a linear layer's gradient sent as its factors (ISGQ).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from hwmodels import SpecError

from .base import FACTORS, TENSOR, WORKERS, State
from .bounds import ceo_distortion, gaussian_distortion
from .registry import create, get

__all__ = ["DISTRIBUTIONS", "sample", "measure", "measure_workers", "measure_factors"]


def _gaussian(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen)


def _heavy(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen) ** 3


def _laplace(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    # inverse CDF on u in [eps - 1, 1) (as torch.distributions.Laplace): |u| < 1, so log1p(-|u|)
    # stays finite (u = rand - 1/2 reached |2u| = 1, -inf, whenever rand gave exactly 0)
    eps = torch.finfo(torch.float32).eps
    u = torch.empty(shape).uniform_(eps - 1, 1, generator=gen)
    return -torch.sign(u) * torch.log1p(-u.abs())


DISTRIBUTIONS: dict[str, Callable[[tuple[int, ...], torch.Generator], torch.Tensor]] = {
    "gaussian": _gaussian, "heavy-tailed": _heavy, "laplace": _laplace}


def sample(distribution: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """i.i.d. float32 entries: gaussian N(0,1), heavy-tailed (cubed Gaussian) or laplace."""
    if distribution not in DISTRIBUTIONS:
        raise SpecError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
    return DISTRIBUTIONS[distribution](shape, torch.Generator().manual_seed(seed))


def _shape(elements: int, rows: int) -> tuple[int, ...]:
    _positive("elements", elements)
    if rows < 1 or elements % rows:
        raise SpecError(f"rows must be a divisor of elements ({elements}), got {rows}")
    return (elements,) if rows == 1 else (rows, elements // rows)


class _Tally:
    """Running sums over trials of one estimate of ``truth``: errors, bits, times."""

    def __init__(self, truth: torch.Tensor, elements: int) -> None:
        self.truth, self.elements = truth, elements
        self.norm2 = float(truth.square().sum())
        self.total = torch.zeros_like(truth)
        self.errors: list[float] = []
        self.bits = 0.0
        self.encode_s = self.decode_s = 0.0

    def add(self, estimate: torch.Tensor, bits: float, encode_s: float, decode_s: float) -> None:
        self.errors.append(float((estimate - self.truth).square().sum()) / self.norm2)
        self.total += estimate
        self.bits += bits
        self.encode_s += encode_s
        self.decode_s += decode_s

    def report(self, scheme: str, params: Mapping[str, Any], unbiased: bool,
               bound: Callable[[float], float] = gaussian_distortion, **extra: Any) -> dict[str, Any]:
        """The report row; ``rd_bound`` is ``bound`` (relative distortion) at the measured rate."""
        trials = len(self.errors)
        rate = self.bits / trials / self.elements
        return {
            "scheme": scheme, "params": get(scheme).resolve(params), **extra, "trials": trials,
            "bits_per_element": rate,
            "relative_error": sum(self.errors) / trials,
            "bias": float((self.total / trials - self.truth).square().sum()) / self.norm2,
            "unbiased": bool(unbiased),
            "rd_bound": bound(rate),
            "encode_s": self.encode_s / trials,
            "decode_s": self.decode_s / trials,
        }


def _check(scheme: str, accepted: tuple[str, ...], trials: int) -> None:
    """SpecError unless the scheme's compressor takes one of the ``accepted`` inputs
    (:attr:`~.base.Compressor.inputs`) and ``trials`` is at least 1."""
    takes = get(scheme).kind
    if takes not in accepted:
        raise SpecError(f"{scheme} takes {takes} input, not {accepted[0]}; see docs/compression.md for its options")
    if trials < 1:
        raise SpecError(f"trials must be an integer >= 1, got {trials}")


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise SpecError(f"{name} must be an integer >= 1, got {value}")


def measure(scheme: str, params: Mapping[str, Any] | None = None, *, elements: int = 4096, rows: int = 1,
            distribution: str = "gaussian", trials: int = 10, seed: int = 0) -> dict[str, Any]:
    """One scheme on one tensor of ``elements`` (``rows`` x elements/rows): the report row.

    Times are seconds of this host's wall clock per call, not simulated time.
    """
    _check(scheme, (TENSOR,), trials)
    params = dict(params or {})
    compressor = create(scheme, **params)
    g = sample(distribution, _shape(elements, rows), seed)
    tally = _Tally(g, elements)
    for trial in range(trials):
        state = State(seed=seed, step=trial)
        start = time.perf_counter()
        payload = compressor.compress(g, state)
        middle = time.perf_counter()
        g_hat = compressor.decompress(payload, state)
        tally.add(g_hat, payload.nbits, middle - start, time.perf_counter() - middle)
    return tally.report(scheme, params, compressor.unbiased, distribution=distribution, elements=elements)


def measure_workers(scheme: str, params: Mapping[str, Any] | None = None, *, elements: int = 4096, workers: int = 4,
                    noise: float = 0.1, distribution: str = "gaussian", trials: int = 10, seed: int = 0) -> dict[str, Any]:
    """The CEO setting: workers observing the source g plus their own noise N(0, noise^2); the
    server's ``aggregate`` scored against g. Bits are per worker; ``rd_bound`` is the quadratic
    Gaussian CEO bound, the least relative distortion any code reaches at the workers' sum rate
    (:func:`~.bounds.ceo_distortion`, source variance the mean square of g); ``mean_error`` is
    the relative error of the workers' exact (uncompressed) mean; ``failures`` counts NDQSG
    decoding failures (coordinates, over all trials)."""
    _check(scheme, (TENSOR, WORKERS), trials)
    _positive("workers", workers)
    if not noise >= 0:
        raise SpecError(f"noise must be a number >= 0, got {noise}")
    params = dict(params or {})
    compressor = create(scheme, **params)
    g = sample(distribution, _shape(elements, 1), seed)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    local = [g + noise * torch.randn(g.shape, generator=noise_gen) for _ in range(workers)]
    mean = torch.stack(local).mean(0)
    tally = _Tally(g, elements)
    var_x = tally.norm2 / elements
    failures = 0
    for trial in range(trials):
        states = [State(seed=seed, worker=w, step=trial) for w in range(workers)]
        start = time.perf_counter()
        payloads = [compressor.compress(x, s) for x, s in zip(local, states)]
        middle = time.perf_counter()
        estimate = compressor.aggregate(payloads, states)
        tally.add(estimate, sum(p.nbits for p in payloads) / workers, middle - start, time.perf_counter() - middle)
        if hasattr(compressor, "decode_all"):
            decoded = compressor.decode_all(payloads, states)
            failures += sum(compressor.failures(p, d, x) for p, d, x in zip(payloads, decoded, local))
    def bound(rate: float) -> float:
        return ceo_distortion(workers * rate, var_x, noise**2, workers) / var_x

    return tally.report(scheme, params, compressor.unbiased, bound, distribution=distribution, elements=elements,
                        workers=workers, noise=noise, failures=failures,
                        mean_error=float((mean - g).square().sum()) / tally.norm2)


def measure_factors(scheme: str = "isgq", params: Mapping[str, Any] | None = None, *, batch: int = 8, d_in: int = 256,
                    d_out: int = 128, distribution: str = "gaussian", trials: int = 10, seed: int = 0) -> dict[str, Any]:
    """A linear layer's gradient G = X^T Delta from factors drawn i.i.d. (X through a ReLU);
    bits per element of G, against 32 d_in d_out uncompressed."""
    _check(scheme, (FACTORS,), trials)
    for name, value in (("batch", batch), ("d_in", d_in), ("d_out", d_out)):
        _positive(name, value)
    params = dict(params or {})
    compressor = create(scheme, **params)
    x = torch.relu(sample(distribution, (batch, d_in), seed))
    delta = sample(distribution, (batch, d_out), seed + 1)
    tally = _Tally(x.T @ delta, d_in * d_out)
    fallback = False
    for trial in range(trials):
        state = State(seed=seed, step=trial)
        start = time.perf_counter()
        payload = compressor.compress(x, delta, state)
        middle = time.perf_counter()
        g_hat = compressor.decompress(payload, state)
        tally.add(g_hat, payload.nbits, middle - start, time.perf_counter() - middle)
        fallback = bool(payload.meta.get("direct"))
    return tally.report(scheme, params, compressor.unbiased, distribution=distribution, batch=batch, d_in=d_in,
                        d_out=d_out, direct_fallback=fallback)
