"""Quantized compressive sampling (Abdi & Fekri, AAAI 2020).

Per bucket of n entries: shared random signs r, k of the n Hadamard rows (both per step,
common to all buckets, as in the paper) and dither u (per entry) give
T = H_k diag(r) / sqrt(k) (E[T^T T] = I). The worker sends q = round(T g / scale + u) with
scale = ||T g||_inf / Q; the server forms g_hat = alpha T^T (q - u) scale, alpha = 1
(unbiased) or 1 / (1 + gamma) (MMSE). The 1-bit variant sends sign(T g / ||T g||_inf + u),
u ~ U(-1, 1), and reconstructs (q - u) ||T g||_inf, which is unbiased.
"""

from __future__ import annotations

import math

import torch

from hwmodels import SpecError, Work

from .base import SHARED, Compressor, State
from .fwht import fwht, hadamard
from .payload import FLOAT_BITS, Payload, block_bits
from .quantize import (absmax_work, dithered_quantize, dithered_quantize_work, dithered_reconstruct,
                       dithered_reconstruct_work, row_absmax, symbol_dtype, to_buckets)
from .registry import Param, register
from .work import CodecWork, bucket_copy, calls, elementwise, fill, gather, numel, pack, permutation, random, unpack, walsh_hadamard

__all__ = ["QCS", "qcs_gamma"]

_DENSE = 256  # buckets up to this size multiply by the dense n x k matrix diag(r) H_k^T


def qcs_gamma(n: int, k: int, levels: float) -> float:
    """QCS's error factor: E||g_hat - g||^2 <= gamma ||g||^2 for the unbiased estimator.

    gamma = n/k - 1 + (n / (4 Q^2)) ln(k) / (k - 1) for k >= 2, n - 1 for k = 1. The 1-bit
    variant has the dither noise of Q = 1/2 (variance ||v||_inf^2 / 3).
    """
    if k == 1:
        return float(n - 1)
    return n / k - 1 + n / (4 * levels**2) * math.log(k) / (k - 1)


@register("qcs", summary="Hadamard compressive sampling of each bucket, dithered quantization of the k measurements",
          bits="(ceil(k log2(2Q+1)), or k for the 1-bit variant) + 32 per bucket of n",
          bucket=Param(int, "bucket size n", low=2, high=2**16, power_of_two=True),
          k=Param(int, "measurements per bucket, 1..n (default n)", low=1, high=2**16),
          levels=Param(int, "levels Q: symbols -Q..Q", low=1, high=2**15),
          estimator=Param(str, "alpha = 1 or 1/(1+gamma)", choices=("unbiased", "mmse")),
          onebit=Param(bool, "unbiased 1-bit variant (sign with U(-1,1) dither)"),
          ef=Param(bool, "weighted error feedback"),
          beta=Param(float, "feedback weight (default 1/(1+gamma) unbiased, 1 MMSE)", low=0, high=1, low_open=True))
class QCS(Compressor):
    """QCS with unbiased or MMSE estimator; multi-level or 1-bit."""

    def __init__(self, bucket: int = 256, k: int | None = None, levels: int = 1, estimator: str = "unbiased",
                 onebit: bool = False) -> None:
        self.n = bucket
        self.k = bucket if k is None else k
        if self.k > bucket:
            raise SpecError(f"qcs: k must be an integer in [1, {bucket}] (the bucket size), got {self.k}")
        self.levels = levels
        self.onebit = onebit
        self.gamma = qcs_gamma(self.n, self.k, 0.5 if onebit else levels)
        self.alpha = 1.0 if estimator == "unbiased" else 1.0 / (1.0 + self.gamma)
        self.unbiased = estimator == "unbiased"

    def default_beta(self) -> float:
        """The feedback weight when ``beta`` is not given: 1/(1 + gamma) unbiased, 1 MMSE."""
        return 1.0 / (1.0 + self.gamma) if self.unbiased else 1.0

    def _shared(self, buckets: int, state: State) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Signs r (n,), measured rows (k,; None when k = n: all rows) and dither (buckets, k),
        all from the shared seed, so they cost no bits; r and the rows serve every bucket."""
        gen = state.generator(SHARED)
        signs = torch.randint(0, 2, (self.n,), generator=gen).mul_(2).sub_(1).to(torch.float32)
        rows = None if self.k == self.n else torch.randperm(self.n, generator=gen)[: self.k]
        dither = torch.rand(buckets, self.k, generator=gen)
        return signs, rows, (dither.mul_(2).sub_(1) if self.onebit else dither.sub_(0.5))

    def _measure(self, g: torch.Tensor, signs: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """sqrt(k) T g for each bucket row: (buckets, n) -> (buckets, k)."""
        if self.n <= _DENSE:  # one matmul with diag(r) H_k^T (n x k)
            return g @ (signs[:, None] * (hadamard(self.n) if rows is None else hadamard(self.n)[rows].T))
        v = fwht(g * signs)
        return v if rows is None else v[:, rows]

    def _adjoint(self, v: torch.Tensor, signs: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """sqrt(k) T^T v for each row: (buckets, k) -> (buckets, n)."""
        if self.n <= _DENSE:
            return v @ ((hadamard(self.n) if rows is None else hadamard(self.n)[rows]) * signs)
        if rows is not None:
            full = torch.zeros(v.shape[0], self.n)
            full[:, rows] = v
            v = full
        return fwht(v).mul_(signs)

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Per bucket: random signs, Hadamard transform, k measured rows, dithered quantization."""
        g = to_buckets(tensor, self.n)
        signs, rows, dither = self._shared(g.shape[0], state)
        v = self._measure(g, signs, rows)  # the 1/sqrt(k) of T goes into the scale
        absmax = row_absmax(v)
        if self.onebit:
            q = torch.where(v.div_(torch.where(absmax > 0, absmax, 1.0)).add_(dither) >= 0, 1, -1)
            scale, symbols = absmax, self.k * g.shape[0]
        else:
            q, scale = dithered_quantize(v, self.levels, dither, absmax)
            symbols = block_bits(self.k, 2 * self.levels + 1) * g.shape[0]
        data = {"q": q.to(symbol_dtype(self.levels)), "scale": scale / math.sqrt(self.k)}
        return Payload(data, symbols + FLOAT_BITS * g.shape[0], tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """Dequantized measurements back through the transform, scaled by alpha."""
        q, scale = payload.data["q"].to(torch.float32), payload.data["scale"]
        signs, rows, dither = self._shared(q.shape[0], state)
        measured = dithered_reconstruct(q, dither, scale * (self.alpha / math.sqrt(self.k)))
        return self._adjoint(measured, signs, rows).reshape(-1)[: payload.numel]

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Per bucket row: sign flip, the fast Walsh-Hadamard transform (n log2 n; our torch
        kernel multiplies by the dense or Kronecker-factored matrix instead, which is faster
        on a CPU but not what a device kernel does), the k measured rows, max, dithered
        quantization, packing; decode mirrors it. Both sides draw the shared signs, rows and
        dither."""
        rows, copy = bucket_copy(numel(shape), self.n)
        m, kept = rows * self.n, rows * self.k
        pick = gather(kept) if self.k < self.n else Work()
        shared = random(self.n) + random(kept) + elementwise(kept) * (2 if self.onebit else 1)
        if self.k < self.n:
            shared = shared + permutation(self.n)
        measure = elementwise(m) + walsh_hadamard(rows, self.n) + pick + absmax_work(kept)
        width = symbol_dtype(self.levels).itemsize
        if self.onebit:
            quantize = elementwise(kept) + elementwise(kept, read=8) + elementwise(kept, write=1) + pack(kept, 2)
            symbols = unpack(kept, 2) + elementwise(kept, read=1)
        else:
            alphabet = 2 * self.levels + 1
            quantize = dithered_quantize_work(kept, absmax=False) + elementwise(kept, write=width) + pack(kept, alphabet, width)
            symbols = unpack(kept, alphabet, width) + elementwise(kept, read=width)
        spread = fill(m) + gather(kept) if self.k < self.n else Work()
        adjoint = spread + walsh_hadamard(rows, self.n) + elementwise(m)
        return (CodecWork(copy + shared + measure + quantize, symbols + shared + dithered_reconstruct_work(kept) + adjoint)
                + calls(25, 15))
