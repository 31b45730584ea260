"""The backend protocol: what the executor asks of a network."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from hwmodels import SpecError

__all__ = ["NetworkBackend", "NetworkTotals"]


@dataclass
class NetworkTotals:
    """What a backend moved in one run: bytes offered to the network (every message once per
    hop it is sent), bits put on the air, and per directed link ``"u->v"`` bytes, busy seconds
    and joules (wired links only)."""

    bytes: float = 0.0
    air_bits: float = 0.0
    link_bytes: dict[str, float] = field(default_factory=dict)
    link_busy_s: dict[str, float] = field(default_factory=dict)
    link_energy_J: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


class NetworkBackend:
    """Base: every hook refuses; a backend overrides the node kinds it prices.

    ``ex`` is the running executor: ``ex.env`` (simpy), ``ex.sim`` (seeded streams and the
    trace), ``ex.cluster`` and ``ex.ledger`` (:class:`~simulator.energy.EnergyLedger`).
    """

    name = "network"

    def __init__(self, ex: Any) -> None:
        self.ex = ex

    def send(self, node: Any) -> Generator:
        """Move a Send's bytes from ``node.src`` to ``node.dst``."""
        raise SpecError(f"node {node.name!r}: the {self.name} network cannot carry point-to-point sends")
        yield  # pragma: no cover

    def collective(self, node: Any) -> Generator:
        """Run a Collective over its group (and servers)."""
        raise SpecError(f"node {node.name!r}: the {self.name} network cannot run collectives")
        yield  # pragma: no cover

    def air(self, node: Any) -> Generator:
        """Put an Upload, Multicast or Airtime node on a wireless medium."""
        raise SpecError(f"node {node.name!r} ({node.kind}) needs a shared wireless medium; this cluster has none "
                        f"(give the cluster a medium)")
        yield  # pragma: no cover

    def close(self) -> NetworkTotals:
        """Totals of the run (called once, after the simulation)."""
        return NetworkTotals()
