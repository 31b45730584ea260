"""The compressor contract: :class:`Compressor` (template methods) and its :class:`State`.

A compressor is a pure transformation; everything that changes between calls (error memory,
momentum, warm starts) lives in the caller's :class:`State`, one per (worker, tensor).
"""

from __future__ import annotations

import contextlib
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hwmodels import SpecError
from hwmodels.checks import is_int

from .payload import Payload
from .work import CodecWork

__all__ = ["SHARED", "PRIVATE", "TENSOR", "WORKERS", "FACTORS", "State", "Compressor", "check_tensor",
           "allow_nonfinite"]

SHARED = 0  # stream the receiver regenerates from the seed: costs 0 bits
PRIVATE = 1  # stream only the sender uses (stochastic rounding)

# What a compressor takes (Compressor.inputs):
TENSOR = "tensor"    # one gradient tensor
WORKERS = "workers"  # one tensor per worker, the workers' payloads decoded together (aggregate)
FACTORS = "factors"  # a linear layer's inputs X and output gradients Delta (G = X^T Delta)


@dataclass
class State:
    """Per (worker, tensor) state: seeds, error memory, momentum and warm starts.

    Randomness is drawn from generators seeded by (seed, worker, step, bucket, stream); the
    server holds a twin state for each worker and regenerates the SHARED stream exactly.
    """

    seed: int = 0
    worker: int = 0
    step: int = 0
    bucket: int = 0
    memory: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("seed", "worker", "step", "bucket"):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise SpecError(f"compression state: {name} must be an integer >= 0, got {value!r}")

    def generator(self, stream: int = SHARED) -> torch.Generator:
        """A fresh torch generator for this (seed, worker, step, bucket, stream)."""
        words = np.random.SeedSequence([self.seed, self.worker, self.step, self.bucket, stream]).generate_state(1, np.uint64)
        return torch.Generator().manual_seed(int(words[0]) & ((1 << 63) - 1))


_NONFINITE_OK: contextvars.ContextVar[bool] = contextvars.ContextVar("nonfinite_ok", default=False)


@contextlib.contextmanager
def allow_nonfinite() -> Iterator[None]:
    """Let compressors pass NaN/inf input through inside the block (a caller that detects and
    reports divergence itself, like the trainer); outside it such input is a SpecError."""
    token = _NONFINITE_OK.set(True)
    try:
        yield
    finally:
        _NONFINITE_OK.reset(token)


def check_tensor(tensor: Any, scheme: str) -> torch.Tensor:
    """The tensor if it is a floating-point torch tensor with finite entries, else SpecError
    (NaN or inf would come out as silently wrong numbers; see :func:`allow_nonfinite`)."""
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        kind = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise SpecError(f"{scheme}: input must be a floating-point tensor (float16/32/64), got {kind}")
    if not _NONFINITE_OK.get() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise SpecError(f"{scheme}: input has {bad} non-finite entries (NaN or inf) of {tensor.numel()}; a diverged "
                        "run? lower the learning rate, or compress inside allow_nonfinite() to pass them through")
    return tensor.detach()


class Compressor(ABC):
    """``compress(tensor, state) -> Payload``, ``decompress(payload, state) -> tensor``.

    Subclasses implement :meth:`encode` and :meth:`decode` (float32 in, float32 out) and
    :meth:`work` (what both cost, for a device to price), and may override :meth:`aggregate`
    when the server combines payloads before decoding.
    ``unbiased`` says whether E[decompress(compress(g))] = g is claimed.

    ``inputs`` says what :meth:`compress` takes: :data:`TENSOR` (one tensor), :data:`WORKERS`
    (one tensor, but the payloads of all workers are decoded together by :meth:`aggregate`) or
    :data:`FACTORS` (a linear layer's two factors: ``compress(x, delta, state)``, decoded to
    the weight gradient; other tensors go through :attr:`direct`). ``summable`` says whether
    the network may sum payloads in compressed form (plain floats: an all-reduce). ``error_feedback`` is the
    default of the scheme's ``ef`` parameter (whether :func:`~.registry.create` wraps it in
    :class:`~.feedback.ErrorFeedback`), for schemes that declare one.
    """

    name = "compressor"
    unbiased = False
    inputs = TENSOR
    summable = False
    error_feedback = False

    @property
    def takes_factors(self) -> bool:
        """Whether :meth:`compress` takes a linear layer's factors (X, Delta) instead of a tensor."""
        return self.inputs == FACTORS

    @property
    def direct(self) -> Compressor:
        """The compressor a plain gradient tensor goes through: this one, or a factors
        compressor's direct compressor."""
        return self

    def compress(self, tensor: torch.Tensor, state: State) -> Payload:
        """Encode one tensor; ``payload.nbits`` is what travels."""
        return self.encode(check_tensor(tensor, self.name).to(torch.float32), state)

    def decompress(self, payload: Payload, state: State) -> torch.Tensor:
        """Decode a payload to a float32 tensor of the original shape."""
        return self.decode(payload, state).reshape(payload.shape)

    def aggregate(self, payloads: Sequence[Payload], states: Sequence[State]) -> torch.Tensor:
        """The server's estimate of the workers' mean (default: mean of the decoded tensors)."""
        return torch.stack([self.decompress(p, s) for p, s in zip(payloads, states)]).mean(0)

    def default_beta(self) -> float:
        """The error-feedback weight used when ``beta`` is not given (1: classic feedback)."""
        return 1.0

    @abstractmethod
    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """Hook: float32 tensor -> payload."""

    @abstractmethod
    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """Hook: payload -> float32 tensor (any shape with the right number of elements)."""

    @abstractmethod
    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """Operations and memory bytes to encode one float32 tensor of ``shape`` and to decode
        one payload of it, counted from the kernels :meth:`encode` and :meth:`decode` run
        (docs/compression.md, "Codec work")."""
