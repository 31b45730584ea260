"""Topology builders, the registry, and routing (shortest, deterministic, ECMP-spread)."""

import itertools

import networkx as nx
import numpy as np
import pytest

from hwmodels import LinkSpec, SpecError
from simulator.network import TOPOLOGIES, Topology, build_topology

L = LinkSpec("l", bandwidth_Bps=1e9, latency_s=1e-6)


def assert_valid_path(topo, src, dst):
    """The path is a walk of directed links from src to dst."""
    names = topo.path_links(src, dst)
    here = src
    for name in names:
        a, b = name.split("->")
        assert a == here
        here = b
    assert here == dst
    return names


@pytest.mark.parametrize("p", [3, 4, 7])
def test_ring_has_p_links(p):
    topo = Topology.ring(p, L)
    assert topo.graph.number_of_edges() == p and topo.num_links == 2 * p
    assert topo.hosts == [f"h{i}" for i in range(p)]


def test_small_rings():
    assert Topology.ring(2, L).graph.number_of_edges() == 1
    assert Topology.ring(1, L).graph.number_of_edges() == 0


@pytest.mark.parametrize("p", [1, 2, 5])
def test_switch_has_p_links_and_one_switch(p):
    topo = Topology.switch(p, L)
    assert topo.graph.number_of_edges() == p
    assert topo.nodes[-1] == "sw" and topo.graph.nodes["sw"]["kind"] == "switch"
    assert topo.hosts == [f"h{i}" for i in range(p)]


@pytest.mark.parametrize("p", [2, 3, 6])
def test_fully_connected_has_a_link_per_pair(p):
    assert Topology.fully_connected(p, L).graph.number_of_edges() == p * (p - 1) // 2


@pytest.mark.parametrize("r,c,links", [(3, 3, 18), (3, 4, 24), (4, 5, 40), (2, 3, 9), (1, 4, 4), (2, 2, 4), (1, 1, 0)])
def test_torus_link_counts(r, c, links):
    topo = Topology.torus2d(r, c, L)
    assert topo.graph.number_of_edges() == links
    if r > 2 and c > 2:
        assert links == 2 * r * c
        assert all(d == 4 for _, d in topo.graph.degree())


def test_torus_neighbours():
    topo = Topology.torus2d(3, 4, L)
    assert set(topo.graph.neighbors("h0")) == {"h1", "h3", "h4", "h8"}


def test_leaf_spine_structure_and_oversubscription():
    topo = Topology.leaf_spine(4, 3, 2, L, oversubscription=2.0)
    assert topo.graph.number_of_edges() == 4 * 3 + 3 * 2
    assert topo.hosts == [f"h{i}" for i in range(12)]
    assert set(topo.graph.neighbors("h5")) == {"leaf1"}
    uplink = topo.graph.edges["leaf0", "spine1"]["link"]
    # 4 hosts x 1 GB/s over 2 spines, halved by oversubscription 2.
    assert uplink.bandwidth_Bps == pytest.approx(4 * 1e9 / (2 * 2.0))
    with pytest.raises(SpecError, match="either spine_link or oversubscription"):
        Topology.leaf_spine(2, 2, 2, L, spine_link=L, oversubscription=2.0)


def test_builders_reject_bad_counts():
    with pytest.raises(SpecError, match="positive integer"):
        Topology.ring(0, L)
    with pytest.raises(SpecError, match="positive integer"):
        Topology.switch(2.5, L)


def test_registry_and_defaults():
    assert {"ring", "switch", "fully-connected", "torus2d", "leaf-spine"} <= set(TOPOLOGIES)
    torus = build_topology("torus2d", 12, L)
    assert torus.graph.number_of_edges() == 24          # most square 3 x 4
    prime = build_topology("torus2d", 7, L)
    assert prime.num_hosts == 7
    ls = build_topology("leaf-spine", 16, L)
    assert ls.num_hosts == 16 and sum(1 for n in ls.nodes if n.startswith("leaf")) == 4
    assert sum(1 for n in ls.nodes if n.startswith("spine")) == 2
    assert build_topology("leaf-spine", 12, L, hosts_per_leaf=6, spines=3).graph.number_of_edges() == 12 + 2 * 3
    with pytest.raises(SpecError, match="unknown topology 'mesh'; known: .*fully-connected.*ring"):
        build_topology("mesh", 4, L)
    with pytest.raises(SpecError, match="does not give p"):
        build_topology("torus2d", 12, L, rows=5)
    with pytest.raises(SpecError, match="topology 'ring'.*rows"):
        build_topology("ring", 4, L, rows=2)


def test_link_arrays_follow_edges_and_heterogeneous_links():
    fast = LinkSpec("fast", bandwidth_Bps=4e9, latency_s=2e-6, energy_per_bit_J=1e-12)
    g = nx.Graph()
    g.add_edge("a", "b", link=fast)
    g.add_edge("b", "c", link=L)
    topo = Topology.from_graph(g)
    assert topo.link_names == ["a->b", "b->a", "b->c", "c->b"]
    assert topo.capacity_Bps.tolist() == [4e9, 4e9, 1e9, 1e9]
    assert topo.energy_per_bit_J.tolist() == [1e-12, 1e-12, 0.0, 0.0]
    assert topo.path_latency_s("a", "c") == pytest.approx(3e-6)
    assert topo.bottleneck_Bps("a", "c") == 1e9
    assert topo.bottleneck_Bps("a", "a") == np.inf
    assert topo.path("a", "a").size == 0


def test_routing_errors():
    g = nx.Graph()
    g.add_edge("a", "b", link=L)
    g.add_node("sw", kind="switch")
    g.add_edge("b", "sw", link=L)
    g.add_node("z")
    topo = Topology.from_graph(g)
    with pytest.raises(SpecError, match="unknown node 'q'"):
        topo.path("a", "q")
    with pytest.raises(SpecError, match="'sw' is a switch"):
        topo.path("a", "sw")
    with pytest.raises(SpecError, match="no route from 'a' to 'z'"):
        topo.path("a", "z")
    with pytest.raises(SpecError, match="no 'link'"):
        Topology.from_graph(nx.Graph([("a", "b")]))
    bad = nx.Graph()
    bad.add_node("a", kind="router")
    with pytest.raises(SpecError, match="kind must be"):
        Topology.from_graph(bad, L)


def test_two_node_components_are_disconnected_not_looped():
    g = nx.Graph([("a", "b"), ("c", "d")])
    topo = Topology.from_graph(g, L)
    assert topo.path_links("a", "b") == ["a->b"]
    with pytest.raises(SpecError, match="no route from 'a' to 'c'"):
        topo.path("a", "c")
    with pytest.raises(SpecError, match="no route from 'b' to 'd'"):
        topo.paths(np.array([1]), np.array([3]))


def random_graphs():
    for seed in range(12):
        g = nx.connected_watts_strogatz_graph(14, 4, 0.3, seed=seed)
        g = nx.relabel_nodes(g, {i: f"n{i}" for i in g.nodes})
        rng = np.random.default_rng(seed)
        for node in list(g.nodes)[:4]:
            if rng.random() < 0.5:
                g.nodes[node]["kind"] = "switch"
        yield Topology.from_graph(g, L)


def test_paths_are_shortest_and_valid_against_networkx():
    for topo in random_graphs():
        for src, dst in itertools.product(topo.hosts, repeat=2):
            names = assert_valid_path(topo, src, dst)
            assert len(names) == nx.shortest_path_length(topo.graph, src, dst)


def test_builder_paths_are_shortest():
    for topo in (Topology.ring(7, L), Topology.torus2d(3, 4, L), Topology.leaf_spine(3, 3, 2, L),
                 Topology.fully_connected(5, L), Topology.switch(5, L)):
        for src, dst in itertools.product(topo.hosts, repeat=2):
            names = assert_valid_path(topo, src, dst)
            assert len(names) == nx.shortest_path_length(topo.graph, src, dst)


def test_routing_is_deterministic_and_batch_paths_agree():
    a = Topology.leaf_spine(4, 4, 4, L)
    b = Topology.leaf_spine(4, 4, 4, L)
    src = np.repeat(np.arange(16), 16)
    dst = np.tile(np.arange(16), 16)
    ptr_a, links_a = a.paths(src, dst)
    # b computes pair by pair first, then in a batch
    single = [b.path(int(s), int(d)) for s, d in zip(src, dst)]
    ptr_b, links_b = b.paths(src, dst)
    assert np.array_equal(ptr_a, ptr_b) and np.array_equal(links_a, links_b)
    assert np.array_equal(np.concatenate(single), links_a)


def test_leaf_spine_ecmp_spreads_pairs_over_spines():
    topo = Topology.leaf_spine(8, 2, 4, L)
    used = {}
    for s in range(8):
        for d in range(8, 16):
            spine = [n for n in topo.path_links(s, d) if n.startswith("leaf0->")][0].split("->")[1]
            used[spine] = used.get(spine, 0) + 1
    assert set(used) == {f"spine{i}" for i in range(4)}
    assert max(used.values()) <= 2 * min(used.values())


def test_host_indices_accept_names_ints_and_arrays():
    topo = Topology.switch(4, L)
    assert topo.host_index("h2") == 2 and topo.host_index(np.int64(3)) == 3
    assert topo.host_indices(np.array(["h1", "h0"])).tolist() == [1, 0]
    assert topo.host_indices(np.array([3, 1], dtype=np.int32)).tolist() == [3, 1]
    with pytest.raises(SpecError, match="out of range"):
        topo.host_index(4)
