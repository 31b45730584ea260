"""Error feedback as a wrapper around any compressor.

z = g + beta r;  z_hat = C(z);  e = z - z_hat;  r <- (1 - beta) r + e.
beta = 1 is classic error feedback (r = e); 0 < beta < 1 is QCS's weighted feedback.
The memory r lives in the worker's :class:`State` under ``"ef"``.
"""

from __future__ import annotations

import torch

from hwmodels import SpecError

from .base import Compressor, State
from .payload import Payload
from .work import CodecWork, calls, elementwise, numel

__all__ = ["ErrorFeedback"]


class ErrorFeedback(Compressor):
    """Wraps ``inner`` with (weighted) error feedback; never unbiased."""

    unbiased = False

    def __init__(self, inner: Compressor, beta: float = 1.0) -> None:
        if not 0.0 < beta <= 1.0:
            raise SpecError(f"{inner.name}: beta must be a number in (0, 1], got {beta!r}")
        self.inner = inner
        self.beta = float(beta)
        self.name = f"ef({inner.name})"

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Compress g + beta r with the inner compressor and keep the new error memory r in ``state``."""
        memory = state.memory.get("ef")
        z = tensor if memory is None else tensor + self.beta * memory.reshape(tensor.shape)
        payload = self.inner.compress(z, state)
        error = z - self.inner.decompress(payload, state)
        state.memory["ef"] = error if memory is None else (1.0 - self.beta) * memory.reshape(tensor.shape) + error
        return payload

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The inner compressor's decode."""
        return self.inner.decompress(payload, state)

    def aggregate(self, payloads, states) -> torch.Tensor:
        """The inner compressor's aggregate of the workers' payloads."""
        return self.inner.aggregate(payloads, states)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """The inner encode, plus the sender's own decode of its payload, plus five passes:
        z = g + beta r (scale, add), e = z - z_hat, r = (1 - beta) r + e (scale, add); decode
        is the inner decode; eight calls of its own around the inner ones, one view after decode."""
        n = numel(shape)
        inner = self.inner.work(shape)
        scale, add = elementwise(n), elementwise(n, read=8)
        return CodecWork(inner.encode + inner.decode + scale + add + add + scale + add, inner.decode) + calls(8, 1)
