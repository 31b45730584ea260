"""DES mode against the closed forms: equal where the network is uncontended, above
(the best-path lower bound) where it is contended; stragglers, placement, traces."""

import math

import numpy as np
import pytest

from hwmodels import LinkSpec, SpecError
from simulator.collectives import (CollectiveRun, NetParams, analytic_time, build_program, net_params, pairs,
                                   simulate)
from simulator.collectives.tree import _dbt_port_load
from simulator.engine import Simulation
from simulator.network import FlowNetwork, Topology

LINK = LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6)        # 10 Gbps, 5 us
EXACT = [pair for pair in pairs() if pair[1] != "double-binary-tree"]
BUILDERS = {"switch": Topology.switch, "fully-connected": Topology.fully_connected, "ring": Topology.ring}


def worker_counts(alg):
    return (2, 4, 8) if "doubling" in alg else (2, 3, 5, 8)


def des_and_analytic(op, alg, p, n, topo_name, gamma=0.0, how="worst", **params):
    prog = build_program(op, alg, p, n, **params)
    topo = BUILDERS[topo_name](prog.ranks, LINK)
    des = simulate(prog, topo, gamma_s_per_B=gamma)
    net = net_params(prog, topo, how=how, gamma_s_per_B=gamma)
    return des, analytic_time(op, alg, p, n, net, **params)


@pytest.mark.parametrize("op,alg", EXACT)
@pytest.mark.parametrize("topo", ["switch", "fully-connected"])
def test_des_equals_closed_form_where_uncontended(op, alg, topo):
    for p in worker_counts(alg):
        for n in (0.0, 1e3, 4e6):
            des, analytic = des_and_analytic(op, alg, p, n, topo)
            assert des.time_s == pytest.approx(analytic, rel=1e-9, abs=1e-15), (p, n)
            assert des.messages == build_program(op, alg, p, n).messages


@pytest.mark.parametrize("op,alg", EXACT)
def test_des_equals_closed_form_with_reduction_cost(op, alg):
    for p in worker_counts(alg)[1:]:
        des, analytic = des_and_analytic(op, alg, p, 4e6, "switch", gamma=3e-10)
        assert des.time_s == pytest.approx(analytic, rel=1e-9)


@pytest.mark.parametrize("op", ["reducescatter", "allgather", "allreduce"])
@pytest.mark.parametrize("p", [2, 3, 4, 7, 16])
def test_ring_algorithm_on_ring_topology_is_uncontended(op, p):
    des, analytic = des_and_analytic(op, "ring", p, 1e6, "ring", gamma=1e-10)
    assert des.time_s == pytest.approx(analytic, rel=1e-9)


def test_hand_computed_p4_ring_allreduce_by_des():
    des, _ = des_and_analytic("allreduce", "ring", 4, 1e6, "ring")
    assert des.time_s == pytest.approx(6 * (5e-6 + 250_000 / 1.25e9), rel=1e-12)     # 1.23 ms


@pytest.mark.parametrize("op,alg", [pair for pair in EXACT if pair[1] != "ring" or pair[0] == "broadcast"])
def test_contended_on_ring_topology_des_is_at_least_the_best_path_bound(op, alg):
    """Non-neighbour algorithms on a ring: multi-hop paths share links (contended)."""
    for p in (4, 8) if "doubling" in alg else (4, 5, 8):
        for n in (1e3, 4e6):
            des, lower = des_and_analytic(op, alg, p, n, "ring", how="best")
            assert des.time_s >= lower * (1 - 1e-9), (p, n)


def test_contention_is_real_on_the_ring_topology():
    des, lower = des_and_analytic("allreduce", "recursive-doubling", 8, 4e6, "ring", how="best")
    assert des.time_s > 1.5 * lower


def dbt_bounds(p, c, n, port_beta):
    D = math.ceil(math.log2(p))
    steps = c + 2 * D - 1
    chunk = n / (2 * c)
    alpha, beta = 2 * LINK.latency_s, 1 / LINK.bandwidth_Bps
    return steps * (alpha + chunk * beta), steps * (alpha + chunk * max(beta, _dbt_port_load(p, c) * port_beta))


@pytest.mark.parametrize("p", [2, 3, 4, 7, 8, 16])
@pytest.mark.parametrize("c", [1, 2, 4])
def test_double_binary_tree_lies_between_its_bounds_on_a_switch(p, c):
    """Both trees' flows share a host link in varying numbers through the pipeline."""
    n = 4e6
    des, analytic = des_and_analytic("allreduce", "double-binary-tree", p, n, "switch", chunks=c)
    lower, upper = dbt_bounds(p, c, n, 1 / LINK.bandwidth_Bps)
    assert upper == pytest.approx(analytic, rel=1e-12)
    assert lower * (1 - 1e-9) <= des.time_s <= upper * (1 + 1e-9)


@pytest.mark.parametrize("p", [4, 5, 8, 16])
def test_double_binary_tree_on_fully_connected(p):
    n = 4e6
    for c in (1, 3):
        prog = build_program("allreduce", "double-binary-tree", p, n, chunks=c)
        des, analytic = des_and_analytic("allreduce", "double-binary-tree", p, n, "fully-connected", chunks=c)
        # a pair may carry two messages in one step (one per tree): then they share its link
        shared = any(np.unique(pat.src * p + pat.dst).size < len(pat) for pat in prog.patterns)
        if shared:
            assert des.time_s >= analytic * (1 - 1e-9)
        else:
            assert des.time_s == pytest.approx(analytic, rel=1e-9)


def test_flows_cross_two_links_on_a_switch_and_bytes_are_conserved():
    prog = build_program("allreduce", "ring", 5, 1e6)
    sim = Simulation(0, trace=False)
    net = FlowNetwork(sim, Topology.switch(5, LINK), record_flows=False)
    run = CollectiveRun(net, prog)
    run.start()
    sim.run()
    assert net.bytes_per_link.sum() == pytest.approx(2 * prog.bytes_sent_total, rel=1e-12)
    assert run.bytes_started == pytest.approx(2 * 4 / 5 * 1e6 * 5)
    assert net.flows_started == prog.messages


def test_a_straggler_slows_a_ring_by_its_extra_reduction_time():
    p, n, g = 6, 6e6, 1e-10
    prog = build_program("allreduce", "ring", p, n)
    topo = Topology.switch(p, LINK)
    base = simulate(prog, topo, gamma_s_per_B=g).time_s
    gammas = np.full(p, g)
    gammas[3] = 5 * g
    slow = simulate(prog, topo, gamma_s_per_B=gammas).time_s
    # the ring is lock-step: every reduce-scatter step waits for the straggler's reduction
    assert slow - base == pytest.approx((p - 1) * (n / p) * 4 * g, rel=1e-9)


def test_ranks_progress_independently():
    """Direct reduce to the root: senders finish as soon as their flow is through; a slow
    root only delays itself."""
    p = 5
    prog = build_program("reduce", "direct", p, 1e6)
    gammas = np.zeros(p)
    gammas[0] = 1e-9
    res = simulate(prog, Topology.switch(p, LINK), gamma_s_per_B=gammas)
    flow = 2 * 5e-6 + (p - 1) * 1e6 / 1.25e9
    assert res.rank_finish_s[1:] == pytest.approx(np.full(p - 1, flow))
    assert res.rank_finish_s[0] == pytest.approx(flow + (p - 1) * 1e6 * 1e-9)


def test_placement_on_a_ring_topology_matters():
    p = 6
    prog = build_program("allreduce", "ring", p, 6e6)
    topo = Topology.ring(p, LINK)
    neighbours = simulate(prog, topo).time_s
    scattered = simulate(prog, topo, hosts=[0, 3, 1, 4, 2, 5]).time_s
    assert scattered > neighbours * 1.2


def test_sub_group_on_a_bigger_topology_and_errors():
    topo = Topology.switch(8, LINK)
    prog = build_program("allreduce", "ring", 3, 3e6)
    res = simulate(prog, topo, hosts=["h7", "h2", "h5"])
    assert res.time_s == pytest.approx(analytic_time("allreduce", "ring", 3, 3e6, NetParams.for_link(LINK, hops=2)))
    with pytest.raises(SpecError, match="twice"):
        simulate(prog, topo, hosts=["h1", "h1", "h2"])
    with pytest.raises(SpecError, match="needs 9 hosts"):
        simulate(build_program("allreduce", "ring", 9, 1e6), topo)
    with pytest.raises(SpecError, match="gamma"):
        simulate(prog, topo, hosts=[0, 1, 2], gamma_s_per_B=[1e-9, 2e-9])


def test_one_worker_and_zero_bytes():
    assert simulate(build_program("allreduce", "ring", 1, 1e9), Topology.switch(1, LINK)).time_s == 0.0
    res = simulate(build_program("allreduce", "ring", 4, 0.0), Topology.switch(4, LINK))
    assert res.time_s == pytest.approx(6 * 2 * 5e-6)


def test_trace_has_per_rank_collective_spans_and_exports():
    prog = build_program("reducescatter", "ring", 4, 4e6)
    res = simulate(prog, Topology.switch(4, LINK), gamma_s_per_B=1e-10, trace=True)
    spans = res.timeline.spans
    coll = [s for s in spans if s.kind == "collective"]
    assert sorted(s.resource for s in coll) == ["h0", "h1", "h2", "h3"]
    assert max(s.end_s for s in coll) == pytest.approx(res.time_s)
    assert sum(1 for s in spans if s.kind == "flow") == prog.messages
    assert sum(1 for s in spans if s.kind == "reduce") == prog.messages
    chrome = res.timeline.to_chrome_trace()
    assert any(e["ph"] == "X" for e in chrome["traceEvents"])


def test_medium_run_equals_the_closed_form():
    prog = build_program("allreduce", "ring", 256, 2.0**30)
    res = simulate(prog, Topology.switch(256, LINK))
    assert res.time_s == pytest.approx(analytic_time("allreduce", "ring", 256, 2.0**30, NetParams.for_link(LINK, hops=2)),
                                       rel=1e-9)


@pytest.mark.parametrize("topo", [Topology.leaf_spine(4, 4, 2, LINK, oversubscription=4.0), Topology.torus2d(4, 4, LINK)])
@pytest.mark.parametrize("op,alg", [("allreduce", "ring"), ("allreduce", "halving-doubling"), ("alltoall", "direct")])
def test_multi_level_topologies_stay_above_the_best_path_bound(topo, op, alg):
    prog = build_program(op, alg, 16, 16e6)
    des = simulate(prog, topo).time_s
    lower = analytic_time(op, alg, 16, 16e6, net_params(prog, topo, how="best"))
    worst = analytic_time(op, alg, 16, 16e6, net_params(prog, topo, how="worst"))
    assert lower <= worst and des >= lower * (1 - 1e-9)
