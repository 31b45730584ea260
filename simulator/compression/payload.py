"""What travels: the :class:`Payload` and the exact bit counts of the codes it uses.

Counting rules (docs/compression.md): a block of ``count`` symbols from an alphabet of ``A``
is one base-``A`` number, ``ceil(count * log2 A)`` bits; an index into ``d`` entries costs
``ceil(log2 d)`` bits; every float scale costs 32 bits; Elias-gamma codes cost their real
length; randomness drawn from a seed shared with the receiver costs 0 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["FLOAT_BITS", "Payload", "block_bits", "index_bits", "elias_gamma_bits"]

FLOAT_BITS = 32


@dataclass
class Payload:
    """One compressed message.

    ``data`` holds the tensors that travel (in any container dtype: the container is never
    counted), ``nbits`` their exact size in information bits, ``shape`` the original tensor
    shape (known to both sides from the model), ``meta`` local context that does not travel.
    """

    data: dict[str, torch.Tensor]
    nbits: int
    shape: torch.Size
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def numel(self) -> int:
        """Elements of the original tensor."""
        return math.prod(self.shape)

    @property
    def bits_per_element(self) -> float:
        """Information bits per original element."""
        return self.nbits / max(self.numel, 1)


def block_bits(count: int, alphabet: int) -> int:
    """Bits for ``count`` symbols of an ``alphabet``-letter code sent as one base-A number."""
    if count <= 0 or alphabet <= 1:
        return 0
    if alphabet & (alphabet - 1) == 0:
        return count * (alphabet.bit_length() - 1)
    exact = count * math.log2(alphabet)
    bits = math.ceil(exact)
    if min(bits - exact, exact - bits + 1) < 1e-6:  # within float error of an integer: decide exactly
        bits = (alphabet**count - 1).bit_length()
    return bits


def index_bits(d: int) -> int:
    """Bits of one index into ``d`` entries: ceil(log2 d)."""
    return (d - 1).bit_length() if d > 1 else 0


def elias_gamma_bits(values: torch.Tensor) -> int:
    """Total Elias-gamma code length of positive integers: sum of 2 floor(log2 v) + 1."""
    if values.numel() == 0:
        return 0
    v = values.to(torch.int64)
    if int(v.min()) < 1:
        raise ValueError("Elias-gamma codes positive integers only")
    floor_log2 = torch.frexp(v.to(torch.float64))[1] - 1
    return int((2 * floor_log2 + 1).sum())
