"""Wired links: per-direction bandwidth, latency and energy per bit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .checks import is_int
from .cost import Cost
from .errors import SpecError
from .record import quantity, validate

__all__ = ["LinkSpec"]


@dataclass(frozen=True)
class LinkSpec:
    """A wired link. ``bandwidth_Bps`` is per direction (bytes per second);
    a full-duplex link has that bandwidth each way at once.

    A host's loopback (the ``loopback`` topology: processes of one host, every message sharing
    ``bandwidth_Bps``, the host's copy capacity) also carries ``host_cores`` (the cores its
    processes share; 0: not given) and ``oversubscription_latency_s`` (seconds added to each
    message per process beyond those cores)."""

    name: str
    bandwidth_Bps: float = quantity("rate", stem="bandwidth", positive=True)
    latency_s: float = quantity("time", stem="latency", default=0.0)
    energy_per_bit_J: float = quantity("energy_per_bit", stem="energy_per_bit", default=0.0)
    duplex: bool = True
    host_cores: int = 0
    oversubscription_latency_s: float = quantity("time", stem="oversubscription_latency", default=0.0)
    category: str = "other"
    source: str = ""
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())

    kind: ClassVar[str] = "link"

    def __post_init__(self) -> None:
        validate(self)
        if not isinstance(self.duplex, bool):
            raise SpecError(f"LinkSpec {self.name!r}: field 'duplex' must be true or false, got {self.duplex!r}")
        if not is_int(self.host_cores) or self.host_cores < 0:
            raise SpecError(f"LinkSpec {self.name!r}: field 'host_cores' must be a non-negative integer "
                            f"(0: not given), got {self.host_cores!r}")

    def transfer_time(self, nbytes: float) -> float:
        """Seconds to move ``nbytes`` alone on the link: latency plus serialisation."""
        if nbytes < 0:
            raise SpecError(f"link {self.name!r}: message size must be non-negative, got {nbytes}")
        return self.latency_s + nbytes / self.bandwidth_Bps

    def cost(self, nbytes: float) -> Cost:
        """Uncontended transfer of ``nbytes`` as a :class:`Cost` (bits = 8 * nbytes)."""
        bits = 8.0 * nbytes
        energy = bits * self.energy_per_bit_J
        return Cost(self.transfer_time(nbytes), energy, bits, {"link": energy})
