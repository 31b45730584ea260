"""One cost type for everything ddlsim prices: a layer, a message, a step, a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import SpecError

__all__ = ["Cost"]


@dataclass(frozen=True)
class Cost:
    """Latency (s), energy (J) and bits moved.

    ``a + b`` composes in series (everything adds); ``a | b`` in parallel (the
    longer latency, energies and bits add).
    """

    latency_s: float = 0.0
    energy_j: float = 0.0
    bits: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency_s", "energy_j", "bits"):
            value = getattr(self, name)
            if not value >= 0:
                raise SpecError(f"Cost.{name} must be a non-negative number, got {value!r}")

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.latency_s + other.latency_s, self.energy_j + other.energy_j, self.bits + other.bits)

    def __or__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(max(self.latency_s, other.latency_s), self.energy_j + other.energy_j, self.bits + other.bits)

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
