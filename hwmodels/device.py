"""Compute devices: peak throughput per dtype, memory, power; roofline time and energy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .cost import Cost
from .errors import SpecError
from .record import quantity, validate

__all__ = ["Device", "DTYPES", "DTYPE_BYTES"]

DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4")
# Bytes one element occupies in memory (tf32 is computed in, but stored as, 32 bits).
DTYPE_BYTES = {"fp64": 8.0, "fp32": 4.0, "tf32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True)
class Device:
    """A compute device (GPU, SoC, CPU, microcontroller).

    ``peak_flops`` maps a dtype (``fp32``, ``fp16``, ``int8``...) to peak dense
    throughput in FLOP/s (ops/s for integer types). Efficiencies in (0, 1] scale the
    peaks to what kernels reach in practice.
    """

    name: str
    peak_flops: dict[str, float] = quantity("flops", stem="peak_flops", positive=True)
    mem_bandwidth_Bps: float = quantity("rate", stem="mem_bandwidth", positive=True, bytes_per_s=True)
    mem_capacity_B: float = quantity("size", stem="mem_capacity", positive=True)
    active_power_W: float = quantity("power", stem="active_power", positive=True)
    idle_power_W: float = quantity("power", stem="idle_power", default=0.0)
    compute_efficiency: float = quantity("ratio", stem="compute_efficiency", default=1.0, positive=True, maximum=1.0)
    memory_efficiency: float = quantity("ratio", stem="memory_efficiency", default=1.0, positive=True, maximum=1.0)
    category: str = "other"
    source: str = ""
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())

    kind: ClassVar[str] = "device"

    def __post_init__(self) -> None:
        validate(self)
        unknown = sorted(set(self.peak_flops) - set(DTYPES))
        if unknown:
            raise SpecError(f"Device {self.name!r}: field 'peak_flops' has unknown dtype {unknown[0]!r}; known: {', '.join(DTYPES)}")
        if self.idle_power_W > self.active_power_W:
            raise SpecError(f"Device {self.name!r}: field 'idle_power_W' ({self.idle_power_W} W) exceeds active_power_W ({self.active_power_W} W)")

    def flops_per_s(self, dtype: str = "fp32") -> float:
        """Sustained FLOP/s for ``dtype``: peak times compute efficiency."""
        try:
            return self.peak_flops[dtype] * self.compute_efficiency
        except KeyError:
            raise SpecError(f"device {self.name!r} has no peak_flops for dtype {dtype!r}; it has: {', '.join(self.peak_flops)}") from None

    def time(self, flops: float, bytes_: float = 0.0, dtype: str = "fp32") -> float:
        """Roofline time in seconds for ``flops`` operations touching ``bytes_`` of memory."""
        if flops < 0 or bytes_ < 0:
            raise SpecError(f"device {self.name!r}: flops and bytes must be non-negative, got {flops}, {bytes_}")
        compute_s = flops / self.flops_per_s(dtype) if flops else 0.0
        memory_s = bytes_ / (self.mem_bandwidth_Bps * self.memory_efficiency) if bytes_ else 0.0
        return max(compute_s, memory_s)

    def energy(self, flops: float, bytes_: float = 0.0, dtype: str = "fp32", idle_s: float = 0.0) -> float:
        """Energy in joules: active power over the roofline time plus idle power over ``idle_s``."""
        if idle_s < 0:
            raise SpecError(f"device {self.name!r}: idle_s must be non-negative, got {idle_s}")
        return self.active_power_W * self.time(flops, bytes_, dtype) + self.idle_power_W * idle_s

    def cost(self, flops: float, bytes_: float = 0.0, dtype: str = "fp32") -> Cost:
        """Roofline latency and active energy of one kernel as a :class:`Cost` (no bits moved): the
        idle (static) share of the active power is broken down as ``idle``, the rest as ``compute``."""
        latency = self.time(flops, bytes_, dtype)
        idle = self.idle_power_W * latency
        dynamic = (self.active_power_W - self.idle_power_W) * latency
        return Cost(latency, idle + dynamic, 0.0, {"compute": dynamic, "idle": idle})
