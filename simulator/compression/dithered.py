"""CEO-style coding (Abdi & Fekri, SPAWC 2019; arXiv 1904.01197): dithered quantization
(DQSG) and nested dithered quantization decoded with side information (NDQSG).

DQSG, per bucket: scale = ||w||_inf / Q, q = round(w / scale + u), w_hat = (q - u) scale.
NDQSG: even-numbered workers send DQSG with Q1 levels; odd ones send only the fine index
modulo the coarse lattice rho Z (rho = 2 Q2 + 1 symbols, scale = ||w||_inf / Q1). The server
decodes them in turn with side information y, the running mean of the workers already
decoded: of the fine indices congruent to q mod rho it takes the one nearest to
y / scale + u. Decoding is exact while |w - y| < (rho - 1) scale / 2; a coordinate decoded
more than scale / 2 from the truth is a decoding failure (:meth:`NDQSG.failures`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hwmodels import SpecError, Work

from .base import SHARED, WORKERS, Compressor, State
from .payload import FLOAT_BITS, Payload, block_bits
from .quantize import dithered_quantize, dithered_quantize_work, dithered_reconstruct, dithered_reconstruct_work, symbol_dtype, to_buckets
from .registry import Param, register
from .work import CodecWork, bucket_copy, calls, elementwise, numel, pack, random, unpack

__all__ = ["DQSG", "NDQSG"]

_BUCKET = Param(int, "bucket size (entries per scale)", low=1, high=2**30)


class _Dithered(Compressor):
    """Shared machinery: buckets, the shared dither and the fine reconstruction."""

    unbiased = True

    def __init__(self, levels: int = 1, bucket: int = 512) -> None:
        self.levels, self.bucket = levels, bucket

    def _dither(self, shape: torch.Size, state: State) -> torch.Tensor:
        return torch.rand(shape, generator=state.generator(SHARED)) - 0.5

    def _fine(self, tensor: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = to_buckets(tensor, min(self.bucket, tensor.numel()))
        u = self._dither(w.shape, state)
        q, scale = dithered_quantize(w, self.levels, u)
        return q, scale, u

    def _payload(self, q: torch.Tensor, scale: torch.Tensor, alphabet: int, shape: torch.Size) -> Payload:
        bits = block_bits(q.shape[1], alphabet) * q.shape[0] + FLOAT_BITS * q.shape[0]
        return Payload({"q": q.to(symbol_dtype(self.levels)), "scale": scale}, bits, shape)

    def _reconstruct(self, q: torch.Tensor, scale: torch.Tensor, payload: Payload, state: State) -> torch.Tensor:
        u = self._dither(q.shape, state)
        return dithered_reconstruct(q.to(torch.float32), u, scale).reshape(-1)[: payload.numel]

    def _passes(self, shape: tuple[int, ...]) -> tuple[int, Work, Work, Work]:
        """(padded elements, dither, fine quantization, reconstruction) work of ``shape``:
        the dither is drawn and shifted by -1/2 on both sides; quantization buckets, scales,
        rounds and narrows to the symbol container; reconstruction widens and rescales."""
        n = numel(shape)
        rows, copy = bucket_copy(n, min(self.bucket, n))
        m = rows * min(self.bucket, n)
        width = symbol_dtype(self.levels).itemsize
        dither = random(m) + elementwise(m)
        fine = copy + dither + dithered_quantize_work(m) + elementwise(m, write=width)
        return m, dither, fine, dither + elementwise(m, read=width) + dithered_reconstruct_work(m)

    def _coded(self, shape: tuple[int, ...], alphabet: int) -> CodecWork:
        """Fine quantization and packing; unpacking and reconstruction."""
        m, _, fine, rebuild = self._passes(shape)
        width = symbol_dtype(self.levels).itemsize
        return CodecWork(fine + pack(m, alphabet, width), unpack(m, alphabet, width) + rebuild) + calls(17, 8)


@register("dqsg", summary="per-bucket max scaling to -Q..Q with subtractive dither",
          bits="ceil(b log2(2Q+1)) + 32 per bucket of b",
          levels=Param(int, "levels Q: symbols -Q..Q", low=1, high=2**14), bucket=_BUCKET)
class DQSG(_Dithered):
    """Dithered quantization: unbiased, error uniform with variance scale^2 / 12."""

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Per-bucket max scaling and dithered rounding to -Q..Q; block-coded symbols and a float scale per bucket."""
        q, scale, _ = self._fine(tensor, state)
        return self._payload(q, scale, 2 * self.levels + 1, tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """Symbols minus the regenerated shared dither, times the bucket's scale."""
        return self._reconstruct(payload.data["q"], payload.data["scale"], payload, state)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Fine quantization and packing; unpacking and reconstruction (:meth:`_coded`)."""
        return self._coded(shape, 2 * self.levels + 1)


@register("ndqsg", summary="DQSG on even workers; odd workers send fine indices modulo a coarse lattice, decoded with side information",
          bits="even workers ceil(b log2(2Q1+1)) + 32, odd workers ceil(b log2(2Q2+1)) + 32, per bucket of b",
          levels=Param(int, "fine levels Q1", low=1, high=2**14),
          coarse=Param(int, "coarse levels Q2: odd workers send 2 Q2 + 1 symbols", low=1, high=2**13),
          bucket=_BUCKET)
class NDQSG(_Dithered):
    """Nested dithered quantization; decode several workers at once with :meth:`aggregate`."""

    inputs = WORKERS

    def __init__(self, levels: int = 3, coarse: int = 1, bucket: int = 512) -> None:
        super().__init__(levels, bucket)
        self.rho = 2 * coarse + 1
        if self.rho > 2 * levels + 1:
            raise SpecError(f"ndqsg: coarse must be an integer in [1, {levels}] (at most the fine levels), got {coarse}")

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Even workers: DQSG's fine symbols; odd workers: the fine symbols modulo the coarse lattice."""
        q, scale, _ = self._fine(tensor, state)
        if state.worker % 2 == 0:
            return self._payload(q, scale, 2 * self.levels + 1, tensor.shape)
        nested = q - self.rho * torch.round(q / self.rho)
        payload = self._payload(nested, scale, self.rho, tensor.shape)
        payload.meta["nested"] = True
        return payload

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """One worker alone: the fine reconstruction (even workers only; odd ones need side information)."""
        if payload.meta.get("nested"):
            raise SpecError("ndqsg: a nested (odd-worker) payload decodes only with side information; use aggregate")
        return self._reconstruct(payload.data["q"], payload.data["scale"], payload, state)

    def decode_with(self, payload: Payload, state: State, side: torch.Tensor) -> torch.Tensor:
        """Decode a nested payload given side information ``side`` (same shape as the tensor)."""
        q, scale = payload.data["q"].to(torch.float32), payload.data["scale"]
        u = self._dither(q.shape, state)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        predicted = to_buckets(side.to(torch.float32), q.shape[1]) / safe + u
        fine = q + self.rho * torch.round((predicted - q) / self.rho)
        return self._reconstruct(fine, scale, payload, state)

    def decode_all(self, payloads: Sequence[Payload], states: Sequence[State]) -> list[torch.Tensor]:
        """Every worker's reconstruction: direct payloads first, then nested ones in turn,
        each with the running mean of those already decoded as side information."""
        order = sorted(range(len(payloads)), key=lambda i: bool(payloads[i].meta.get("nested")))
        if payloads[order[0]].meta.get("nested"):
            raise SpecError("ndqsg: needs at least one even-numbered worker (direct DQSG) to start decoding")
        out: dict[int, torch.Tensor] = {}
        total = torch.zeros(payloads[0].numel)
        for i in order:
            p, s = payloads[i], states[i]
            w = self.decode_with(p, s, total / len(out)) if p.meta.get("nested") else self.decode(p, s).reshape(-1)
            out[i] = w.reshape(p.shape)
            total += w
        return [out[i] for i in range(len(payloads))]

    def aggregate(self, payloads: Sequence[Payload], states: Sequence[State]) -> torch.Tensor:
        """The workers' mean estimate: the mean of :meth:`decode_all` (nested payloads decoded with side information)."""
        return torch.stack(self.decode_all(payloads, states)).mean(0)

    @staticmethod
    def failures(payload: Payload, decoded: torch.Tensor, truth: torch.Tensor) -> int:
        """Coordinates decoded more than scale / 2 from the truth (wrong coarse cell); a
        simulation-side diagnostic, since only the sender knows the truth."""
        scale = payload.data["scale"]
        error = to_buckets((decoded - truth).abs(), payload.data["q"].shape[1])
        return int((error > 0.5 * scale * (1 + 1e-4) + 1e-12).sum())

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """The mean of an even worker (DQSG with Q1 levels) and an odd one (the fine index
        reduced modulo rho: divide, round, scale, subtract), as half the workers are each.
        Decoding in :meth:`aggregate`: a direct payload is reconstructed; a nested one first
        forms the side information (mean so far), predicts (scale, add dither), snaps to the
        nearest congruent index (subtract, divide, round, scale, add); each is then added to
        the running sum."""
        m, dither, _, _ = self._passes(shape)
        n = numel(shape)
        one, two = elementwise(m), elementwise(m, read=8)
        direct, nested = self._coded(shape, 2 * self.levels + 1), self._coded(shape, self.rho)
        snap = dither + elementwise(n) + one + two + two + one + one + one + two
        accumulate = elementwise(n, read=8)
        odd = CodecWork(nested.encode + one + one + one + two, nested.decode + snap)
        return (direct + odd + CodecWork(Work(), accumulate * 2)) * 0.5
