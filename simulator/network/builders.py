"""The topology builders, each defined once, and :data:`TOPOLOGIES`, the table of them by name.

Shape builders take the shape (:func:`ring`, :func:`switch`, :func:`fully_connected` take the
host count ``p``; :func:`torus2d` rows and columns; :func:`leaf_spine` hosts per leaf, leaves and
spines; :func:`hierarchical` GPUs per node and nodes). :data:`TOPOLOGIES` maps a name to a
builder ``(p, link, **options) -> Topology`` that completes a shape from the host count ``p``
(the most square split when none is given); :func:`build_topology` checks the options against
the builder's signature, then calls it. Hosts are ``"h0" .. "h{p-1}"`` in rank order; switches
are ``"sw"``, ``"leaf0"`` ..., ``"spine0"`` ..., ``"nvs0"`` ..., ``"core"``.

Every link argument is a :class:`~hwmodels.LinkSpec` (bandwidth in bytes per second, latency in
seconds, energy in joules per bit).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import networkx as nx

from hwmodels import LinkSpec, SpecError
from hwmodels.checks import is_int, is_number
from hwmodels.registry import Registry, bind_params

from .topology import HOST, SWITCH, Topology

__all__ = ["TOPOLOGIES", "Builder", "build_topology", "count", "host_graph", "ring", "switch", "fully_connected",
           "torus2d", "leaf_spine", "hierarchical"]

Builder = Callable[..., Topology]
# name -> builder (p, link, **options); registered in alphabetical order, so that the known names
# read sorted in messages (the loopback registers when simulator.network.loopback is imported)
TOPOLOGIES: Registry[Builder] = Registry("topology")


def build_topology(name: str, p: int, link: LinkSpec, **options: object) -> Topology:
    """Build the registered topology ``name`` with ``p`` hosts and ``link`` (extra options by
    keyword, checked against the builder's parameters first)."""
    builder = TOPOLOGIES.get(name)
    bind_params(builder, options, f"topology {name!r}", given=("p", "link"))
    return builder(p, link, **options)


def count(field: str, value: object) -> int:
    """``value`` as a positive int, or a SpecError naming ``field``."""
    if not is_int(value) or value < 1:  # type: ignore[operator]
        raise SpecError(f"topology: {field} must be a positive integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def host_graph(p: int) -> nx.Graph:
    """A graph of ``p`` hosts ``h0 .. h{p-1}`` and no edges."""
    g = nx.Graph()
    for i in range(p):
        g.add_node(f"h{i}", kind=HOST)
    return g


# ---------------------------------------------------------------------- shapes
def ring(p: int, link: LinkSpec) -> Topology:
    """``p`` hosts in a bidirectional ring: ``p`` links (one for ``p = 2``, none for 1)."""
    p = count("p", p)
    g = host_graph(p)
    for i in range(p):
        if p > 1 and (i + 1) % p != i:
            g.add_edge(f"h{i}", f"h{(i + 1) % p}", link=link)
    return Topology(g, name="ring")


def switch(p: int, link: LinkSpec) -> Topology:
    """A star: ``p`` hosts on one switch ``"sw"`` (``p`` links)."""
    p = count("p", p)
    g = host_graph(p)
    g.add_node("sw", kind=SWITCH)
    for i in range(p):
        g.add_edge(f"h{i}", "sw", link=link)
    return Topology(g, name="switch")


def fully_connected(p: int, link: LinkSpec) -> Topology:
    """A link between every pair of ``p`` hosts: ``p(p-1)/2`` links."""
    p = count("p", p)
    g = host_graph(p)
    for i in range(p):
        for j in range(i + 1, p):
            g.add_edge(f"h{i}", f"h{j}", link=link)
    return Topology(g, name="fully-connected")


def torus2d(rows: int, cols: int, link: LinkSpec) -> Topology:
    """A ``rows x cols`` 2-D torus; host ``h{r*cols+c}`` sits at row r, column c.

    ``2 rows cols`` links when both sides exceed 2 (a side of 2 has no separate wrap link,
    a side of 1 none at all).
    """
    rows, cols = count("rows", rows), count("cols", cols)
    g = host_graph(rows * cols)
    for r in range(rows):
        for c in range(cols):
            here = f"h{r * cols + c}"
            right = f"h{r * cols + (c + 1) % cols}"
            down = f"h{((r + 1) % rows) * cols + c}"
            if right != here:
                g.add_edge(here, right, link=link)
            if down != here:
                g.add_edge(here, down, link=link)
    return Topology(g, name="torus2d")


def leaf_spine(hosts_per_leaf: int, leaves: int, spines: int, host_link: LinkSpec,
               spine_link: LinkSpec | None = None, oversubscription: float = 1.0) -> Topology:
    """Two-level fat tree: ``leaves`` leaf switches of ``hosts_per_leaf`` hosts, each leaf
    linked to every one of ``spines`` spine switches.

    Without ``spine_link`` the uplinks get ``hosts_per_leaf * host bandwidth /
    (spines * oversubscription)`` bytes per second each (latency and energy of ``host_link``),
    so a leaf's uplink capacity is its hosts' capacity divided by ``oversubscription``.
    """
    hpl, leaves, spines = count("hosts_per_leaf", hosts_per_leaf), count("leaves", leaves), count("spines", spines)
    if not is_number(oversubscription) or oversubscription <= 0:
        raise SpecError(f"leaf-spine: oversubscription must be a positive number, got {oversubscription!r}")
    if spine_link is None:
        spine_link = LinkSpec(name=f"{host_link.name}-uplink",
                              bandwidth_Bps=hpl * host_link.bandwidth_Bps / (spines * oversubscription),
                              latency_s=host_link.latency_s, energy_per_bit_J=host_link.energy_per_bit_J,
                              duplex=host_link.duplex)
    elif oversubscription != 1.0:
        raise SpecError("leaf-spine: give either spine_link or oversubscription, not both")
    g = host_graph(hpl * leaves)
    for leaf in range(leaves):
        g.add_node(f"leaf{leaf}", kind=SWITCH)
    for spine in range(spines):
        g.add_node(f"spine{spine}", kind=SWITCH)
    for i in range(hpl * leaves):
        g.add_edge(f"h{i}", f"leaf{i // hpl}", link=host_link)
    for leaf in range(leaves):
        for spine in range(spines):
            g.add_edge(f"leaf{leaf}", f"spine{spine}", link=spine_link)
    return Topology(g, name="leaf-spine")


def hierarchical(gpus_per_node: int, nodes: int, intra_link: LinkSpec, inter_link: LinkSpec) -> Topology:
    """``nodes`` servers of ``gpus_per_node`` hosts (a DGX-style machine): the hosts of a node
    share a node switch ``"nvs{n}"`` over ``intra_link`` (NVLink through NVSwitch), and every
    node switch reaches a non-blocking core switch ``"core"`` over one uplink of
    ``gpus_per_node`` times ``inter_link``'s bandwidth (one NIC per GPU, InfiniBand or
    Ethernet, aggregated), with ``inter_link``'s latency and energy per bit. Host ``h{n*g+i}`` is
    GPU i of node n: a message inside a node crosses two NVLink hops, one between nodes
    NVLink, uplink, uplink, NVLink."""
    g_, n_ = count("gpus_per_node", gpus_per_node), count("nodes", nodes)
    uplink = LinkSpec(name=f"{inter_link.name}-x{g_}", bandwidth_Bps=g_ * inter_link.bandwidth_Bps,
                      latency_s=inter_link.latency_s, energy_per_bit_J=inter_link.energy_per_bit_J,
                      duplex=inter_link.duplex)
    g = host_graph(g_ * n_)
    if n_ > 1:
        g.add_node("core", kind=SWITCH)
    for n in range(n_):
        g.add_node(f"nvs{n}", kind=SWITCH)
        for i in range(g_):
            g.add_edge(f"h{n * g_ + i}", f"nvs{n}", link=intra_link)
        if n_ > 1:
            g.add_edge(f"nvs{n}", "core", link=uplink)
    return Topology(g, name="hierarchical")


# ---------------------------------------------------------------------- by host count
def _most_square(p: int) -> tuple[int, int]:
    """(r, c) with r * c == p, r <= c and r as large as possible."""
    r = int(math.isqrt(p))
    while p % r:
        r -= 1
    return r, p // r


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


TOPOLOGIES.add("fully-connected", fully_connected)


@TOPOLOGIES.register("hierarchical")
def _hierarchical(p: int, link: LinkSpec, inter_link: LinkSpec | None = None, gpus_per_node: int = 8) -> Topology:
    """``p`` hosts in nodes of ``gpus_per_node`` (``link`` inside a node, ``inter_link`` between)."""
    g = count("gpus_per_node", gpus_per_node)
    if inter_link is None:
        raise SpecError("topology 'hierarchical': give inter_link (the link between nodes, e.g. ib-hdr)")
    if count("p", p) % g:
        raise SpecError(f"topology 'hierarchical': {p} hosts do not fill nodes of gpus_per_node = {g}")
    return hierarchical(g, p // g, link, inter_link)


@TOPOLOGIES.register("leaf-spine")
def _leaf_spine(p: int, link: LinkSpec, hosts_per_leaf: int | None = None, leaves: int | None = None,
                spines: int | None = None, spine_link: LinkSpec | None = None, oversubscription: float = 1.0) -> Topology:
    """Default split: the most square ``leaves x hosts_per_leaf`` and half as many spines as leaves."""
    leaves, hosts_per_leaf = _factor_pair(count("p", p), leaves, hosts_per_leaf, "leaf-spine", "leaves x hosts_per_leaf")
    if spines is None:
        spines = max(1, leaves // 2)
    return leaf_spine(hosts_per_leaf, leaves, spines, link, spine_link, oversubscription)


TOPOLOGIES.add("ring", ring)
TOPOLOGIES.add("switch", switch)


@TOPOLOGIES.register("torus2d")
def _torus2d(p: int, link: LinkSpec, rows: int | None = None, cols: int | None = None) -> Topology:
    """The most square ``rows x cols`` torus of ``p`` hosts unless a side is given."""
    rows, cols = _factor_pair(count("p", p), rows, cols, "torus2d", "rows x cols")
    return torus2d(rows, cols, link)
