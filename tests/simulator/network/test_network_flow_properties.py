"""Property tests of the flow network against an independent fluid reference and invariants."""

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import LinkSpec
from netref import RefFlow, simulate
from simulator.engine import Simulation
from simulator.network import FlowNetwork, Topology
from simulator.network import flowcore

BANDWIDTHS = [0.5e9, 1e9, 1.25e9, 4e9]
LATENCIES = [0.0, 1e-6, 3e-6]


@st.composite
def topologies(draw, zero_latency=False):
    kind = draw(st.sampled_from(["switch", "ring", "leaf-spine", "line"]))

    def link(i):
        bw = draw(st.sampled_from(BANDWIDTHS))
        lat = 0.0 if zero_latency else draw(st.sampled_from(LATENCIES))
        return LinkSpec(f"l{i}", bandwidth_Bps=bw, latency_s=lat)

    if kind == "switch":
        p = draw(st.integers(2, 5))
        g = nx.Graph()
        g.add_node("sw", kind="switch")
        for i in range(p):
            g.add_node(f"h{i}", kind="host")
            g.add_edge(f"h{i}", "sw", link=link(i))
    elif kind == "ring":
        p = draw(st.integers(3, 6))
        g = nx.Graph()
        for i in range(p):
            g.add_edge(f"h{i}", f"h{(i + 1) % p}", link=link(i))
    elif kind == "line":
        p = draw(st.integers(2, 5))
        g = nx.path_graph([f"h{i}" for i in range(p)])
        for k, (u, v) in enumerate(list(g.edges)):
            g.edges[u, v]["link"] = link(k)
    else:
        topo = Topology.leaf_spine(2, 2, 2, link(0), spine_link=link(1))
        return topo
    return Topology.from_graph(g)


@st.composite
def scenarios(draw, zero_latency=False, with_caps=True):
    topo = draw(topologies(zero_latency))
    n = draw(st.integers(1, 7))
    hosts = st.integers(0, topo.num_hosts - 1)
    flows = []
    for _ in range(n):
        src, dst = draw(hosts), draw(hosts)
        size = draw(st.sampled_from([0.0, 1e3, 1e6, 2.5e6, 4e6]) | st.floats(1.0, 5e6))
        start = draw(st.sampled_from([0.0, 0.0, 1e-4, 2.5e-3]) | st.floats(0.0, 5e-3))
        cap = draw(st.sampled_from([None, None, 0.2e9, 1e9])) if with_caps else None
        flows.append((src, dst, size, start, cap))
    return topo, flows


def run_network(topo, flows, scale_bw=1.0, scale_t=1.0):
    """Start each flow at its time (one process per start, exact times); return finish times."""
    if scale_bw != 1.0:
        g = topo.graph.copy()
        for u, v, data in g.edges(data=True):
            link = data["link"]
            data["link"] = LinkSpec(link.name, bandwidth_Bps=link.bandwidth_Bps * scale_bw, latency_s=link.latency_s)
        topo = Topology.from_graph(g)
    sim = Simulation()
    net = FlowNetwork(sim, topo)
    batches = {}

    def starter(i, src, dst, size, start, cap):
        if start * scale_t > 0:
            yield sim.timeout(start * scale_t)
        batches[i] = net.start([src], [dst], size, rate_cap_Bps=None if cap is None else cap * scale_bw)

    for i, flow in enumerate(flows):
        sim.process(starter(i, *flow))
    sim.run()
    return np.array([batches[i].finish_s[0] for i in range(len(flows))]), net


def reference(topo, flows):
    cap = dict(enumerate(topo.capacity_Bps.tolist()))
    refs = []
    for src, dst, size, start, rate_cap in flows:
        path = topo.resource_of_link[topo.path(src, dst)].tolist()
        latency = float(sum(topo.latency_s[topo.path(src, dst)]))
        refs.append(RefFlow(start, latency, path, size, math.inf if rate_cap is None else rate_cap))
    return np.array(simulate(refs, cap))


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_finish_times_match_the_fluid_reference(case):
    topo, flows = case
    ours, net = run_network(topo, flows)
    ref = reference(topo, flows)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)
    # conservation: per-link bytes are the sums over the flows crossing each link
    expected = np.zeros(topo.num_links)
    for src, dst, size, _, _ in flows:
        expected[topo.path(src, dst)] += size
    assert net.bytes_per_link == pytest.approx(expected, rel=1e-12, abs=1e-6)
    assert np.all(net.busy_s_per_link <= max(ours.max(), 0.0) * (1 + 1e-12) + 1e-15)


@settings(max_examples=100, deadline=None)
@given(scenarios(zero_latency=True))
def test_zero_latency_doubling_bandwidth_halves_every_time(case):
    """Doubling every bandwidth and cap (and halving start times, all zero being the plain
    case) halves every finish time, hence the makespan."""
    topo, flows = case
    base, _ = run_network(topo, flows)
    fast, _ = run_network(topo, flows, scale_bw=2.0, scale_t=0.5)
    assert fast == pytest.approx(base / 2, rel=1e-12, abs=1e-18)
    assert fast.max() == pytest.approx(base.max() / 2, rel=1e-12, abs=1e-18)


@st.composite
def incasts(draw):
    """Senders with different uplinks into one receiver: a single shared bottleneck."""
    k = draw(st.integers(2, 6))
    g = nx.Graph()
    g.add_node("sw", kind="switch")
    g.add_edge("h0", "sw", link=LinkSpec("down", bandwidth_Bps=draw(st.sampled_from(BANDWIDTHS)),
                                         latency_s=draw(st.sampled_from(LATENCIES))))
    for i in range(1, k + 1):
        g.add_edge(f"h{i}", "sw", link=LinkSpec(f"up{i}", bandwidth_Bps=draw(st.sampled_from(BANDWIDTHS)),
                                                latency_s=draw(st.sampled_from(LATENCIES))))
    topo = Topology.from_graph(g)
    flows = [(i, 0, draw(st.floats(1e3, 5e6)), draw(st.floats(0.0, 5e-3)), None) for i in range(1, k + 1)]
    return topo, flows


@settings(max_examples=100, deadline=None)
@given(incasts(), st.data())
def test_adding_a_flow_never_makes_another_finish_earlier_on_a_single_bottleneck(case, data):
    """Monotone where every flow crosses the one shared link (not true of max-min in
    general: see test_max_min_is_not_monotone_in_general)."""
    topo, flows = case
    extra = data.draw(st.integers(0, len(flows) - 1))
    without = flows[:extra] + flows[extra + 1:]
    with_all, _ = run_network(topo, flows)
    without_times, _ = run_network(topo, without)
    others = np.delete(with_all, extra)
    assert np.all(others >= without_times * (1 - 1e-12))


def pods(k, p, link):
    """k separate switches with p hosts each: k independent components."""
    g = nx.Graph()
    for pod in range(k):
        g.add_node(f"sw{pod}", kind="switch")
        for i in range(p):
            g.add_edge(f"h{pod * p + i}", f"sw{pod}", link=link)
    return Topology.from_graph(g)


@pytest.mark.parametrize("layout", ["leaf-spine", "pods"])
def test_many_flows_match_the_reference(layout, monkeypatch):
    """Enough concurrent flows for the component and floor shortcuts of the recomputation
    to matter; every finish time must still equal a from-scratch recomputation."""
    rng = np.random.default_rng(11)
    link = LinkSpec("l", bandwidth_Bps=1e9, latency_s=1e-6)
    if layout == "pods":
        topo = pods(6, 4, link)
        flows = []
        for _ in range(80):
            pod = int(rng.integers(0, 6))
            src, dst = (pod * 4 + rng.choice(4, 2, replace=False)).tolist()
            flows.append((src, dst, float(rng.uniform(1e5, 5e6)), float(rng.choice([0.0, rng.uniform(0, 4e-3)])),
                          None if rng.random() < 0.8 else 0.3e9))
    else:
        topo = Topology.leaf_spine(4, 4, 2, link, oversubscription=2.0)
        flows = [(int(s), int(d), float(rng.uniform(1e5, 5e6)), float(rng.choice([0.0, rng.uniform(0, 4e-3)])),
                  None if rng.random() < 0.8 else 0.3e9)
                 for s, d in zip(rng.integers(0, 16, 80), rng.integers(0, 16, 80))]
    ours, net = run_network(topo, flows)
    assert ours == pytest.approx(reference(topo, flows), rel=1e-9)
    # the shortcuts restricted the work: without them, more flows are re-rated
    monkeypatch.setattr(flowcore, "_component", lambda *args: None)
    monkeypatch.setattr(flowcore, "_FLOOR_MARGIN", 2.0)   # nothing is ever below the floor
    plain, net_plain = run_network(topo, flows)
    assert plain == pytest.approx(ours, rel=1e-9)
    assert net.flows_rerated < 0.8 * net_plain.flows_rerated
