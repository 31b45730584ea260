"""One bit per element: signSGD with majority vote (Bernstein et al. 2018), EF-signSGD
(Karimireddy et al. 2019) and 1-bit SGD (Seide et al. 2014)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hwmodels import Work

from .base import Compressor, State
from .payload import FLOAT_BITS, Payload
from .registry import Param, register
from .work import CodecWork, calls, elementwise, numel, pack, reduction, unpack

__all__ = ["SignSGD", "ScaledSign", "OneBit", "as_columns"]

_EF = Param(bool, "wrap in error feedback")


def _positive(tensor: torch.Tensor) -> torch.Tensor:
    """The sign bit: True for g >= 0 (decodes to +1), False otherwise (-1)."""
    return tensor.reshape(-1) >= 0


def _signs(n: int) -> Work:
    """The compare pass ``g >= 0`` into bytes."""
    return elementwise(n, write=1)


def _select(n: int) -> Work:
    """``torch.where(positive, a, b)``: read a byte, write a float."""
    return elementwise(n, read=1)


def as_columns(tensor: torch.Tensor) -> torch.Tensor:
    """A matrix view: (shape[0], rest) for 2-D and higher, one column for vectors."""
    return tensor.reshape(tensor.shape[0], -1) if tensor.dim() >= 2 else tensor.reshape(-1, 1)


@register("signsgd", summary="sign of each entry; server aggregates by majority vote", bits="1")
class SignSGD(Compressor):
    """signSGD: decodes to +-1; :meth:`aggregate` is the majority vote sign(sum of signs)."""

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """One sign bit per element."""
        return Payload({"positive": _positive(tensor)}, tensor.numel(), tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """+1 where the bit is set, -1 elsewhere."""
        return torch.where(payload.data["positive"], 1.0, -1.0)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """The compare into bytes and the bit packing; unpacking and the select."""
        n = numel(shape)
        return CodecWork(_signs(n) + pack(n, 2), unpack(n, 2) + _select(n)) + calls(3, 4)

    def aggregate(self, payloads: Sequence[Payload], states: Sequence[State]) -> torch.Tensor:
        """The majority vote: sign of the sum of the workers' signs (0 on a tie)."""
        votes = 2 * torch.stack([p.data["positive"] for p in payloads]).sum(0, dtype=torch.int32) - len(payloads)
        return torch.sign(votes).to(torch.float32).reshape(payloads[0].shape)


@register("ef-signsgd", summary="(||p||_1 / d) sign(p) with error feedback", bits="1 + 32 / d",
          ef=Param(bool, "wrap in error feedback (the scheme's definition)"))
class ScaledSign(Compressor):
    """Scaled sign: a contraction, used with error feedback."""

    error_feedback = True

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """One sign bit per element and the mean |g| (one float)."""
        scale = tensor.abs().mean().reshape(1)
        return Payload({"positive": _positive(tensor), "scale": scale}, tensor.numel() + FLOAT_BITS, tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """+-scale by the sign bits."""
        scale = payload.data["scale"]
        return torch.where(payload.data["positive"], scale, -scale)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """abs, mean, signs and packing; unpacking and the select."""
        n = numel(shape)   # abs, mean, signs
        return CodecWork(elementwise(n) + reduction(n) + _signs(n) + pack(n, 2), unpack(n, 2) + _select(n)) + calls(6, 3)


@register("onebit", summary="threshold at 0, reconstruct with each column's mean of positives and of negatives",
          bits="1 + 64 / column", ef=_EF)
class OneBit(Compressor):
    """1-bit SGD: per column, entries >= 0 decode to their mean, the others to theirs."""

    error_feedback = True

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """One sign bit per element and, per column, the means of the positive and of the negative entries."""
        m = as_columns(tensor)
        positive = m >= 0
        count_pos = positive.sum(0)
        sum_pos = torch.where(positive, m, 0).sum(0)
        mean_pos = sum_pos / count_pos.clamp(min=1)
        mean_neg = (m.sum(0) - sum_pos) / (m.shape[0] - count_pos).clamp(min=1)
        data = {"positive": positive, "means": torch.stack([mean_pos, mean_neg])}
        return Payload(data, tensor.numel() + 2 * FLOAT_BITS * m.shape[1], tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """Each entry its column's positive or negative mean, by its bit."""
        mean_pos, mean_neg = payload.data["means"]
        return torch.where(payload.data["positive"], mean_pos, mean_neg)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Signs, the per-column counts and sums, packing; unpacking and the select."""
        # signs, count of positives, sum of positives (masked copy, then sum), column sums
        n = numel(shape)
        encode = _signs(n) + reduction(n, read=1) + elementwise(n, read=5) + reduction(n) * 2 + pack(n, 2)
        return CodecWork(encode, unpack(n, 2) + _select(n)) + calls(15, 3)
