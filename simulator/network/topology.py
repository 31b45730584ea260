"""Topologies: undirected networkx graphs of hosts and switches whose edges carry LinkSpecs.

Every undirected edge ``{u, v}`` is two directed links, ``"u->v"`` and ``"v->u"``, each with the
edge's full bandwidth (full duplex). A ``LinkSpec`` with ``duplex=False`` makes both directions
share one capacity (one *resource* for the flow model). Directed link ids are ``2k`` (``u->v``)
and ``2k+1`` (``v->u``) for the k-th edge in the graph's edge order.

Routing is shortest path by hop count. Among equal-cost next hops the choice is deterministic
and spread ECMP-style: a stable CRC-32 of ``(src, dst)`` picks the candidate (neighbours in node
order), so on a leaf-spine different pairs use different spines while every run routes alike.

Builders name hosts ``"h0" .. "h{p-1}"`` in rank order; switches are ``"sw"``, ``"leaf0"`` ...,
``"spine0"`` .... :data:`TOPOLOGIES` maps a name to a builder ``(p, link, **kw) -> Topology``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from hwmodels import LinkSpec, SpecError

from ..registry import registrar

__all__ = ["Topology", "TOPOLOGIES", "register_topology", "build_topology", "HOST", "SWITCH"]

HOST = "host"
SWITCH = "switch"
_KINDS = (HOST, SWITCH)
_DIST_CACHE_BYTES = 256 * 2**20   # distance rows kept per topology before the cache is reset
_PAIR_CACHE_MAX = 1_000_000       # cached (src, dst) paths before the cache is reset


class Topology:
    """Hosts, switches and links, with cached shortest-path routing.

    Build one with a classmethod (:meth:`ring`, :meth:`switch`, :meth:`fully_connected`,
    :meth:`torus2d`, :meth:`leaf_spine`, :meth:`from_graph`) or :func:`build_topology`.

    Attributes
    ----------
    graph: the undirected graph (node attribute ``kind``, edge attribute ``link``).
    hosts: host names, in rank order (index = host index used by the flow network).
    nodes: every node name; node ids index this list.
    link_names: directed link names ``"u->v"``, by directed link id.
    capacity_Bps, latency_s, energy_per_bit_J: per directed link id.
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
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if not 0 <= int(name) < len(self.hosts):
                raise SpecError(f"host index {int(name)} out of range: the topology has {len(self.hosts)} hosts")
            return int(name)
        idx = self._host_id.get(name)  # type: ignore[arg-type]
        if idx is None:
            if name in self._node_id:
                raise SpecError(f"{name!r} is a switch: flows start and end at hosts")
            raise SpecError(f"unknown node {name!r}")
        return idx

    def host_indices(self, names: Any) -> np.ndarray:
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
        """Sum of the link latencies on the path."""
        return float(self.latency_s[self.path(src, dst)].sum())

    def bottleneck_Bps(self, src: str | int, dst: str | int) -> float:
        """Smallest link bandwidth on the path (``inf`` when ``src == dst``)."""
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

    @classmethod
    def ring(cls, p: int, link: LinkSpec) -> Topology:
        """``p`` hosts in a bidirectional ring: ``p`` links (one for ``p = 2``, none for 1)."""
        p = _count("p", p)
        g = _hosts(p)
        for i in range(p):
            if p > 1 and (i + 1) % p != i:
                g.add_edge(f"h{i}", f"h{(i + 1) % p}", link=link)
        return cls(g, name="ring")

    @classmethod
    def switch(cls, p: int, link: LinkSpec) -> Topology:
        """A star: ``p`` hosts on one switch ``"sw"`` (``p`` links)."""
        p = _count("p", p)
        g = _hosts(p)
        g.add_node("sw", kind=SWITCH)
        for i in range(p):
            g.add_edge(f"h{i}", "sw", link=link)
        return cls(g, name="switch")

    @classmethod
    def fully_connected(cls, p: int, link: LinkSpec) -> Topology:
        """A link between every pair of ``p`` hosts: ``p(p-1)/2`` links."""
        p = _count("p", p)
        g = _hosts(p)
        for i in range(p):
            for j in range(i + 1, p):
                g.add_edge(f"h{i}", f"h{j}", link=link)
        return cls(g, name="fully-connected")

    @classmethod
    def torus2d(cls, rows: int, cols: int, link: LinkSpec) -> Topology:
        """A ``rows x cols`` 2-D torus; host ``h{r*cols+c}`` sits at row r, column c.

        ``2 rows cols`` links when both sides exceed 2 (a side of 2 has no separate wrap link,
        a side of 1 none at all).
        """
        rows, cols = _count("rows", rows), _count("cols", cols)
        g = _hosts(rows * cols)
        for r in range(rows):
            for c in range(cols):
                here = f"h{r * cols + c}"
                right = f"h{r * cols + (c + 1) % cols}"
                down = f"h{((r + 1) % rows) * cols + c}"
                if right != here:
                    g.add_edge(here, right, link=link)
                if down != here:
                    g.add_edge(here, down, link=link)
        return cls(g, name="torus2d")

    @classmethod
    def leaf_spine(cls, hosts_per_leaf: int, leaves: int, spines: int, host_link: LinkSpec,
                   spine_link: LinkSpec | None = None, oversubscription: float = 1.0) -> Topology:
        """Two-level fat tree: ``leaves`` leaf switches of ``hosts_per_leaf`` hosts, each leaf
        linked to every one of ``spines`` spine switches.

        Without ``spine_link`` the uplinks get ``hosts_per_leaf * host bandwidth /
        (spines * oversubscription)`` each (latency and energy of ``host_link``), so a leaf's
        uplink capacity is its hosts' capacity divided by ``oversubscription``.
        """
        hpl, leaves, spines = _count("hosts_per_leaf", hosts_per_leaf), _count("leaves", leaves), _count("spines", spines)
        if isinstance(oversubscription, bool) or not isinstance(oversubscription, (int, float)) \
                or not math.isfinite(oversubscription) or oversubscription <= 0:
            raise SpecError(f"leaf-spine: oversubscription must be a positive number, got {oversubscription!r}")
        if spine_link is None:
            spine_link = LinkSpec(name=f"{host_link.name}-uplink",
                                  bandwidth_Bps=hpl * host_link.bandwidth_Bps / (spines * oversubscription),
                                  latency_s=host_link.latency_s, energy_per_bit_J=host_link.energy_per_bit_J,
                                  duplex=host_link.duplex)
        elif oversubscription != 1.0:
            raise SpecError("leaf-spine: give either spine_link or oversubscription, not both")
        g = _hosts(hpl * leaves)
        for leaf in range(leaves):
            g.add_node(f"leaf{leaf}", kind=SWITCH)
        for spine in range(spines):
            g.add_node(f"spine{spine}", kind=SWITCH)
        for i in range(hpl * leaves):
            g.add_edge(f"h{i}", f"leaf{i // hpl}", link=host_link)
        for leaf in range(leaves):
            for spine in range(spines):
                g.add_edge(f"leaf{leaf}", f"spine{spine}", link=spine_link)
        return cls(g, name="leaf-spine")

    @classmethod
    def hierarchical(cls, gpus_per_node: int, nodes: int, intra_link: LinkSpec, inter_link: LinkSpec) -> Topology:
        """``nodes`` servers of ``gpus_per_node`` hosts (a DGX-style machine): the hosts of a node
        share a node switch ``"nvs{n}"`` over ``intra_link`` (NVLink through NVSwitch), and every
        node switch reaches a non-blocking core switch ``"core"`` over one uplink of
        ``gpus_per_node`` times ``inter_link``'s bandwidth (one NIC per GPU, InfiniBand or
        Ethernet, aggregated), with ``inter_link``'s latency and energy per bit. Host ``h{n*g+i}`` is
        GPU i of node n: a message inside a node crosses two NVLink hops, one between nodes
        NVLink, uplink, uplink, NVLink."""
        g_, n_ = _count("gpus_per_node", gpus_per_node), _count("nodes", nodes)
        uplink = LinkSpec(name=f"{inter_link.name}-x{g_}", bandwidth_Bps=g_ * inter_link.bandwidth_Bps,
                          latency_s=inter_link.latency_s, energy_per_bit_J=inter_link.energy_per_bit_J,
                          duplex=inter_link.duplex)
        g = _hosts(g_ * n_)
        if n_ > 1:
            g.add_node("core", kind=SWITCH)
        for n in range(n_):
            g.add_node(f"nvs{n}", kind=SWITCH)
            for i in range(g_):
                g.add_edge(f"h{n * g_ + i}", f"nvs{n}", link=intra_link)
            if n_ > 1:
                g.add_edge(f"nvs{n}", "core", link=uplink)
        return cls(g, name="hierarchical")

    def __repr__(self) -> str:
        return (f"Topology({self.name!r}, {len(self.hosts)} hosts, {len(self.nodes) - len(self.hosts)} switches, "
                f"{self.graph.number_of_edges()} links)")


def _count(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SpecError(f"topology: {field} must be a positive integer, got {value!r}")
    return int(value)


def _hosts(p: int) -> nx.Graph:
    g = nx.Graph()
    for i in range(p):
        g.add_node(f"h{i}", kind=HOST)
    return g


# ---------------------------------------------------------------------- registry
Builder = Callable[..., Topology]
TOPOLOGIES: dict[str, Builder] = {}


# register_topology(name) decorates ``builder(p, link, **kw) -> Topology``
register_topology = registrar(TOPOLOGIES, "topology")


def build_topology(name: str, p: int, link: LinkSpec, **kw: Any) -> Topology:
    """Build the registered topology ``name`` with ``p`` hosts (extra options by keyword)."""
    builder = TOPOLOGIES.get(name)
    if builder is None:
        raise SpecError(f"unknown topology {name!r}; known: {', '.join(sorted(TOPOLOGIES))}")
    try:
        return builder(p, link, **kw)
    except TypeError as exc:  # an unexpected keyword
        raise SpecError(f"topology {name!r}: {exc}") from None


def _most_square(p: int) -> tuple[int, int]:
    """(r, c) with r * c == p, r <= c and r as large as possible."""
    r = int(math.isqrt(p))
    while p % r:
        r -= 1
    return r, p // r


@register_topology("ring")
def _ring(p: int, link: LinkSpec) -> Topology:
    return Topology.ring(p, link)


@register_topology("switch")
def _switch(p: int, link: LinkSpec) -> Topology:
    return Topology.switch(p, link)


@register_topology("fully-connected")
def _fully_connected(p: int, link: LinkSpec) -> Topology:
    return Topology.fully_connected(p, link)


def _factor_pair(p: int, a: int | None, b: int | None, who: str, what: str) -> tuple[int, int]:
    """Complete ``a x b == p``: the most square split when both are missing."""
    if a is None and b is None:
        return _most_square(p)
    if a is None:
        a = p // b  # type: ignore[operator]
    elif b is None:
        b = p // a
    if a * b != p:  # type: ignore[operator]
        raise SpecError(f"{who}: {what} = {a} x {b} does not give p = {p} hosts")
    return a, b  # type: ignore[return-value]


@register_topology("torus2d")
def _torus2d(p: int, link: LinkSpec, rows: int | None = None, cols: int | None = None) -> Topology:
    rows, cols = _factor_pair(_count("p", p), rows, cols, "torus2d", "rows x cols")
    return Topology.torus2d(rows, cols, link)  # type: ignore[arg-type]


@register_topology("leaf-spine")
def _leaf_spine(p: int, link: LinkSpec, hosts_per_leaf: int | None = None, leaves: int | None = None,
                spines: int | None = None, spine_link: LinkSpec | None = None, oversubscription: float = 1.0) -> Topology:
    """Default split: the most square ``leaves x hosts_per_leaf`` and half as many spines as leaves."""
    leaves, hosts_per_leaf = _factor_pair(_count("p", p), leaves, hosts_per_leaf, "leaf-spine", "leaves x hosts_per_leaf")
    if spines is None:
        spines = max(1, leaves // 2)  # type: ignore[operator]
    return Topology.leaf_spine(hosts_per_leaf, leaves, spines, link, spine_link, oversubscription)  # type: ignore[arg-type]


@register_topology("hierarchical")
def _hierarchical(p: int, link: LinkSpec, inter_link: LinkSpec | None = None, gpus_per_node: int = 8) -> Topology:
    """``p`` hosts in nodes of ``gpus_per_node`` (``link`` inside a node, ``inter_link`` between)."""
    g = _count("gpus_per_node", gpus_per_node)
    if inter_link is None:
        raise SpecError("topology 'hierarchical': give inter_link (the link between nodes, e.g. ib-hdr)")
    if _count("p", p) % g:
        raise SpecError(f"topology 'hierarchical': {p} hosts do not fill nodes of gpus_per_node = {g}")
    return Topology.hierarchical(g, p // g, link, inter_link)
