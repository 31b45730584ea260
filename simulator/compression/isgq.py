"""Indirect stochastic gradient quantization (Abdi & Fekri, AAAI 2020).

A linear layer's weight gradient over a batch is G = X^T Delta (X: B x d_in inputs, Delta:
B x d_out output gradients). ISGQ sends quantized X and Delta and the server forms
G_hat = X_hat^T Delta_hat. Exact zeros (ReLU outputs) are their own symbol and decode to 0.

- ``dithered``: per-bucket max scaling to -Q..Q with independent subtractive dithers:
  unbiased, with the error of :func:`isgq_error`.
- ``lloyd-max``: per-bucket RMS scaling, the Lloyd-Max points of N(0, 1), then least-squares
  refits of one factor's reconstruction points with the other fixed (float64, sent as 32-bit
  floats; kept only when they lower the error, ``refit=false`` skips them): deterministic and
  biased.

Bits: the factors' symbols at ceil(count log2(2Q + 2)) + 32 per bucket (+ 32 per refitted
point when refitting); ``coding=ans`` sends each factor's symbols ANS-coded under its letter
counts instead when that is shorter (+ 1 flag bit per factor); when that exceeds the direct compressor's bits for G, the layer falls back to it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hwmodels import SpecError, Work

from .base import FACTORS, SHARED, Compressor, State, check_tensor
from .bounds import lloyd_max
from .entropy import categorical_bits, categorical_decode, categorical_encode
from .payload import FLOAT_BITS, Payload, block_bits
from .quantize import (dithered_quantize, dithered_quantize_work, dithered_reconstruct, dithered_reconstruct_work,
                       symbol_dtype, to_buckets)
from .registry import Param, create, register
from .work import FLOAT, CodecWork, ans_table, bucket_copy, elementwise, lstsq, matmul, numel, pack, random, reduction, unpack

__all__ = ["ISGQ", "isgq_error"]

_REFITS = 3  # alternations of the Lloyd-Max refit (converged in practice)


def _matmul64(m: float, k: float, n: float) -> Work:
    """(m x k) @ (k x n) in float64: 2 m k n FLOPs, 8-byte operands read and result written once."""
    return Work(2.0 * m * k * n, 8.0 * (m * k + k * n + m * n))


def isgq_error(x: torch.Tensor, delta: torch.Tensor, step_x: float, step_delta: float) -> float:
    """Expected ||G_hat - G||_F^2 of dithered ISGQ with uniform steps and no exact zeros:
    d_out s_D^2 ||X||_F^2 + d_in s_X^2 ||Delta||_F^2 + B d_in d_out s_X^2 s_D^2, s^2 = step^2/12."""
    batch, d_in = x.shape
    d_out = delta.shape[1]
    s_x, s_d = step_x**2 / 12, step_delta**2 / 12
    return float(d_out * s_d * x.square().sum() + d_in * s_x * delta.square().sum() + batch * d_in * d_out * s_x * s_d)


@register("isgq", summary="quantize a linear layer's inputs and output gradients; G_hat = X_hat^T Delta_hat",
          bits="B (d_in + d_out) log2(2Q+2) + scales (coding=ans: the entropy code when shorter), or the direct compressor's bits when fewer",
          levels=Param(int, "levels Q per factor (symbols -Q..Q plus exact zero)", low=1, high=2**14),
          bucket=Param(int, "bucket size (entries per scale)", low=1, high=2**30),
          variant=Param(str, "quantizer", choices=("dithered", "lloyd-max")),
          direct=Param(str, "fallback compressor for G", choices=("none", "dqsg")),
          refit=Param(bool, "lloyd-max: refit and send the reconstruction points (kept only when they lower the error)"),
          coding=Param(str, "factor symbols: block code, or ans (entropy coded under each factor's letter "
                       "counts, zeros cheap; the shorter of the two)", choices=("fixed", "ans")))
class ISGQ(Compressor):
    """A factors compressor: :meth:`compress` takes a layer's X (B x d_in) and Delta
    (B x d_out); :meth:`decompress` returns the weight gradient estimate (d_in x d_out)."""

    name = "isgq"
    inputs = FACTORS

    def __init__(self, levels: int = 1, bucket: int = 512, variant: str = "dithered", direct: str = "none",
                 refit: bool = True, coding: str = "fixed") -> None:
        self.levels, self.bucket, self.variant, self.coding = levels, bucket, variant, coding
        self.refit = refit and variant == "lloyd-max"
        self.unbiased = variant == "dithered"
        self._direct = create(direct, **({"levels": levels, "bucket": bucket} if direct == "dqsg" else {}))
        if variant == "lloyd-max":
            edges, self.points, _ = lloyd_max(2 * levels + 1)
            self.edges = torch.as_tensor(edges[1:-1], dtype=torch.float32)

    @property
    def direct(self) -> Compressor:
        """The compressor of G itself (the fallback when the factors cost more bits) and of
        every tensor that is not a linear layer's weight."""
        return self._direct

    def _quantize(self, factor: torch.Tensor, dither: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Symbols (exact zero -> code 2Q+1 meaning 0) and per-bucket scales."""
        w = to_buckets(factor, min(self.bucket, factor.numel()))
        if self.variant == "dithered":
            q, scale = dithered_quantize(w, self.levels, dither)
        else:
            nonzero = (w != 0).sum(1, keepdim=True).clamp(min=1)
            scale = (w.square().sum(1, keepdim=True) / nonzero).sqrt()
            q = torch.bucketize(w / torch.where(scale > 0, scale, torch.ones_like(scale)), self.edges).to(torch.float32)
        return torch.where(w == 0, float(2 * self.levels + 1), q), scale

    def _reconstruct(self, q: torch.Tensor, scale: torch.Tensor, dither: torch.Tensor, points: torch.Tensor | None,
                     shape: torch.Size) -> torch.Tensor:
        zero = q == 2 * self.levels + 1
        if points is None:
            values = dithered_reconstruct(q, dither, scale)
        else:
            values = points[q.clamp(max=2 * self.levels).to(torch.int64)] * scale
        return torch.where(zero, 0.0, values).reshape(-1)[: shape.numel()].reshape(shape)

    def _dithers(self, x: torch.Tensor, delta: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        gen = state.generator(SHARED)
        shapes = [to_buckets(f, min(self.bucket, f.numel())).shape for f in (x, delta)]
        return torch.rand(shapes[0], generator=gen) - 0.5, torch.rand(shapes[1], generator=gen) - 0.5

    def compress(self, x: torch.Tensor, delta: torch.Tensor, state: State) -> Payload:  # type: ignore[override]
        """Encode the factors (B x d_in, B x d_out), or G directly when that is cheaper."""
        x, delta = (check_tensor(t, self.name).to(torch.float32) for t in (x, delta))
        if x.dim() != 2 or delta.dim() != 2 or x.shape[0] != delta.shape[0]:
            raise SpecError(f"isgq: factors must be B x d_in and B x d_out with the same B, got {tuple(x.shape)} and {tuple(delta.shape)}")
        return self.encode((x, delta), state)

    def encode(self, factors: tuple[torch.Tensor, torch.Tensor], state: State) -> Payload:  # type: ignore[override]
        """Hook: the checked float32 factors (X, Delta) -> payload (G's when that is cheaper)."""
        x, delta = factors
        gradient_shape = torch.Size((x.shape[1], delta.shape[1]))
        dx, dd = self._dithers(x, delta, state)
        (qx, sx), (qd, sd) = self._quantize(x, dx), self._quantize(delta, dd)
        data = {"sx": sx, "sd": sd}
        bits = self._factor_bits(qx.shape, qd.shape) + self._code("x", qx, data) + self._code("d", qd, data)
        if self.refit:
            data["px"], data["pd"] = self._refit(x, delta, qx, sx, qd, sd)
        direct = self._direct.compress(x.T @ delta, state)
        if direct.nbits < bits:
            return Payload(direct.data, direct.nbits, gradient_shape, {"direct": True})
        return Payload(data, bits, gradient_shape, {"factors": (x.shape, delta.shape)})

    def _factor_bits(self, *bucketed: tuple[int, int], symbols: bool = False) -> int:
        """Bits besides the symbols, given each factor's (buckets, bucket size): a scale per
        bucket and the refitted points (Lloyd-Max); with ``symbols``, plus their block code
        over 2Q + 2 letters."""
        bits = sum(FLOAT_BITS * rows + (block_bits(size, 2 * self.levels + 2) * rows if symbols else 0)
                   for rows, size in bucketed)
        return bits + (2 * FLOAT_BITS * self.points.size if self.refit else 0)

    def _code(self, name: str, q: torch.Tensor, data: dict[str, torch.Tensor]) -> int:
        """Put one factor's symbols (buckets x size) into ``data``; their bits. Fixed: a block
        code per bucket. ans: also the ANS code under the factor's own letter counts (a zero
        costs about -log2 of the zeros' share), sent instead when shorter; a flag bit says which."""
        alphabet = 2 * self.levels + 2
        fixed = block_bits(q.shape[1], alphabet) * q.shape[0]
        if self.coding == "ans":
            zero = 2 * self.levels + 1
            letters = torch.where(q == zero, zero, q + self.levels if self.unbiased else q).to(torch.int32)
            stream, counts = categorical_encode(letters.reshape(-1).numpy(), alphabet)
            coded = categorical_bits(stream, alphabet, q.numel())
            if coded < fixed:
                data["stream" + name] = torch.from_numpy(stream.view(np.int32).copy())
                data["counts" + name] = torch.from_numpy(counts)
                return 1 + coded
        data["q" + name] = q.to(symbol_dtype(2 * self.levels))
        return fixed + (1 if self.coding == "ans" else 0)

    def _received(self, name: str, data: dict[str, torch.Tensor], shape: torch.Size) -> torch.Tensor:
        """One factor's symbols (buckets x size, float) as the receiver reads them."""
        if "stream" + name not in data:
            return data["q" + name].float()
        size = min(self.bucket, shape.numel())
        letters = categorical_decode(data["stream" + name].numpy().view(np.uint32), data["counts" + name].numpy())
        letters = torch.from_numpy(letters.astype(np.int64)).float().view(-1, size)
        zero = 2 * self.levels + 1
        return torch.where(letters == zero, float(zero), letters - self.levels if self.unbiased else letters)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Work for a layer with factor shape ``(B, d_in, d_out)`` (X is B x d_in, Delta is
        B x d_out; the gradient is d_in x d_out). Encode: both dithers, both factors
        quantized (zeros as their own symbol), narrowed and packed (``coding=ans``: mapped to
        letters, counted and ANS coded, as if the code is always the shorter), the Lloyd-Max
        refits, and
        G = X^T Delta through the direct compressor (compress always forms it, to compare
        bits). Decode: the direct decode when its bits are fewer (the branch compress takes,
        decided by the shapes), else both factors rebuilt and X_hat^T Delta_hat."""
        if len(shape) != 3:
            raise SpecError(f"isgq: work takes the factor shape (B, d_in, d_out), got {shape!r}")
        batch, d_in, d_out = shape
        numel(shape)
        width = symbol_dtype(2 * self.levels).itemsize
        alphabet = 2 * self.levels + 2
        encode = decode = Work()
        bucketed = []
        for n in (batch * d_in, batch * d_out):
            rows, copy = bucket_copy(n, min(self.bucket, n))
            m = rows * min(self.bucket, n)
            bucketed.append((rows, min(self.bucket, n)))
            dither = random(m) + elementwise(m)
            zeros = elementwise(m, write=1) + elementwise(m, read=5)   # w == 0, then where()
            if self.variant == "dithered":
                quantize = dithered_quantize_work(m)
            else:   # nonzero count, mean square, divide, bucketize (binary search), widen
                quantize = (elementwise(m, write=1) + reduction(m, read=1) + elementwise(m) + reduction(m) + elementwise(m)
                            + Work(m * math.log2(alphabet), 8.0 * m) + elementwise(m))
            if self.coding == "ans":   # letters (compare, shift, where, narrow), counts, ANS; decode mirrors it
                letters = elementwise(m, write=1) + elementwise(m) + elementwise(m, read=5) + elementwise(m, write=4)
                encode = encode + letters + reduction(m, read=4) + ans_table(m, alphabet, decode=False, width=4)
                decode = decode + ans_table(m, alphabet, decode=True, width=8) + elementwise(m, read=8) + letters
            else:
                encode = encode + elementwise(m, write=width) + pack(m, alphabet, width)
                decode = decode + unpack(m, alphabet, width) + elementwise(m, read=width)
            encode = encode + dither + copy + quantize + zeros
            decode = decode + dither + self._rebuild_work(m)
        product = matmul(d_in, batch, d_out)
        direct = self._direct.work((d_in, d_out))
        encode = encode + product + direct.encode
        if self.refit:
            encode = encode + self._refit_work(batch, d_in, d_out)
        gradient_bits = self._direct.compress(torch.zeros(d_in, d_out), State()).nbits   # fixed-rate: any input
        if gradient_bits < self._factor_bits(*bucketed, symbols=True):
            return CodecWork(encode, direct.decode)
        return CodecWork(encode, decode + product)

    def _rebuild_work(self, m: int) -> Work:
        """:meth:`_reconstruct` of m symbols: dithered rescale, or the Lloyd-Max points looked
        up (clamp, widen to int64, index) and scaled; then the zero mask and where()."""
        if self.variant == "dithered":
            values = dithered_reconstruct_work(m)
        else:
            values = elementwise(m) + elementwise(m, write=8) + elementwise(m, read=8) + elementwise(m)
        return values + elementwise(m, write=1) + elementwise(m, read=5)

    def _refit_work(self, batch: int, d_in: int, d_out: int) -> Work:
        """:meth:`_refit` in float64: both factors widened and each one's basis built once (a
        one-hot pass writing one float64 per level and entry); per alternation and side the
        other factor rebuilt, its B x B Gram matrix and cross product with the truth, the target
        projected to B x d, one B x B product per level, the levels x levels normal equations
        and their least squares; then the error of both candidates (each factor rebuilt, three
        B x B Gram products) and the choice."""
        levels = self.points.size
        widen = elementwise(batch * (d_in + d_out), read=FLOAT, write=8)
        total = widen + _matmul64(batch, d_in, batch) + _matmul64(batch, d_out, batch)
        for own, other in ((d_in, d_out), (d_out, d_in)):
            m = batch * own
            gram = _matmul64(batch, other, batch) * 2 + _matmul64(batch, batch, own)
            onehot = elementwise(m, ops=levels, read=5, write=8 * levels)
            normal = _matmul64(levels, m, levels) + _matmul64(levels, m, 1) + lstsq(levels, levels)
            per_alternation = self._rebuild_work(batch * other) + gram + _matmul64(batch, batch, own) * levels + normal
            total = total + onehot + per_alternation * _REFITS
        check = (self._rebuild_work(batch * d_in) + self._rebuild_work(batch * d_out)
                 + _matmul64(batch, d_in, batch) * 2 + _matmul64(batch, d_out, batch) * 2)
        return total + check * 2

    def _refit(self, x: torch.Tensor, delta: torch.Tensor, qx: torch.Tensor, sx: torch.Tensor, qd: torch.Tensor,
               sd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Alternate least-squares refits of each factor's points with the other fixed, in
        float64 through B x B Gram matrices (never forming the d_in x d_out basis, whose float32
        least squares loses the fit on large layers); the refitted points (rounded to the 32-bit
        floats that travel) are kept only when they lower ||X_hat^T Delta_hat - X^T Delta||_F,
        else the Lloyd-Max points are sent."""
        factors = (x.to(torch.float64), delta.to(torch.float64))
        codes = [(qx, sx, x.shape), (qd, sd, delta.shape)]
        start = torch.as_tensor(self.points, dtype=torch.float32)
        points = [start, start]
        basis = [self._basis(*code) for code in codes]   # levels x B x d: X_hat = sum_l p_l basis_l
        for _ in range(_REFITS):
            for side in (0, 1):
                other = self._reconstruct(*codes[1 - side][:2], None, points[1 - side].double(), codes[1 - side][2])
                gram = other @ other.T                            # B x B
                target = (other @ factors[1 - side].T) @ factors[side]   # B x d: <A, target> = <A^T other, G>
                a = basis[side].flatten(1)
                ka = torch.matmul(gram, basis[side]).flatten(1)
                normal, rhs = a @ ka.T, a @ target.reshape(-1, 1)
                points[side] = torch.linalg.lstsq(normal, rhs, driver="gelsd").solution.reshape(-1).float()
        if self._error(codes, factors, points) < self._error(codes, factors, [start, start]):
            return points[0], points[1]
        return start, start

    def _basis(self, q: torch.Tensor, scale: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The factor rebuilt with each point alone set to 1 (float64, levels x shape): where
        the symbol is that level, its bucket's scale; elsewhere (and at exact zeros) 0."""
        levels = self.points.size
        live = (q != 2 * self.levels + 1).to(torch.float64) * scale.double()
        onehot = torch.nn.functional.one_hot(q.clamp(max=2 * self.levels).to(torch.int64), levels) * live[..., None]
        return onehot.reshape(-1, levels)[: shape.numel()].T.reshape(levels, *shape)

    def _error(self, codes: list, factors: tuple[torch.Tensor, torch.Tensor], points: list[torch.Tensor]) -> float:
        """||X_hat^T Delta_hat - X^T Delta||_F^2 in float64 from B x B Gram matrices:
        tr(Xh Xh^T Dh Dh^T) - 2 tr(Xh X^T D Dh^T) + tr(X X^T D D^T)."""
        x_hat, d_hat = (self._reconstruct(q, s, None, p.double(), shape) for (q, s, shape), p in zip(codes, points))
        x, d = factors
        return float(((x_hat @ x_hat.T) * (d_hat @ d_hat.T)).sum() - 2 * ((x_hat @ x.T) * (d_hat @ d.T)).sum()
                     + ((x @ x.T) * (d @ d.T)).sum())

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The weight gradient estimate G_hat (d_in x d_out)."""
        if payload.meta.get("direct"):
            return self._direct.decompress(Payload(payload.data, payload.nbits, payload.shape), state)
        x_shape, delta_shape = payload.meta["factors"]
        d = payload.data
        dx, dd = self._dithers(torch.empty(x_shape), torch.empty(delta_shape), state)
        fixed = None if self.unbiased else torch.as_tensor(self.points, dtype=torch.float32)
        x_hat = self._reconstruct(self._received("x", d, x_shape), d["sx"], dx, d.get("px", fixed), x_shape)
        delta_hat = self._reconstruct(self._received("d", d, delta_shape), d["sd"], dd, d.get("pd", fixed), delta_shape)
        return x_hat.T @ delta_hat
