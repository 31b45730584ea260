"""Topologies: undirected networkx graphs of hosts and switches whose edges carry LinkSpecs.

Every undirected edge ``{u, v}`` is two directed links, ``"u->v"`` and ``"v->u"``, each with the
edge's full bandwidth (full duplex). A ``LinkSpec`` with ``duplex=False`` makes both directions
share one capacity (one *resource* for the flow model). Directed link ids are ``2k`` (``u->v``)
and ``2k+1`` (``v->u``) for the k-th edge in the graph's edge order.

Routing is shortest path by hop count. Among equal-cost next hops the choice is deterministic
and spread ECMP-style: a stable CRC-32 of ``(src, dst)`` picks the candidate (neighbours in node
order), so on a leaf-spine different pairs use different spines while every run routes alike.

This module is the graph and its routing; the builders (ring, switch, torus, leaf-spine ...)
and their registry :data:`~simulator.network.builders.TOPOLOGIES` live in
:mod:`simulator.network.builders`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from hwmodels import LinkSpec, SpecError
from hwmodels.checks import is_int

__all__ = ["Topology", "HOST", "SWITCH"]

HOST = "host"
SWITCH = "switch"
_KINDS = (HOST, SWITCH)
_DIST_CACHE_BYTES = 256 * 2**20   # distance rows kept per topology before the cache is reset
_PAIR_CACHE_MAX = 1_000_000       # cached (src, dst) paths before the cache is reset


class Topology:
    """Hosts, switches and links, with cached shortest-path routing.

    Build one from a graph (:meth:`from_graph`), by name (:func:`~simulator.network.build_topology`)
    or with a builder (:mod:`simulator.network.builders`; the classmethods :meth:`ring`,
    :meth:`switch`, :meth:`fully_connected`, :meth:`torus2d`, :meth:`leaf_spine` and
    :meth:`hierarchical` forward to them).

    Attributes
    ----------
    graph: the undirected graph (node attribute ``kind``, edge attribute ``link``).
    hosts: host names, in rank order (index = host index used by the flow network).
    nodes: every node name; node ids index this list.
    link_names: directed link names ``"u->v"``, by directed link id.
    capacity_Bps, latency_s, energy_per_bit_J: per directed link id (bytes/s, s, J/bit).
    resource_of_link: the capacity constraint each directed link belongs to (itself unless
        its LinkSpec is half duplex).
    """

    def __init__(self, graph: nx.Graph, *, name: str = "custom") -> None:
        self.name = name
        self.graph = graph
        self.nodes: list[str] = [str(n) for n in graph.nodes]
        self._node_id = {n: i for i, n in enumerate(self.nodes)}
        kinds = [graph.nodes[n].get("kind", HOST) for n in graph.nodes]
        self.is_host = np.array([k == HOST for k in kinds], dtype=bool)
        self.hosts: list[str] = [n for n, k in zip(self.nodes, kinds) if k == HOST]
        self.host_nodes = np.flatnonzero(self.is_host).astype(np.int64)
        self._host_id = {n: i for i, n in enumerate(self.hosts)}
        self.host_names = np.array(self.hosts, dtype=object)

        names: list[str] = []
        cap, lat, epb, res = [], [], [], []
        tails, heads = [], []
        for k, (u, v, data) in enumerate(graph.edges(data=True)):
            link: LinkSpec = data["link"]
            iu, iv = self._node_id[str(u)], self._node_id[str(v)]
            for a, b, ia, ib in ((u, v, iu, iv), (v, u, iv, iu)):
                names.append(f"{a}->{b}")
                cap.append(link.bandwidth_Bps)
                lat.append(link.latency_s)
                epb.append(link.energy_per_bit_J)
                tails.append(ia)
                heads.append(ib)
            res.extend((2 * k, 2 * k + 1) if link.duplex else (2 * k, 2 * k))
        self.link_names: list[str] = names
        self._link_id = {n: i for i, n in enumerate(names)}
        self.capacity_Bps = np.array(cap, dtype=float)
        self.latency_s = np.array(lat, dtype=float)
        self.energy_per_bit_J = np.array(epb, dtype=float)
        self.resource_of_link = np.array(res, dtype=np.int64)
        self.link_tail = np.array(tails, dtype=np.int64)
        self.link_head = np.array(heads, dtype=np.int64)
        for arr in (self.capacity_Bps, self.latency_s, self.energy_per_bit_J, self.resource_of_link,
                    self.link_tail, self.link_head, self.is_host, self.host_nodes):
            arr.setflags(write=False)

        # Adjacency in CSR form, neighbours of a node in node-id order, with the directed link id.
        order = np.lexsort((self.link_head, self.link_tail))
        self._adj_nbr = self.link_head[order]
        self._adj_link = order.astype(np.int64)
        self._adj_ptr = np.searchsorted(self.link_tail[order], np.arange(len(self.nodes) + 1))
        n = len(self.nodes)
        self._csgraph = sp.csr_matrix((np.ones(len(order)), (self.link_tail, self.link_head)), shape=(n, n))
        self._dist_dtype = np.int16 if n < 2**15 else np.int32
        self._dist: dict[int, np.ndarray] = {}
        self._paths: dict[tuple[int, int], np.ndarray] = {}

    # ------------------------------------------------------------------ lookups
    @property
    def num_hosts(self) -> int:
        """Number of hosts."""
        return len(self.hosts)

    @property
    def num_links(self) -> int:
        """Number of directed links (twice the number of edges)."""
        return len(self.link_names)

    def link_id(self, name: str) -> int:
        """The id of directed link ``"u->v"``."""
        try:
            return self._link_id[name]
        except KeyError:
            raise SpecError(f"unknown link {name!r}") from None

    def host_index(self, name: str | int | np.integer) -> int:
        """Rank of a host (its index in :attr:`hosts`); ints pass through after a range check."""
        if is_int(name):
            if not 0 <= int(name) < len(self.hosts):
                raise SpecError(f"host index {int(name)} out of range: the topology has {len(self.hosts)} hosts")
            return int(name)
        idx = self._host_id.get(name)  # type: ignore[arg-type]
        if idx is None:
            if name in self._node_id:
                raise SpecError(f"{name!r} is a switch: flows start and end at hosts")
            raise SpecError(f"unknown node {name!r}")
        return idx

    def host_indices(self, names: str | int | Sequence[str | int] | np.ndarray) -> np.ndarray:
        """Host ranks of a sequence of names or ints (an int array passes through, range-checked)."""
        arr = np.asarray(names)
        if arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False).reshape(-1)
            if arr.size and (arr.min() < 0 or arr.max() >= len(self.hosts)):
                bad = arr[(arr < 0) | (arr >= len(self.hosts))][0]
                raise SpecError(f"host index {int(bad)} out of range: the topology has {len(self.hosts)} hosts")
            return arr
        return np.fromiter((self.host_index(n if not isinstance(n, np.str_) else str(n)) for n in arr.reshape(-1)),
                           dtype=np.int64, count=arr.size)

    # ------------------------------------------------------------------ routing
    def path(self, src: str | int, dst: str | int) -> np.ndarray:
        """Directed link ids from host ``src`` to host ``dst`` (empty when equal). Cached."""
        s = int(self.host_nodes[self.host_index(src)])
        d = int(self.host_nodes[self.host_index(dst)])
        return self._node_path(s, d)

    def path_links(self, src: str | int, dst: str | int) -> list[str]:
        """The path as directed link names."""
        return [self.link_names[i] for i in self.path(src, dst)]

    def path_latency_s(self, src: str | int, dst: str | int) -> float:
        """Sum of the link latencies on the path (s)."""
        return float(self.latency_s[self.path(src, dst)].sum())

    def bottleneck_Bps(self, src: str | int, dst: str | int) -> float:
        """Smallest link bandwidth on the path (bytes/s; ``inf`` when ``src == dst``)."""
        p = self.path(src, dst)
        return float(self.capacity_Bps[p].min()) if p.size else math.inf

    def paths(self, src_hosts: np.ndarray, dst_hosts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Paths of many (src, dst) host-index pairs as CSR: ``(ptr, links)``.

        Flow ``i`` crosses ``links[ptr[i]:ptr[i+1]]``.
        """
        src_nodes = self.host_nodes[np.asarray(src_hosts, dtype=np.int64)]
        dst_nodes = self.host_nodes[np.asarray(dst_hosts, dtype=np.int64)]
        n = len(self.nodes)
        uniq, inverse = np.unique(src_nodes * n + dst_nodes, return_inverse=True)
        pairs = [(k // n, k % n) for k in uniq.tolist()]
        todo = [pair for pair in pairs if pair not in self._paths]
        if todo:  # fetch the distance rows the new routes need in a few vectorised calls
            cores = [self._strip(s, d) for s, d in todo]
            self._ensure_dist(sorted({c[2] for c in cores if c[1] != c[2] and self._adjacent(c[1], c[2]) < 0}))
        upaths = [self._node_path(s, d) for s, d in pairs]
        lengths = np.fromiter((p.size for p in upaths), dtype=np.int64, count=len(upaths))[inverse]
        ptr = np.zeros(inverse.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        if not upaths:
            return ptr, np.zeros(0, dtype=np.int64)
        links = np.concatenate([upaths[i] for i in inverse.tolist()])
        return ptr, links.astype(np.int64, copy=False)

    def _ensure_dist(self, dst_nodes: list[int]) -> None:
        missing = [d for d in dst_nodes if d not in self._dist]
        if not missing:
            return
        row_bytes = len(self.nodes) * np.dtype(self._dist_dtype).itemsize
        if (len(self._dist) + len(missing)) * row_bytes > _DIST_CACHE_BYTES:
            self._dist.clear()
        for start in range(0, len(missing), 256):
            chunk = missing[start:start + 256]
            dist = np.atleast_2d(shortest_path(self._csgraph, directed=False, unweighted=True, indices=chunk))
            dist[~np.isfinite(dist)] = -1
            for d, row in zip(chunk, dist):
                self._dist[d] = row.astype(self._dist_dtype)

    def _adjacent(self, u: int, v: int) -> int:
        """The directed link id u->v, or -1 when u and v are not neighbours."""
        lo, hi = self._adj_ptr[u], self._adj_ptr[u + 1]
        k = lo + int(np.searchsorted(self._adj_nbr[lo:hi], v))
        return int(self._adj_link[k]) if k < hi and self._adj_nbr[k] == v else -1

    def _strip(self, s: int, d: int) -> tuple[list[int], int, int, list[int]]:
        """Peel degree-1 endpoints (a host on its one switch), whose first or last hop is forced.

        One hop per side is enough: a degree-1 node whose neighbour also has degree 1 is a
        two-node component, and the distance check of the core finds it if ``d`` is elsewhere.
        Returns (prefix links, core source, core destination, suffix links).
        """
        prefix: list[int] = []
        suffix: list[int] = []
        ptr = self._adj_ptr
        if s != d and ptr[s + 1] - ptr[s] == 1:
            prefix.append(int(self._adj_link[ptr[s]]))
            s = int(self._adj_nbr[ptr[s]])
        if s != d and ptr[d + 1] - ptr[d] == 1:
            nbr = int(self._adj_nbr[ptr[d]])
            suffix.append(self._adjacent(nbr, d))
            d = nbr
        return prefix, s, d, suffix

    def _node_path(self, s: int, d: int) -> np.ndarray:
        """Shortest path by hops from node s to node d, ECMP ties broken by CRC-32 of the names."""
        cached = self._paths.get((s, d))
        if cached is not None:
            return cached
        prefix, cs, cd, suffix = self._strip(s, d)
        core: list[int] = []
        if cs != cd:
            direct = self._adjacent(cs, cd)
            if direct >= 0:
                core = [direct]
            else:
                if cd not in self._dist:
                    self._ensure_dist([cd])
                dist = self._dist[cd]
                hops = int(dist[cs])
                if hops < 0:
                    raise SpecError(f"no route from {self.nodes[s]!r} to {self.nodes[d]!r}: they are not connected")
                h = zlib.crc32(f"{self.nodes[s]}\x00{self.nodes[d]}".encode())
                cur = cs
                for i in range(hops):
                    lo, hi = self._adj_ptr[cur], self._adj_ptr[cur + 1]
                    nbrs = self._adj_nbr[lo:hi]
                    cand = np.flatnonzero(dist[nbrs] == hops - 1 - i)
                    if cand.size > 1:
                        pick = int(cand[h % cand.size])
                        h //= int(cand.size)
                    else:
                        pick = int(cand[0])
                    core.append(int(self._adj_link[lo + pick]))
                    cur = int(nbrs[pick])
        path = np.array(prefix + core + suffix, dtype=np.int64)
        path.setflags(write=False)
        if len(self._paths) >= _PAIR_CACHE_MAX:
            self._paths.clear()
        self._paths[(s, d)] = path
        return path

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_graph(cls, graph: nx.Graph, link: LinkSpec | None = None, *, name: str = "custom") -> Topology:
        """A topology from any undirected graph.

        Nodes may carry ``kind`` ("host", the default, or "switch"); edges carry ``link``
        (a :class:`LinkSpec`), or get ``link`` when they have none. The graph is copied,
        with node names turned into strings.
        """
        if not isinstance(graph, nx.Graph) or graph.is_directed():
            raise SpecError("topology graph must be an undirected networkx.Graph")
        if graph.is_multigraph():
            raise SpecError("topology graph must not be a multigraph: give one edge per node pair")
        g = nx.Graph()
        seen: dict[str, Any] = {}
        for node, data in graph.nodes(data=True):
            key = str(node)
            if key in seen:
                raise SpecError(f"nodes {seen[key]!r} and {node!r} have the same name {key!r}")
            seen[key] = node
            kind = data.get("kind", HOST)
            if kind not in _KINDS:
                raise SpecError(f"node {key!r}: kind must be 'host' or 'switch', got {kind!r}")
            g.add_node(key, kind=kind)
        for u, v, data in graph.edges(data=True):
            if u == v:
                raise SpecError(f"edge {u!r}-{v!r} is a self-loop")
            spec = data.get("link", link)
            if spec is None:
                raise SpecError(f"edge {u!r}-{v!r} has no 'link' attribute and no default link was given")
            if not isinstance(spec, LinkSpec):
                raise SpecError(f"edge {u!r}-{v!r}: 'link' must be a LinkSpec, got {type(spec).__name__}")
            g.add_edge(str(u), str(v), link=spec)
        return cls(g, name=name)

    # ------------------------------------------------------------------ builder entry points
    # The builders live in :mod:`simulator.network.builders` (imported here on call: it imports
    # this module); these classmethods only forward to them.
    @classmethod
    def ring(cls, p: int, link: LinkSpec) -> Topology:
        """``p`` hosts in a ring: :func:`simulator.network.builders.ring`."""
        from .builders import ring  # noqa: PLC0415
        return ring(p, link)

    @classmethod
    def switch(cls, p: int, link: LinkSpec) -> Topology:
        """``p`` hosts on one switch: :func:`simulator.network.builders.switch`."""
        from .builders import switch  # noqa: PLC0415
        return switch(p, link)

    @classmethod
    def fully_connected(cls, p: int, link: LinkSpec) -> Topology:
        """A link between every pair of ``p`` hosts: :func:`simulator.network.builders.fully_connected`."""
        from .builders import fully_connected  # noqa: PLC0415
        return fully_connected(p, link)

    @classmethod
    def torus2d(cls, rows: int, cols: int, link: LinkSpec) -> Topology:
        """A ``rows x cols`` 2-D torus: :func:`simulator.network.builders.torus2d`."""
        from .builders import torus2d  # noqa: PLC0415
        return torus2d(rows, cols, link)

    @classmethod
    def leaf_spine(cls, hosts_per_leaf: int, leaves: int, spines: int, host_link: LinkSpec,
                   spine_link: LinkSpec | None = None, oversubscription: float = 1.0) -> Topology:
        """A two-level fat tree: :func:`simulator.network.builders.leaf_spine`."""
        from .builders import leaf_spine  # noqa: PLC0415
        return leaf_spine(hosts_per_leaf, leaves, spines, host_link, spine_link, oversubscription)

    @classmethod
    def hierarchical(cls, gpus_per_node: int, nodes: int, intra_link: LinkSpec, inter_link: LinkSpec) -> Topology:
        """``nodes`` servers of ``gpus_per_node`` hosts: :func:`simulator.network.builders.hierarchical`."""
        from .builders import hierarchical  # noqa: PLC0415
        return hierarchical(gpus_per_node, nodes, intra_link, inter_link)

    def __repr__(self) -> str:
        return (f"Topology({self.name!r}, {len(self.hosts)} hosts, {len(self.nodes) - len(self.hosts)} switches, "
                f"{self.graph.number_of_edges()} links)")

