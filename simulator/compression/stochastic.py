"""Unbiased stochastic quantizers: QSGD (Alistarh et al. 2017), TernGrad (Wen et al. 2017)
and natural compression (Horvath et al. 2019)."""

from __future__ import annotations

import math

import torch

from hwmodels import Work

from .base import PRIVATE, Compressor, State
from .payload import FLOAT_BITS, Payload, block_bits, elias_gamma_bits
from .quantize import absmax_work, row_absmax, stochastic_levels, stochastic_levels_work, symbol_dtype, to_buckets
from .registry import Param, register
from .work import CodecWork, bucket_copy, calls, elementwise, fill, gamma_code, numel, pack, random, reduction, unpack

__all__ = ["QSGD", "TernGrad", "Natural", "qsgd_variance_bound"]

_MANTISSA = (1 << 23) - 1  # float32 mantissa field


def qsgd_variance_bound(bucket: int, levels: int) -> float:
    """QSGD's E||Q(v) - v||^2 / ||v||^2 bound for one bucket: min(d/s^2, sqrt(d)/s)."""
    return min(bucket / levels**2, bucket**0.5 / levels)


@register("qsgd", summary="stochastic rounding of |v_i|/||v||_2 to s levels per bucket, sign kept",
          bits="ceil(d log2(2s+1)) + 32 per bucket; or Elias-gamma coded (gaps, sign, level) + 32 per bucket",
          levels=Param(int, "quantization levels s", low=1, high=2**20),
          bucket=Param(int, "bucket size d_b (elements per norm)", low=1, high=2**30),
          coding=Param(str, "symbol code", choices=("fixed", "elias")))
class QSGD(Compressor):
    """QSGD: unbiased, E||Q(v)-v||^2 <= min(d_b/s^2, sqrt(d_b)/s) ||v||^2 per bucket."""

    unbiased = True

    def __init__(self, levels: int = 4, bucket: int = 512, coding: str = "fixed") -> None:
        self.levels, self.bucket, self.coding = levels, bucket, coding

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Per bucket: the L2 norm and each |v_i|/norm stochastically rounded to s levels, sign kept."""
        v = to_buckets(tensor, min(self.bucket, tensor.numel()))
        norm = torch.linalg.vector_norm(v, dim=1, keepdim=True)
        factor = self.levels / torch.where(norm > 0, norm, torch.ones_like(norm))
        q = stochastic_levels(v, factor, state.generator(PRIVATE)).to(symbol_dtype(self.levels))
        return Payload({"q": q, "norm": norm}, self._bits(q, tensor.numel()), tensor.shape)

    def _bits(self, q: torch.Tensor, d: int) -> int:
        scales = FLOAT_BITS * q.shape[0]
        if self.coding == "fixed":
            return block_bits(d, 2 * self.levels + 1) + scales
        # Per bucket: gamma(nnz + 1), then per nonzero gamma(gap), one sign bit, gamma(|level|).
        rows, cols = torch.nonzero(q, as_tuple=True)
        first = torch.ones_like(rows, dtype=torch.bool)
        first[1:] = rows[1:] != rows[:-1]
        previous = torch.where(first, torch.full_like(cols, -1), torch.roll(cols, 1))
        nnz = torch.bincount(rows, minlength=q.shape[0])
        return (scales + elias_gamma_bits(nnz + 1) + elias_gamma_bits(cols - previous)
                + rows.numel() + elias_gamma_bits(q[rows, cols].abs()))

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """Levels times norm / s, with their signs."""
        q, norm = payload.data["q"], payload.data["norm"]
        return q.to(torch.float32).mul_(norm / self.levels).reshape(-1)[: payload.numel]

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Norms, stochastic rounding and the symbol code (fixed or Elias); decoding back."""
        n = numel(shape)
        rows, copy = bucket_copy(n, min(self.bucket, n))
        m = rows * min(self.bucket, n)
        width = symbol_dtype(self.levels).itemsize
        encode = copy + reduction(m, ops=2) + stochastic_levels_work(m) + elementwise(m, write=width)
        decode = elementwise(m, read=width) + elementwise(m)
        if self.coding == "fixed":
            return (CodecWork(encode + pack(m, 2 * self.levels + 1, width), decode + unpack(m, 2 * self.levels + 1, width))
                    + calls(16, 6))
        # Elias: find the nonzeros (count, then write), then per nonzero gamma(gap), a sign bit
        # and gamma(level), per bucket gamma(nnz + 1). On Gaussian entries a bucket of b has
        # E|v_i| / ||v|| = sqrt(2 / (pi b)), so a level is nonzero with probability s times that.
        nonzero = m * min(1.0, self.levels * math.sqrt(2 / (math.pi * min(self.bucket, n))))
        codes = gamma_code(2 * nonzero + rows) + pack(nonzero, 2)
        return CodecWork(encode + reduction(m, read=width) * 2 + Work(0.0, 16 * nonzero) + codes,
                         decode + codes + fill(m, width)) + calls(16 + 44, 6)   # 44: counting the code's bits


@register("terngrad", summary="clip to c sigma, scale s = max|g|, s sign(g) Bernoulli(|g|/s)",
          bits="ceil(d log2 3) + 32",
          clip=Param(float, "clip at clip * std (0: no clipping; unbiased only then)", low=0))
class TernGrad(Compressor):
    """TernGrad: ternary {-s, 0, s}; unbiased for the clipped gradient."""

    def __init__(self, clip: float = 2.5) -> None:
        self.clip = clip
        self.unbiased = clip == 0

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Clip, scale by max|g|, round stochastically to {-1, 0, 1}: ceil(d log2 3) + 32 bits."""
        g = tensor.reshape(-1)
        if self.clip > 0 and g.numel() > 1:
            bound = self.clip * g.std()
            g = g.clamp(-bound, bound)
        scale = row_absmax(g.reshape(1, -1)).reshape(1)
        factor = 1 / scale if scale > 0 else torch.ones(1)
        q = stochastic_levels(g, factor, state.generator(PRIVATE)).to(torch.int8)
        return Payload({"q": q, "scale": scale}, block_bits(g.numel(), 3) + FLOAT_BITS, tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The ternary symbols times the scale."""
        return payload.data["q"].to(torch.float32).mul_(payload.data["scale"])

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """std and clamp when clipping, absmax, stochastic rounding, packing; unpacking and scaling."""
        n = numel(shape)
        # std (one Welford pass, 6 ops per element) and clamp, when clipping
        clip = reduction(n, ops=6) + elementwise(n, ops=2) if self.clip > 0 and n > 1 else Work()
        encode = clip + absmax_work(n) + stochastic_levels_work(n) + elementwise(n, write=1) + pack(n, 3)
        return CodecWork(encode, unpack(n, 3) + elementwise(n, read=1) + elementwise(n)) + calls(22, 3)


@register("natural", summary="stochastic rounding of |g| to the neighbouring powers of two",
          bits="9 (sign + 8-bit exponent; zero is one exponent code)")
class Natural(Compressor):
    """Natural compression: unbiased, relative error per entry at most 1/8.

    On the float32 bits: |g| = 2^E (1 + f); round up to 2^(E+1) with probability f (a 23-bit
    integer compare), i.e. add ``up`` to the exponent field and clear the mantissa. The sign
    and exponent travel (9 bits); the container is the top 16 bits of the float32.
    """

    unbiased = True

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """|g| rounded stochastically to a neighbouring power of two: sign and exponent, 9 bits per element."""
        bits = tensor.reshape(-1).view(torch.int32)
        draw = torch.randint(0, _MANTISSA + 1, bits.shape, generator=state.generator(PRIVATE), dtype=torch.int32)
        up = draw.lt_(bits & _MANTISSA).bitwise_left_shift_(23)
        rounded = (bits & ~_MANTISSA).add_(up)
        return Payload({"top": rounded.bitwise_right_shift_(16).to(torch.int16)}, 9 * bits.numel(), tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The top 16 bits widened back to float32."""
        return payload.data["top"].to(torch.int32).bitwise_left_shift_(16).view(torch.float32)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """The draw, the bit masks, compare and shifts, the narrowing to int16 and 9-bit packing; decode widens and shifts."""
        # draw; mantissa mask; compare; shift; exponent mask; add; shift; to int16; pack 9 bits
        n = numel(shape)
        one, two = elementwise(n), elementwise(n, read=8)
        encode = random(n) + one + two + one + one + two + one + elementwise(n, write=2) + pack(n, 512, read=2)
        return CodecWork(encode, unpack(n, 512, write=2) + elementwise(n, read=2) + one) + calls(12, 5)
