"""Work a kernel does, before any hardware prices it: arithmetic operations and memory traffic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SpecError

__all__ = ["Work"]


@dataclass(frozen=True)
class Work:
    """``flops`` operations (FLOPs; integer and compare operations count one each) and
    ``bytes`` of memory traffic (bytes read plus bytes written).

    ``a + b`` is the work of both; ``w * s`` (or ``s * w``) is ``s`` times the work.
    A device turns work into time (:meth:`hwmodels.Device.codec_time`).
    """

    flops: float = 0.0
    bytes: float = 0.0

    def __post_init__(self) -> None:
        for name in ("flops", "bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SpecError(f"Work.{name} must be a finite number >= 0, got {value!r}")

    def __add__(self, other: Work) -> Work:
        if not isinstance(other, Work):
            return NotImplemented
        return Work(self.flops + other.flops, self.bytes + other.bytes)

    def __mul__(self, scalar: float) -> Work:
        if isinstance(scalar, bool) or not isinstance(scalar, (int, float)):
            return NotImplemented
        if not math.isfinite(scalar) or scalar < 0:
            raise SpecError(f"Work can only be scaled by a finite number >= 0, got {scalar!r}")
        return Work(self.flops * scalar, self.bytes * scalar)

    __rmul__ = __mul__
