"""One cost type for everything ddlsim prices: a layer, a message, a step, a run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import SpecError

__all__ = ["Cost", "ENERGY_KINDS"]

# Where energy goes (joules): dynamic compute power above idle while busy, idle (static) power
# over the whole makespan, bits on wired links, and radios (transmit, receive, circuit).
ENERGY_KINDS = ("compute", "idle", "link", "radio")


@dataclass(frozen=True)
class Cost:
    """Latency (s), energy (J) and bits moved, with energy broken down by :data:`ENERGY_KINDS`.

    ``a + b`` composes in series (everything adds); ``a | b`` in parallel (the
    longer latency, energies and bits add). ``energy_breakdown_j`` is empty when the
    energy was not broken down; when given, its values sum to ``energy_j``.
    """

    latency_s: float = 0.0
    energy_j: float = 0.0
    bits: float = 0.0
    energy_breakdown_j: Mapping[str, float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("latency_s", "energy_j", "bits"):
            value = getattr(self, name)
            if not value >= 0:
                raise SpecError(f"Cost.{name} must be a non-negative number, got {value!r}")
        parts = dict(self.energy_breakdown_j)
        unknown = sorted(set(parts) - set(ENERGY_KINDS))
        if unknown:
            raise SpecError(f"Cost.energy_breakdown_j: unknown kind {unknown[0]!r}; known: {', '.join(ENERGY_KINDS)}")
        if parts:
            if any(not v >= 0 for v in parts.values()):
                raise SpecError(f"Cost.energy_breakdown_j must hold non-negative joules, got {parts!r}")
            total = math.fsum(parts.values())
            if not math.isclose(total, self.energy_j, rel_tol=1e-9, abs_tol=1e-15):
                raise SpecError(f"Cost.energy_breakdown_j sums to {total!r} J, not energy_j = {self.energy_j!r} J")
        object.__setattr__(self, "energy_breakdown_j", parts)

    def _energy_parts(self, other: Cost) -> dict[str, float]:
        if not self.energy_breakdown_j and not other.energy_breakdown_j:
            return {}
        if (self.energy_j and not self.energy_breakdown_j) or (other.energy_j and not other.energy_breakdown_j):
            return {}   # one side's energy is not broken down: the sum cannot be
        return {k: self.energy_breakdown_j.get(k, 0.0) + other.energy_breakdown_j.get(k, 0.0)
                for k in ENERGY_KINDS if k in self.energy_breakdown_j or k in other.energy_breakdown_j}

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.latency_s + other.latency_s, self.energy_j + other.energy_j, self.bits + other.bits,
                    self._energy_parts(other))

    def __or__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(max(self.latency_s, other.latency_s), self.energy_j + other.energy_j, self.bits + other.bits,
                    self._energy_parts(other))

    def breakdown(self) -> dict[str, float]:
        """Joules per kind of :data:`ENERGY_KINDS` (every kind present, zeros included)."""
        return {k: float(self.energy_breakdown_j.get(k, 0.0)) for k in ENERGY_KINDS}

    @staticmethod
    def series(costs: Iterable[Cost]) -> Cost:
        """Costs one after another: latencies, energies and bits add."""
        total = Cost()
        for cost in costs:
            total = total + cost
        return total

    @staticmethod
    def parallel(costs: Iterable[Cost]) -> Cost:
        """Costs side by side: the longest latency; energies and bits add."""
        total = Cost()
        for cost in costs:
            total = total | cost
        return total
