"""Processes of one host talking over its loopback interface (127.0.0.1): a topology whose
messages all share the host.

No wire carries a loopback message: the host's cores copy its bytes (into the kernel and out
to the receiving process), so every message between the host's processes draws on one
capacity, whatever its endpoints, and a message waits longer when the host runs more
processes than it has cores (the receiver has to be scheduled before it can take the bytes).

:class:`LoopbackTopology`: ``p`` processes ``h0 .. h{p-1}`` hang off a node ``lo`` by links of
``link`` (a message crosses two of them: ``2 x link.latency_s``), and every path between two
processes also crosses one shared link ``lo->bus`` whose bandwidth is ``link.bandwidth_Bps``,
the host's copy capacity shared max-min by every message in flight, and whose latency is
``oversubscription_latency_s x max(0, p - cores)``. A step of a collective in which k
messages of m bytes travel at once thus takes ``2 latency + excess + k m / bandwidth``, in the
flow DES and in the closed forms alike (:attr:`shared_capacity_Bps` tells
:meth:`simulator.collectives.NetParams.from_topology` to share the bus).
"""

from __future__ import annotations

import numpy as np

from hwmodels import LinkSpec, SpecError
from hwmodels.checks import is_int

from .builders import TOPOLOGIES, count, host_graph
from .topology import SWITCH, Topology

__all__ = ["LoopbackTopology", "BUS_LINK"]

BUS_LINK = "lo->bus"


class LoopbackTopology(Topology):
    """``p`` processes of one host with ``cores`` cores (0: as many as processes) exchanging
    messages over loopback; ``link`` gives the per-message latency (half of it per side) and
    the host's shared copy bandwidth; ``oversubscription_latency_s`` is added to every message
    per process beyond the cores. ``cores`` and ``oversubscription_latency_s`` default to the
    link's ``host_cores`` and ``oversubscription_latency_s`` (as ``ddlsim calibrate`` writes them)."""

    def __init__(self, p: int, link: LinkSpec, *, cores: int | None = None,
                 oversubscription_latency_s: float | None = None) -> None:
        cores = link.host_cores if cores is None else cores
        if oversubscription_latency_s is None:
            oversubscription_latency_s = link.oversubscription_latency_s
        p = count("p", p)
        if not is_int(cores) or cores < 0:
            raise SpecError(f"loopback: cores must be a non-negative integer (0: one per process), got {cores!r}")
        try:
            over = float(oversubscription_latency_s)
        except (TypeError, ValueError):
            over = -1.0
        if not np.isfinite(over) or over < 0:
            raise SpecError(f"loopback: oversubscription_latency_s must be a non-negative number of seconds, "
                            f"got {oversubscription_latency_s!r}")
        self.cores = int(cores)
        self.oversubscription_latency_s = over
        excess = max(0, p - self.cores) if self.cores else 0
        bus = LinkSpec(name=f"{link.name} (shared copy capacity)", bandwidth_Bps=link.bandwidth_Bps,
                       latency_s=over * excess, energy_per_bit_J=0.0)
        g = host_graph(p)
        g.add_node("lo", kind=SWITCH)
        g.add_node("bus", kind=SWITCH)
        for i in range(p):
            g.add_edge(f"h{i}", "lo", link=link)
        g.add_edge("lo", "bus", link=bus)
        super().__init__(g, name="loopback")
        self.bus_link = self.link_id(BUS_LINK)
        self._shared: dict[tuple[int, int], np.ndarray] = {}

    @property
    def shared_capacity_Bps(self) -> float:
        """The copy capacity every message in flight shares (bytes per second)."""
        return float(self.capacity_Bps[self.bus_link])

    def _node_path(self, s: int, d: int) -> np.ndarray:
        """The routed path, then the shared bus (every message between two processes crosses it)."""
        cached = self._shared.get((s, d))
        if cached is not None:
            return cached
        path = super()._node_path(s, d)
        if s != d:
            path = np.append(path, self.bus_link)
            path.setflags(write=False)
        self._shared[(s, d)] = path
        return path


TOPOLOGIES.add("loopback", LoopbackTopology)
