"""PowerSGD (Vogels et al. 2019): one power iteration per step with a warm-started Q."""

from __future__ import annotations

import torch

from .base import SHARED, Compressor, State
from .payload import FLOAT_BITS, Payload
from .registry import Param, register
from .sign import as_columns
from .work import CodecWork, calls, elementwise, matmul, numel, qr

__all__ = ["PowerSGD"]


@register("powersgd", summary="rank-r power iteration per matrix (conv reshaped), warm start, error feedback; 1-D sent raw",
          bits="32 r (n + m) / (n m) per n x m matrix; 32 for vectors or when raw is cheaper",
          rank=Param(int, "rank r", low=1, high=1024),
          ef=Param(bool, "wrap in error feedback"))
class PowerSGD(Compressor):
    """M_hat = P Q^T with P = orth(M Q_prev), Q = M^T P; Q is kept in the state (warm start)."""

    error_feedback = True

    def __init__(self, rank: int = 1) -> None:
        self.rank = rank

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """P = orth(M Q), Q = M^T P from the warm-started Q (float32 P and Q); raw floats for vectors or when cheaper."""
        m = as_columns(tensor)
        rows, cols = m.shape
        rank = min(self.rank, rows, cols)
        if tensor.dim() < 2 or rank * (rows + cols) >= rows * cols:
            return Payload({"raw": tensor.reshape(-1).clone()}, FLOAT_BITS * tensor.numel(), tensor.shape)
        q = state.memory.get("powersgd_q")
        if q is None or q.shape != (cols, rank):
            q = torch.randn(cols, rank, generator=state.generator(SHARED))
        p = torch.linalg.qr(m @ q).Q
        q = m.T @ p
        state.memory["powersgd_q"] = q
        return Payload({"p": p, "q": q}, FLOAT_BITS * rank * (rows + cols), tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """P Q^T, or the raw values."""
        if "raw" in payload.data:
            return payload.data["raw"]
        return payload.data["p"] @ payload.data["q"].T

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """P = M Q (2 n m r), orthogonalise P (thin QR of n x r), Q = M^T P (2 n m r); decode
        P Q^T (2 n m r). Raw tensors are a copy each way, as for ``none``."""
        n = numel(shape)
        rows = shape[0] if len(shape) >= 2 else n
        cols = n // rows
        rank = min(self.rank, rows, cols)
        if len(shape) < 2 or rank * (rows + cols) >= rows * cols:
            return CodecWork(elementwise(n, ops=0), elementwise(n, ops=0)) + calls(4, 1)
        return (CodecWork(matmul(rows, cols, rank) + qr(rows, rank) + matmul(cols, rows, rank), matmul(rows, rank, cols))
                + calls(6, 3))
