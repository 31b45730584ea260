"""The fast Walsh-Hadamard transform along the last dimension (unnormalised, Sylvester order)."""

from __future__ import annotations

from functools import lru_cache

import scipy.linalg
import torch

__all__ = ["fwht", "hadamard"]

_BLOCK = 256  # largest Hadamard matrix multiplied directly (dense matmul beats butterflies here)


@lru_cache(maxsize=16)
def hadamard(n: int) -> torch.Tensor:
    """The n x n Sylvester Hadamard matrix (entries +-1, float32; n a power of two)."""
    return torch.as_tensor(scipy.linalg.hadamard(n), dtype=torch.float32)


def fwht(x: torch.Tensor) -> torch.Tensor:
    """H_n x for each row of ``x`` (last dimension n, a power of two), H_n H_n = n I.

    Uses H_n = H_(n/b) kron H_b: one dense matmul per factor of at most 256, so
    O(n log n)-like work per row in a few large vectorised passes; returns a new tensor.
    """
    n = x.shape[-1]
    if n < 1 or n & (n - 1):
        raise ValueError(f"fwht needs a power-of-two length, got {n}")
    if n <= _BLOCK:
        return x @ hadamard(n).to(x.dtype)
    lead = x.shape[:-1]
    inner = (x.reshape(*lead, n // _BLOCK, _BLOCK) @ hadamard(_BLOCK).to(x.dtype)).transpose(-1, -2)
    return fwht(inner).transpose(-1, -2).reshape(*lead, n)
