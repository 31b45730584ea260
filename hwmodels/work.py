"""Work a kernel does, before any hardware prices it: arithmetic operations, memory traffic and
the kernel launches (operator dispatches) that carry them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import is_number
from .errors import SpecError

__all__ = ["Work"]


@dataclass(frozen=True)
class Work:
    """``flops`` operations (FLOPs; integer and compare operations count one each),
    ``bytes`` of memory traffic (bytes read plus bytes written) and ``calls``, the kernels
    launched (GPU) or framework operators dispatched (CPU eager) to do it: a count, so whole
    in a declaration, though a scaled work (an average over workers) may hold a fraction.

    ``a + b`` is the work of both; ``w * s`` (or ``s * w``) is ``s`` times the work, calls
    included. A device turns work into time (:meth:`hwmodels.Device.codec_time`).
    """

    flops: float = 0.0
    bytes: float = 0.0
    calls: float = 0

    def __post_init__(self) -> None:
        for name in ("flops", "bytes", "calls"):
            value = getattr(self, name)
            if not is_number(value) or value < 0:
                raise SpecError(f"Work.{name} must be a finite number >= 0, got {value!r}")

    def __add__(self, other: Work) -> Work:
        if not isinstance(other, Work):
            return NotImplemented
        return Work(self.flops + other.flops, self.bytes + other.bytes, self.calls + other.calls)

    def __mul__(self, scalar: float) -> Work:
        if not is_number(scalar, finite=False):
            return NotImplemented
        if not math.isfinite(scalar) or scalar < 0:
            raise SpecError(f"Work can only be scaled by a finite number >= 0, got {scalar!r}")
        return Work(self.flops * scalar, self.bytes * scalar, self.calls * scalar)

    __rmul__ = __mul__
