"""Compute devices: peak throughput per dtype, memory, power; roofline time and energy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .cost import Cost
from .errors import SpecError
from .record import quantity, validate
from .work import Work

__all__ = ["Device", "DTYPES", "DTYPE_BYTES", "CODEC_EFFICIENCY"]

DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4")
# Bytes one element occupies in memory (tf32 is computed in, but stored as, 32 bits).
DTYPE_BYTES = {"fp64": 8.0, "fp32": 4.0, "tf32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}

# The fraction of peak FLOP/s and of memory bandwidth that gradient-codec kernels reach, by
# device category, when a device gives no ``codec_efficiency``. Codec kernels are chains of
# short memory-bound passes with reductions, selection, scatter and random numbers, so they
# reach a fraction of the roofline; calibration on the real device replaces these values.
CODEC_EFFICIENCY = {
    # Measured: benchmarks/bench_codec.py, 16 schemes x 3 sizes on an x86 host (AMD EPYC Zen 3,
    # one thread) against its own GEMM and triad roofline, two runs; the median of the 96
    # implied efficiencies (docs/benchmarks.md, "Codec work model against this host").
    "cpu": 0.57,
    # Estimate: the catalog's phone and single-board figures are their CPU cores' peaks, and
    # the codec runs on those cores, so the CPU value applies.
    "sbc": 0.57,
    "phone-soc": 0.57,
    "soc": 0.57,
    # Estimate: streaming kernels reach about 0.9 of the datasheet DRAM bandwidth on data-centre
    # GPUs (an NCU-profiled A100 read kernel reached 88 %, NVIDIA developer forum, 2025); codec
    # chains of short kernels with selection and scatter reach about half of that.
    "datacenter-gpu": 0.4,
    # Estimate: Jetson GPUs share LPDDR with the CPU and run short kernels with launch overheads
    # that weigh more at their lower throughput; taken below the data-centre value.
    "edge-gpu": 0.3,
    # Estimate: the catalog's microcontroller peaks are already achieved DSP-kernel rates (ESP32-S3)
    # or one operation per cycle (Cortex-M4), so plain C codec loops reach about half of them.
    "mcu": 0.5,
    "other": 0.57,   # the CPU value: an unknown device is assumed to run codecs as a CPU does
}


@dataclass(frozen=True)
class Device:
    """A compute device (GPU, SoC, CPU, microcontroller).

    ``peak_flops`` maps a dtype (``fp32``, ``fp16``, ``int8``...) to peak dense
    throughput in FLOP/s (ops/s for integer types). Efficiencies in (0, 1] scale the
    peaks to what kernels reach in practice: ``compute_efficiency`` and ``memory_efficiency``
    for the model's layers, ``codec_efficiency`` (both peaks) for gradient codecs; None takes
    the category's value from :data:`CODEC_EFFICIENCY`. ``call_overhead_s`` is the fixed
    seconds each kernel launch (GPU) or eager operator dispatch (CPU) costs before its kernel
    runs, charged per :attr:`Work.calls`; 0 (the default of every catalog entry, whose sources
    give no such figure) leaves the roofline alone, and ``ddlsim calibrate`` measures it.
    ``codec_call_overhead_s`` is the same per operator a gradient codec dispatches (a codec's
    operators come wrapped in more host work per call: input checks, generator seeding,
    payload objects); None uses ``call_overhead_s``.
    """

    name: str
    peak_flops: dict[str, float] = quantity("flops", stem="peak_flops", positive=True)
    mem_bandwidth_Bps: float = quantity("rate", stem="mem_bandwidth", positive=True, bytes_per_s=True)
    mem_capacity_B: float = quantity("size", stem="mem_capacity", positive=True)
    active_power_W: float = quantity("power", stem="active_power", positive=True)
    idle_power_W: float = quantity("power", stem="idle_power", default=0.0)
    compute_efficiency: float = quantity("ratio", stem="compute_efficiency", default=1.0, positive=True, maximum=1.0)
    memory_efficiency: float = quantity("ratio", stem="memory_efficiency", default=1.0, positive=True, maximum=1.0)
    codec_efficiency: float | None = quantity("ratio", stem="codec_efficiency", default=None, positive=True, maximum=1.0)
    call_overhead_s: float = quantity("time", stem="call_overhead", default=0.0)
    codec_call_overhead_s: float | None = quantity("time", stem="codec_call_overhead", default=None)
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

    def _peak(self, dtype: str) -> float:
        try:
            return self.peak_flops[dtype]
        except KeyError:
            raise SpecError(f"device {self.name!r} has no peak_flops for dtype {dtype!r}; it has: {', '.join(self.peak_flops)}") from None

    def flops_per_s(self, dtype: str = "fp32") -> float:
        """Sustained FLOP/s for ``dtype``: peak times compute efficiency."""
        return self._peak(dtype) * self.compute_efficiency

    @property
    def codec_fraction(self) -> float:
        """The codec efficiency in use: ``codec_efficiency``, else the category's default."""
        if self.codec_efficiency is not None:
            return self.codec_efficiency
        return CODEC_EFFICIENCY.get(self.category, CODEC_EFFICIENCY["other"])

    def codec_time(self, work: Work, dtype: str = "fp32") -> float:
        """Seconds for a codec's ``work``: the roofline max(flops / (peak x e), bytes /
        (bandwidth x e)) with e the codec efficiency (:attr:`codec_fraction`), plus its calls
        at ``codec_call_overhead_s`` (else ``call_overhead_s``) each."""
        if not isinstance(work, Work):
            raise SpecError(f"device {self.name!r}: codec_time needs a hwmodels.Work, got {type(work).__name__}")
        eff = self.codec_fraction
        compute_s = work.flops / (self._peak(dtype) * eff) if work.flops else 0.0
        memory_s = work.bytes / (self.mem_bandwidth_Bps * eff) if work.bytes else 0.0
        per_call = self.call_overhead_s if self.codec_call_overhead_s is None else self.codec_call_overhead_s
        return max(compute_s, memory_s) + work.calls * per_call

    def call_time(self, calls: float) -> float:
        """Seconds of ``calls`` kernel launches or operator dispatches: ``calls x call_overhead_s``.

        Added to the roofline, not max'd with it: a launch or dispatch is serial host work
        (argument checks, dtype and device dispatch, output allocation, the launch itself)
        done before its kernel starts, and a codec's or a small layer's kernels on small
        tensors are too short to hide the next one's launch behind them."""
        if calls < 0:
            raise SpecError(f"device {self.name!r}: calls must be non-negative, got {calls}")
        return calls * self.call_overhead_s

    def codec_cost(self, work: Work, dtype: str = "fp32") -> Cost:
        """:meth:`codec_time` and its active energy as a :class:`Cost` (no bits moved)."""
        return self._busy_cost(self.codec_time(work, dtype))

    def time(self, flops: float, bytes_: float = 0.0, dtype: str = "fp32", calls: float = 0) -> float:
        """Roofline time in seconds for ``flops`` operations touching ``bytes_`` of memory, plus
        :meth:`call_time` of the ``calls`` operators that run them."""
        if flops < 0 or bytes_ < 0:
            raise SpecError(f"device {self.name!r}: flops and bytes must be non-negative, got {flops}, {bytes_}")
        compute_s = flops / self.flops_per_s(dtype) if flops else 0.0
        memory_s = bytes_ / (self.mem_bandwidth_Bps * self.memory_efficiency) if bytes_ else 0.0
        return max(compute_s, memory_s) + self.call_time(calls)

    def energy(self, flops: float, bytes_: float = 0.0, dtype: str = "fp32", idle_s: float = 0.0) -> float:
        """Energy in joules: active power over the roofline time plus idle power over ``idle_s``."""
        if idle_s < 0:
            raise SpecError(f"device {self.name!r}: idle_s must be non-negative, got {idle_s}")
        return self.active_power_W * self.time(flops, bytes_, dtype) + self.idle_power_W * idle_s

    def cost(self, flops: float, bytes_: float = 0.0, dtype: str = "fp32") -> Cost:
        """Roofline latency and active energy of one kernel as a :class:`Cost` (no bits moved): the
        idle (static) share of the active power is broken down as ``idle``, the rest as ``compute``."""
        return self._busy_cost(self.time(flops, bytes_, dtype))

    def _busy_cost(self, latency: float) -> Cost:
        """``latency`` seconds at active power: the idle share as ``idle``, the rest as ``compute``."""
        idle = self.idle_power_W * latency
        dynamic = (self.active_power_W - self.idle_power_W) * latency
        return Cost(latency, idle + dynamic, 0.0, {"compute": dynamic, "idle": idle})
