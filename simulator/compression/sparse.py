"""Sparsifiers: top-k (Stich et al. 2018), random-k (scaled, unbiased) and Deep Gradient
Compression (Lin et al. 2018).

A sparse payload sends each kept value as a 32-bit float and each index at ceil(log2 d)
bits; random-k's indices come from the shared seed and cost nothing.
"""

from __future__ import annotations

import math

import torch

from hwmodels import SpecError, Work

from .base import PRIVATE, SHARED, Compressor, State
from .feedback import ErrorFeedback
from .payload import FLOAT_BITS, Payload, index_bits
from .registry import Param, register
from .work import CodecWork, calls, elementwise, fill, gather, numel, pack, permutation, random, reduction, select, sort, unpack

__all__ = ["TopK", "RandomK", "DGC", "DGC_SCHEDULE", "sparse_payload", "choose_k", "threshold_select", "random_subset",
           "threshold_select_work", "random_subset_work"]

DGC_SCHEDULE = (0.75, 0.9375, 0.984375, 0.996, 0.999)  # warm-up sparsity per stage (Lin et al.)


def choose_k(scheme: str, k: int | None, ratio: float, d: int) -> int:
    """k if given (1 <= k <= d), else ceil(ratio d); SpecError when k is out of range."""
    if k is None:
        return max(1, math.ceil(ratio * d))
    if not 1 <= k <= d:
        raise SpecError(f"{scheme}: k must be an integer in [1, {d}] (the tensor's elements), got {k}")
    return k


def threshold_select(magnitude: torch.Tensor, k: int, n_sample: int, margin: float, gen: torch.Generator) -> torch.Tensor:
    """Indices with magnitude at least a threshold read from a random sample, capped at k.

    The threshold is the sample's (k n_sample / d + margin)-th largest value; when more than
    k entries pass, the k largest of them are kept (exact top-k of the candidates).
    """
    d = magnitude.numel()
    rank = _rank(d, k, n_sample, margin)
    sample = magnitude[torch.randint(d, (n_sample,), generator=gen)]
    threshold = torch.topk(sample, max(1, rank)).values[-1]
    indices = torch.nonzero(magnitude >= threshold).reshape(-1)
    if indices.numel() > k:
        indices = indices[torch.topk(magnitude[indices], k, sorted=False).indices]
    return indices


def _rank(d: int, k: int, n_sample: int, margin: float) -> int:
    return min(n_sample, math.ceil(k * n_sample / d + margin))


def threshold_select_work(d: int, k: int, n_sample: int, margin: float) -> Work:
    """:func:`threshold_select` on ``d`` magnitudes: draw and gather the sample, select its
    rank-th largest, compare every entry, list the candidates (torch.nonzero: count, then
    write), and cap them at k by an exact top-k. The candidates are d rank / n_sample, the
    expected count above the sample's rank-th largest."""
    rank = max(1, _rank(d, k, n_sample, margin))
    candidates = d * rank / n_sample
    sample = random(n_sample, write=8) + gather(n_sample) + select(n_sample, rank)
    listing = elementwise(d, write=1) + reduction(d, read=1) * 2 + Work(0.0, 8 * candidates)
    cap = gather(candidates) + select(candidates, k) + gather(k, value=8) if candidates >= k else Work()
    return sample + listing + cap


def random_subset_work(d: int, k: int) -> Work:
    """:func:`random_subset`: a permutation of d when 4 k > d; else k + k/8 + 64 draws,
    sorted to their distinct values, permuted, k of them kept (the rare redraw is left out)."""
    if 4 * k > d:
        return permutation(d)
    draws = k + k // 8 + 64
    return random(draws, write=8) + sort(draws) + permutation(draws) + gather(k, value=8)


def random_subset(d: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """k distinct indices of range(d), uniformly: a random k of the distinct values among
    slightly more than k draws with replacement (every k-subset equally likely by symmetry)."""
    if 4 * k > d:
        return torch.randperm(d, generator=gen)[:k]
    draws = k + k // 8 + 64
    while True:
        distinct = torch.unique(torch.randint(d, (draws,), generator=gen))
        if distinct.numel() >= k:
            return distinct[torch.randperm(distinct.numel(), generator=gen)[:k]]
        draws *= 2


def sparse_payload(values: torch.Tensor, indices: torch.Tensor, shape: torch.Size) -> Payload:
    """Values at 32 bits and indices at ceil(log2 d) bits each."""
    d = math.prod(shape)
    return Payload({"values": values, "indices": indices}, values.numel() * (FLOAT_BITS + index_bits(d)), shape)


def _scatter(payload: Payload) -> torch.Tensor:
    out = torch.zeros(payload.numel)
    out[payload.data["indices"]] = payload.data["values"]
    return out


def _sparse_work(d: int, k: int) -> CodecWork:
    """Gathering the k kept values and packing them with their indices; unpacking them and
    scattering into a zeroed tensor of d."""
    code = 2.0 ** (FLOAT_BITS + index_bits(d))
    return CodecWork(gather(k) + pack(k, code, read=12), unpack(k, code, write=12) + fill(d) + gather(k))


_SAMPLED_TOPK_MIN = 1 << 16  # below this many entries a plain torch.topk is as fast
_K = Param(int, "entries kept (default: ceil(ratio d))", low=1)
_RATIO = Param(float, "fraction kept when k is not given", low=0, high=1, low_open=True)


@register("topk", summary="the k largest |g + e| with error feedback", bits="k (32 + ceil(log2 d)) / d",
          k=_K, ratio=_RATIO,
          ef=Param(bool, "wrap in error feedback"))
class TopK(Compressor):
    """Top-k: ||x - topk(x)||^2 <= (1 - k/d) ||x||^2."""

    error_feedback = True

    def __init__(self, k: int | None = None, ratio: float = 0.01) -> None:
        self.k, self.ratio = k, ratio

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """The k largest |g| (sampled threshold on large tensors, else torch.topk): values and indices."""
        flat = tensor.reshape(-1)
        d = flat.numel()
        k = choose_k(self.name, self.k, self.ratio, d)
        magnitude = flat.abs()
        indices = torch.empty(0, dtype=torch.int64)
        plan = self._sample_plan(d, k)
        if plan is not None:
            indices = threshold_select(magnitude, k, *plan, state.generator(PRIVATE))
        if indices.numel() < k:
            indices = torch.topk(magnitude, k, sorted=False).indices
        return sparse_payload(flat[indices], indices, tensor.shape)

    @staticmethod
    def _sample_plan(d: int, k: int) -> tuple[int, float] | None:
        """(sample size, margin) of the exact sampled selection, or None for a plain torch.topk:
        a threshold safely below the k-th largest, then top-k of the candidates."""
        if 8 * k > d or d < _SAMPLED_TOPK_MIN:
            return None
        n_sample = min(d, 100 * math.ceil(d / k))
        return n_sample, 4 * math.sqrt(k * n_sample / d) + 4

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The kept values scattered into zeros."""
        return _scatter(payload)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """abs and the selection encode runs; gather and pack; unpack and scatter into zeros."""
        # abs, then the selection encode runs (the full torch.topk fallback, taken when the
        # sampled threshold keeps fewer than k, is rare and left out)
        d = numel(shape)
        k = choose_k(self.name, self.k, self.ratio, d)
        plan = self._sample_plan(d, k)
        chosen = select(d, k) if plan is None else threshold_select_work(d, k, *plan)
        return CodecWork(elementwise(d) + chosen) + _sparse_work(d, k) + calls(6, 3)


@register("randomk", summary="k coordinates drawn from the shared seed, scaled by d/k", bits="32 k / d",
          k=_K, ratio=_RATIO)
class RandomK(Compressor):
    """Random-k: unbiased, E||g_hat - g||^2 = (d/k - 1) ||g||^2."""

    unbiased = True

    def __init__(self, k: int | None = None, ratio: float = 0.01) -> None:
        self.k, self.ratio = k, ratio

    def _indices(self, d: int, state: State) -> torch.Tensor:
        return random_subset(d, choose_k(self.name, self.k, self.ratio, d), state.generator(SHARED))

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """The values at k indices drawn from the SHARED stream (the receiver redraws them): 32 bits each."""
        flat = tensor.reshape(-1)
        values = flat[self._indices(flat.numel(), state)]
        return Payload({"values": values}, FLOAT_BITS * values.numel(), tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The values, scaled by d/k, scattered into zeros at the redrawn indices."""
        d = payload.numel
        out = torch.zeros(d)
        values = payload.data["values"]
        out[self._indices(d, state)] = values * (d / values.numel())
        return out

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Both sides draw the indices; gather; the receiver fills, scales and scatters."""
        # both sides draw the indices; the values are floats (no packing); the receiver scales
        d = numel(shape)
        k = choose_k(self.name, self.k, self.ratio, d)
        indices = random_subset_work(d, k)
        return CodecWork(indices + gather(k), indices + fill(d) + elementwise(k) + gather(k)) + calls(8, 9)


class SampledTopK(Compressor):
    """DGC's selection: a threshold from a random sample of |g|, capped at k by exact top-k."""

    def __init__(self, ratio: float, sample: float, warmup: int) -> None:
        self.ratio, self.sample, self.warmup = ratio, sample, warmup
        self.name = "dgc"

    def density(self, step: int) -> float:
        """Fraction kept at ``step``: DGC's exponential warm-up, then ``ratio``."""
        stage = step // self.warmup if self.warmup else len(DGC_SCHEDULE)
        return 1.0 - DGC_SCHEDULE[stage] if stage < len(DGC_SCHEDULE) - 1 else self.ratio

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """The entries above a threshold set on a random sample, capped at the step's density."""
        flat = tensor.reshape(-1)
        d = flat.numel()
        density = self.density(state.step)
        n_sample = self._sample_size(d, density)
        indices = threshold_select(flat.abs(), max(1, math.ceil(density * d)), n_sample, 0, state.generator(PRIVATE))
        return sparse_payload(flat[indices], indices, tensor.shape)

    def _sample_size(self, d: int, density: float) -> int:
        return min(d, max(math.ceil(self.sample * d), math.ceil(1 / density)))

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The kept values scattered into zeros."""
        return _scatter(payload)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """At the final density (after any warm-up): abs, the sampled selection, the payload."""
        d = numel(shape)
        k = max(1, math.ceil(self.ratio * d))
        select_work = elementwise(d) + threshold_select_work(d, k, self._sample_size(d, self.ratio), 0)
        return CodecWork(select_work) + _sparse_work(d, k) + calls(14, 3)


@register("dgc", summary="momentum correction, sampled top-k with error feedback, momentum masking, clipping, warm-up",
          bits="about ratio (32 + ceil(log2 d))",
          ratio=Param(float, "final fraction kept", low=0, high=1, low_open=True),
          momentum=Param(float, "momentum m", low=0, high=1),
          clip=Param(float, "clip the gradient to this L2 norm (0: off)", low=0),
          sample=Param(float, "fraction sampled to set the threshold", low=0, high=1, low_open=True),
          warmup=Param(int, "steps per warm-up stage (sparsity 75, 93.75, 98.4375, 99.6%, then ratio); 0: none", low=0))
class DGC(Compressor):
    """Deep Gradient Compression: u = m u + clip(g); send EF-top-k of u; u masked where sent."""

    def __init__(self, ratio: float = 0.001, momentum: float = 0.9, clip: float = 0.0, sample: float = 0.01,
                 warmup: int = 0) -> None:
        self.momentum, self.clip = momentum, clip
        self.sparsifier = ErrorFeedback(SampledTopK(ratio, sample, warmup))

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Clip, accumulate momentum, send the error-fed sampled top-k of it, mask the sent entries."""
        g = tensor
        if self.clip > 0:
            g = g * torch.clamp(self.clip / (torch.linalg.vector_norm(g) + 1e-12), max=1.0)
        u = state.memory.get("momentum")
        u = g if u is None else self.momentum * u + g
        payload = self.sparsifier.compress(u, state)
        u = u.reshape(-1).clone()
        u[payload.data["indices"]] = 0.0
        state.memory["momentum"] = u.reshape(tensor.shape)
        return payload

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The sparsifier's decode."""
        return self.sparsifier.decompress(payload, state)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Clipping, momentum, the fed-back sparsifier and the masking."""
        # clipping (norm, scale), momentum (scale, add), the fed-back sparsifier, then the
        # masking: a copy of u and a scatter of zeros at the k sent places
        d = numel(shape)
        k = max(1, math.ceil(self.sparsifier.inner.ratio * d))
        clip = reduction(d, ops=2) + elementwise(d) if self.clip > 0 else Work()
        extra = clip + elementwise(d) + elementwise(d, read=8) + elementwise(d, ops=0) + gather(k)
        return CodecWork(extra) + self.sparsifier.work(shape) + calls(8, 1)
