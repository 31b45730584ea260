"""A :class:`FlowPattern`: the routes of a set of (src, dst) pairs, precomputed once.

A collective starts the same pairs step after step (a ring all-reduce uses ``i -> i+1`` at
every one of its ``2(p-1)`` steps). The pattern holds, for each flow, its directed links
(CSR incidence), the capacity resources they belong to, and its path latency, so that
:meth:`FlowNetwork.start` only copies arrays. ``FlowNetwork.pattern(src, dst)`` builds and
caches patterns; pass one to ``start(pattern=...)`` to skip even the cache lookup.
"""

from __future__ import annotations

import numpy as np

from .topology import Topology

__all__ = ["FlowPattern"]


class FlowPattern:
    """Routes of ``n`` flows ``src[i] -> dst[i]`` (host indices) on a topology.

    Attributes: ``src``, ``dst`` (host ranks), ``ptr``/``links`` (flow ``i`` crosses directed
    links ``links[ptr[i]:ptr[i+1]]``), ``res`` (capacity resource of each of those links),
    ``entry_flow`` (the flow of each entry), ``hops`` (links per flow), ``latency_s`` (path
    latency per flow), and ``latency_groups``: ``(latency, local indices or None for all)``.
    All arrays are read-only.
    """

    __slots__ = ("topology", "src", "dst", "n", "ptr", "links", "res", "entry_flow", "hops", "latency_s",
                 "latency_groups", "min_latency_s", "_bottleneck")

    def __init__(self, topology: Topology, src: np.ndarray, dst: np.ndarray) -> None:
        self.topology = topology
        self.src = np.array(src, dtype=np.int64).reshape(-1)
        self.dst = np.array(dst, dtype=np.int64).reshape(-1)
        if self.src.shape != self.dst.shape:
            raise ValueError(f"{self.src.size} sources but {self.dst.size} destinations")
        self.n = int(self.src.size)
        self.ptr, self.links = topology.paths(self.src, self.dst)
        self.hops = np.diff(self.ptr)
        self.res = topology.resource_of_link[self.links]
        self.entry_flow = np.repeat(np.arange(self.n, dtype=np.int64), self.hops)
        self.latency_s = np.bincount(self.entry_flow, weights=topology.latency_s[self.links], minlength=self.n)
        self.latency_groups: list[tuple[float, np.ndarray | None]] = []
        if self.n:
            values, inverse = np.unique(self.latency_s, return_inverse=True)
            if values.size == 1:
                self.latency_groups.append((float(values[0]), None))
            else:
                order = np.argsort(inverse, kind="stable")
                bounds = np.searchsorted(inverse[order], np.arange(values.size + 1))
                for k, value in enumerate(values.tolist()):
                    self.latency_groups.append((value, order[bounds[k]:bounds[k + 1]]))
            self.min_latency_s = float(values[0])
        else:
            self.min_latency_s = 0.0
        for arr in (self.src, self.dst, self.ptr, self.links, self.hops, self.res, self.entry_flow, self.latency_s):
            arr.setflags(write=False)
        self._bottleneck: np.ndarray | None = None

    @property
    def bottleneck_Bps(self) -> np.ndarray:
        """Rate of each flow when alone on its path: its slowest capacity resource (``inf``
        for a flow that crosses no link)."""
        if self._bottleneck is None:
            out = np.full(self.n, np.inf)
            has = self.hops > 0
            if has.any():
                out[has] = np.minimum.reduceat(self.topology.capacity_Bps[self.res], self.ptr[:-1][has])
            out.setflags(write=False)
            self._bottleneck = out
        return self._bottleneck

    @property
    def nentries(self) -> int:
        """Number of (flow, link crossed) entries: the sum of the flows' hop counts."""
        return int(self.links.size)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"FlowPattern({self.n} flows, {self.links.size} link crossings)"
