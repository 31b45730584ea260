"""The flow-level network: hand-computed contention cases, conservation, batching, API."""

import math

import networkx as nx
import numpy as np
import pytest

from hwmodels import LinkSpec, SpecError
from simulator.engine import Simulation
from simulator.network import FlowNetwork, Topology

GB = 1e9
FAST = LinkSpec("fast", bandwidth_Bps=4 * GB, latency_s=1e-6)
SLOW = LinkSpec("slow", bandwidth_Bps=1 * GB, latency_s=5e-6)


def world(topo, record=True):
    sim = Simulation(seed=0)
    return sim, FlowNetwork(sim, topo, record_flows=record)


def dumbbell():
    """h0, h1 -- s0 ==(1 GB/s, 5 us)== s1 -- h2, h3; host links 4 GB/s, 1 us."""
    g = nx.Graph()
    for h in ("h0", "h1", "h2", "h3"):
        g.add_node(h, kind="host")
    g.add_node("s0", kind="switch")
    g.add_node("s1", kind="switch")
    g.add_edge("h0", "s0", link=FAST)
    g.add_edge("h1", "s0", link=FAST)
    g.add_edge("s0", "s1", link=SLOW)
    g.add_edge("s1", "h2", link=FAST)
    g.add_edge("s1", "h3", link=FAST)
    return Topology.from_graph(g)


LAT = 7e-6  # h0 -> h2 path latency: 1 + 5 + 1 us


def at(sim, t, fn):
    def proc():
        yield sim.timeout(t)
        fn()
    sim.process(proc())


def test_single_flow_is_latency_plus_size_over_bottleneck():
    sim, net = world(dumbbell())
    ev = net.transfer("h0", "h2", 1e9)
    sim.run()
    assert ev.value == pytest.approx(LAT + 1.0, rel=1e-12)


def test_two_flows_share_the_bottleneck_equally():
    sim, net = world(dumbbell())
    a = net.transfer("h0", "h2", 1e9)
    b = net.transfer("h1", "h3", 1e9)
    sim.run()
    assert a.value == pytest.approx(LAT + 2.0, rel=1e-12)
    assert b.value == pytest.approx(LAT + 2.0, rel=1e-12)


def test_early_finisher_lets_the_other_speed_up():
    # 0.5 GB and 1 GB share 1 GB/s: the small one ends at 1 s (0.5 GB at 0.5 GB/s), the big
    # one has 0.5 GB left and then runs alone: 1.5 s.
    sim, net = world(dumbbell())
    a = net.transfer("h0", "h2", 0.5e9)
    b = net.transfer("h1", "h3", 1e9)
    sim.run()
    assert a.value == pytest.approx(LAT + 1.0, rel=1e-12)
    assert b.value == pytest.approx(LAT + 1.5, rel=1e-12)


def test_staggered_start():
    # A alone for 0.4 s (0.4 GB), then shares with B (0.2 GB) at 0.5 GB/s each: B ends after
    # 0.4 s more; A has 1 - 0.4 - 0.2 = 0.4 GB left at full rate: 0.4 s.
    sim, net = world(dumbbell())
    out = {}
    a = net.transfer("h0", "h2", 1e9)
    at(sim, 0.4, lambda: out.setdefault("b", net.transfer("h1", "h3", 0.2e9)))
    sim.run()
    assert out["b"].value == pytest.approx(0.4 + LAT + 0.4, rel=1e-12)
    assert a.value == pytest.approx(LAT + 1.2, rel=1e-12)


def test_opposite_directions_do_not_share():
    sim, net = world(dumbbell())
    a = net.transfer("h0", "h2", 1e9)
    b = net.transfer("h3", "h1", 1e9)
    sim.run()
    assert a.value == pytest.approx(LAT + 1.0, rel=1e-12)
    assert b.value == pytest.approx(LAT + 1.0, rel=1e-12)


def test_multi_hop_paths_with_different_bottlenecks():
    # Line a - b - c - d with link a-b 1 GB/s, b-c 3 GB/s, c-d 1 GB/s (no latency).
    # F1 a->d crosses all; F2 b->c; F3 c->d. Max-min: c->d shared by F1, F3 at 0.5 each;
    # F2 gets 3 - 0.5 = 2.5 on b->c.
    g = nx.Graph()
    one = LinkSpec("one", bandwidth_Bps=1e9)
    three = LinkSpec("three", bandwidth_Bps=3e9)
    g.add_edge("a", "b", link=one)
    g.add_edge("b", "c", link=three)
    g.add_edge("c", "d", link=one)
    sim, net = world(Topology.from_graph(g))
    f1 = net.transfer("a", "d", 1e9)
    f2 = net.transfer("b", "c", 5e9)
    f3 = net.transfer("c", "d", 0.25e9)
    sim.run()
    # Until 0.5 s: rates 0.5, 2.5, 0.5. F3 ends at 0.5 s; then F1 gets 1 and F2 gets 2.
    # F1: 0.25 GB by 0.5 s, 0.75 GB more at 1 GB/s -> 1.25 s.
    # F2: 1.25 GB by 0.5 s, then 2 GB/s until 1.25 s (1.5 GB) -> 2.75 GB, then 3 GB/s: 2.25 GB -> 0.75 s.
    assert f3.value == pytest.approx(0.5, rel=1e-12)
    assert f1.value == pytest.approx(1.25, rel=1e-12)
    assert f2.value == pytest.approx(2.0, rel=1e-12)


def test_rate_cap_limits_a_flow_and_leaves_the_rest_to_others():
    sim, net = world(dumbbell())
    a = net.transfer("h0", "h2", 0.1e9, rate_cap_Bps=0.1e9)   # 1 s at its cap
    b = net.transfer("h1", "h3", 0.9e9)                        # gets the other 0.9 GB/s
    sim.run()
    assert a.value == pytest.approx(LAT + 1.0, rel=1e-12)
    assert b.value == pytest.approx(LAT + 1.0, rel=1e-12)


def test_zero_bytes_finish_after_latency_and_self_flows_at_once():
    sim, net = world(dumbbell())
    z = net.transfer("h0", "h2", 0)
    s = net.transfer("h1", "h1", 1e9)
    seen = {}
    at(sim, 0.25, lambda: seen.setdefault("late", net.transfer("h3", "h3", 5.0)))
    sim.run()
    assert z.value == pytest.approx(LAT, rel=1e-12)
    assert s.value == 0.0
    assert seen["late"].value == 0.25


def test_on_finish_groups_equal_flows_and_done_fires_last():
    sim, net = world(Topology.switch(8, FAST))
    calls = []
    src = np.arange(8)
    batch = net.start(src, (src + 1) % 8, 1e6, on_finish=lambda b, idx, now: calls.append((idx.tolist(), now)))
    done = []
    batch.done.callbacks.append(lambda ev: done.append(ev.value))
    sim.run()
    assert len(calls) == 1 and sorted(calls[0][0]) == list(range(8))
    assert calls[0][1] == pytest.approx(2e-6 + 1e6 / (4 * GB), rel=1e-12)
    assert done == [batch] and batch.finished and batch.remaining == 0
    assert np.all(batch.finish_s == calls[0][1])
    assert np.all(batch.start_s == 0.0)


def test_on_finish_reports_each_flow_once_with_local_indices():
    sim, net = world(dumbbell())
    seen = []
    batch = net.start(["h0", "h1", "h0"], ["h2", "h3", "h2"], [1e8, 3e8, 2e8],
                      on_finish=lambda b, idx, now: seen.extend((int(i), now) for i in idx))
    sim.run()
    assert sorted(i for i, _ in seen) == [0, 1, 2]
    order = [i for i, _ in sorted(seen, key=lambda x: x[1])]
    assert order == [0, 2, 1]
    assert batch.finish_s[0] < batch.finish_s[2] < batch.finish_s[1]


def test_ring_allreduce_steps_match_the_closed_form():
    """2(p-1) lockstep steps of n/p bytes to the next host on a switch: alpha = 2 latencies,
    beta = 1/bandwidth (every link carries one flow)."""
    p, n = 16, 64e6
    sim, net = world(Topology.switch(p, SLOW), record=False)
    src = np.arange(p)
    pattern = net.pattern(src, (src + 1) % p)
    steps = []

    def next_step(batch, idx, now):
        if batch.finished:
            steps.append(now)
            if len(steps) < 2 * (p - 1):
                net.start(pattern=pattern, nbytes=n / p, on_finish=next_step)

    net.start(pattern=pattern, nbytes=n / p, on_finish=next_step)
    sim.run()
    alpha, beta = 2 * SLOW.latency_s, 1 / SLOW.bandwidth_Bps
    assert len(steps) == 2 * (p - 1)
    assert sim.now == pytest.approx(2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta, rel=1e-12)
    assert net.rate_recomputations == 2 * (p - 1)


def test_flows_started_at_one_instant_by_different_processes_share_one_recomputation():
    sim, net = world(Topology.switch(4, FAST))

    def sender(i):
        yield sim.timeout(1.0)
        net.transfer(f"h{i}", f"h{(i + 1) % 4}", 1e6)

    for i in range(4):
        sim.process(sender(i))
    sim.run()
    assert net.rate_recomputations == 1
    assert net.flows_finished == 4


def test_conservation_per_flow_and_per_link():
    sim, net = world(dumbbell())
    rng = np.random.default_rng(3)
    hosts = ["h0", "h1", "h2", "h3"]
    src = [hosts[i] for i in rng.integers(0, 4, 40)]
    dst = [hosts[i] for i in rng.integers(0, 4, 40)]
    size = rng.uniform(0, 1e7, 40)
    batch = net.start(src, dst, size)
    sim.run()
    topo = net.topology
    expected = np.zeros(topo.num_links)
    for s, d, b in zip(src, dst, size):
        expected[topo.path(s, d)] += b
    assert net.bytes_per_link == pytest.approx(expected, rel=1e-12)
    tl = net.timeline()
    assert tl.makespan_s == pytest.approx(np.nanmax(batch.finish_s))
    assert sum(tl.link_bytes.values()) == pytest.approx(expected.sum(), rel=1e-12)
    for name, busy in tl.link_busy_s.items():
        assert 0 <= busy <= tl.makespan_s * (1 + 1e-12), name
    assert all(0 <= u <= 1 for u in tl.utilisation().values())
    # bytes received = bytes sent: every flow's span carries exactly its size
    spans = tl.spans
    assert sorted(s.bytes for s in spans) == pytest.approx(sorted(size))
    # energy: only the 5 pJ-free links here, so zero; then with a priced link
    assert net.energy_J == 0.0


def test_busy_time_of_a_lone_flow_link_is_its_transmission_time():
    sim, net = world(dumbbell())
    net.transfer("h0", "h2", 1e9)
    sim.run()
    tl = net.timeline()
    assert tl.link_busy_s["s0->s1"] == pytest.approx(1.0, rel=1e-12)
    assert tl.link_busy_s["s1->s0"] == 0.0
    assert tl.utilisation()["s0->s1"] == pytest.approx(1.0 / (1.0 + LAT), rel=1e-12)


def test_flows_ending_together_on_a_link_count_its_busy_time_once():
    sim, net = world(dumbbell())
    net.transfer("h0", "h2", 1e9)
    net.transfer("h1", "h3", 1e9)
    sim.run()
    busy = net.timeline().link_busy_s
    assert busy["s0->s1"] == pytest.approx(2.0, rel=1e-12)
    assert busy["h0->s0"] == pytest.approx(2.0, rel=1e-12)


def test_statistics_mid_run_count_bytes_in_flight():
    sim, net = world(dumbbell())
    net.transfer("h0", "h2", 1e9)
    sim.run(until=LAT + 0.5)
    assert net.bytes_per_link[net.topology.link_id("s0->s1")] == pytest.approx(0.5e9, rel=1e-9)
    assert net.busy_s_per_link[net.topology.link_id("s0->s1")] == pytest.approx(0.5, rel=1e-9)
    assert net.flows_active == 1
    assert net.timeline().makespan_s == pytest.approx(LAT + 0.5)
    sim.run()
    assert net.bytes_per_link[net.topology.link_id("s0->s1")] == 1e9


def test_energy_counts_bits_times_energy_per_bit():
    link = LinkSpec("e", bandwidth_Bps=1e9, latency_s=0.0, energy_per_bit_J=2e-12)
    sim, net = world(Topology.switch(2, link))
    net.transfer("h0", "h1", 1e6)
    sim.run()
    assert net.energy_J == pytest.approx(2 * 8e6 * 2e-12, rel=1e-12)   # two links crossed
    assert sum(net.timeline().link_energy_J.values()) == pytest.approx(net.energy_J)


def test_record_flows_off_keeps_link_statistics_only():
    sim, net = world(dumbbell(), record=False)
    net.transfer("h0", "h2", 1e6)
    sim.run()
    assert len(sim.trace) == 0
    assert net.bytes_per_link.sum() == pytest.approx(3e6)


def test_flow_span_names_resource_and_bytes():
    sim, net = world(dumbbell())
    net.start(["h0"], ["h2"], 5e5, name="grad")
    sim.run()
    (span,) = net.timeline().spans
    assert (span.resource, span.kind, span.bytes, span.start_s) == ("h0", "flow", 5e5, 0.0)
    assert span.name == "grad h0->h2"
    assert span.end_s == pytest.approx(LAT + 5e5 / 1e9, rel=1e-12)


def test_patterns_are_cached_by_content_and_give_the_same_results():
    sim, net = world(Topology.switch(6, FAST))
    src = np.array([0, 1, 2])
    dst = np.array([3, 4, 5])
    p1 = net.pattern(src, dst)
    assert net.pattern(src.copy(), dst.copy()) is p1
    assert net.pattern(["h0", "h1", "h2"], ["h3", "h4", "h5"]) is p1
    b1 = net.start(pattern=p1, nbytes=1e6)
    b2 = net.start(p1, nbytes=1e6)
    sim.run()
    assert np.array_equal(b1.finish_s, b2.finish_s)
    assert p1.latency_s.tolist() == [2e-6] * 3


def test_start_broadcasts_one_side_and_validates():
    sim, net = world(Topology.switch(4, FAST))
    b = net.start("h0", ["h1", "h2", "h3"], 1e6)
    assert len(b) == 3 and b.src.tolist() == [0, 0, 0]
    with pytest.raises(SpecError, match="non-negative"):
        net.start(["h0"], ["h1"], -1.0)
    with pytest.raises(SpecError, match="rate caps"):
        net.start(["h0"], ["h1"], 1.0, rate_cap_Bps=0.0)
    with pytest.raises(SpecError, match="2 values for 3 flows"):
        net.start(["h0"] * 3, ["h1"] * 3, [1.0, 2.0])
    with pytest.raises(SpecError, match="unknown node"):
        net.start(["h9"], ["h1"], 1.0)
    with pytest.raises(SpecError, match="out of range"):
        net.start([0], [7], 1.0)
    empty = net.start([], [], 1.0)
    assert empty.finished and empty.done.triggered
    sim.run()


def test_compaction_keeps_results_exact():
    """Thousands of staggered batches: dead slots are compacted while flows are in flight."""
    p = 64
    sim, net = world(Topology.switch(p, SLOW), record=False)
    src = np.arange(p)
    pattern = net.pattern(src, (src + 1) % p)
    batches = []

    def driver():
        for k in range(60):
            batches.append(net.start(pattern=pattern, nbytes=1e6))
            yield sim.timeout(0.6e-3)   # the previous batch (1 ms alone) is still running

    sim.process(driver())
    sim.run()
    # Each host uplink carries batch k alone until batch k+1 arrives; the closed form is the
    # processor-sharing schedule of identical flows, which is the same on every host: compare
    # against a single host pair run separately.
    sim2, net2 = world(Topology.switch(2, SLOW), record=False)
    ref = []

    def driver2():
        for k in range(60):
            ref.append(net2.start(["h0"], ["h1"], 1e6))
            yield sim2.timeout(0.6e-3)

    sim2.process(driver2())
    sim2.run()
    for b, r in zip(batches, ref):
        assert b.finish_s == pytest.approx(np.full(p, r.finish_s[0]), rel=1e-12)
    assert net.flows_finished == 60 * p


def test_two_simulations_side_by_side_are_independent():
    def build():
        sim, net = world(dumbbell())
        evs = [net.transfer("h0", "h2", 3e8), net.transfer("h1", "h3", 1e8)]
        return sim, net, evs

    sim_a, _, ev_a = build()
    sim_b, _, ev_b = build()
    sim_a.run(until=0.1)
    sim_b.run()
    sim_a.run()
    sim_c, _, ev_c = build()
    sim_c.run()
    assert [e.value for e in ev_a] == [e.value for e in ev_b] == [e.value for e in ev_c]


def test_max_min_is_not_monotone_in_general():
    """Adding flows can make another flow *faster* under max-min (so "adding a flow never
    speeds another up" holds only for single-bottleneck cases, tested in the properties):
    A crosses link x; B crosses x and y; C and D cross y. With C, D present B drops to 1/3 of
    y, which leaves A 2/3 of x instead of 1/2."""
    g = nx.Graph()
    unit = LinkSpec("u", bandwidth_Bps=1e9)
    for a, b in (("a", "m"), ("m", "n"), ("n", "c"), ("m", "b"), ("n", "d"), ("n", "e")):
        g.add_edge(a, b, link=unit)
    for sw in ("m", "n"):
        g.nodes[sw]["kind"] = "switch"
    topo = Topology.from_graph(g)
    # x is a->m (A: a-m-b; B: a-m-n-c), y is n->c (B, and C: d-n-c, D: e-n-c).
    sim, net = world(topo)
    a = net.transfer("a", "b", 1e9)          # crosses a->m (x)
    net.transfer("a", "c", 10e9)             # B: a->m (x) and n->c (y)
    sim.run(until=0.5)
    rate_alone = net.rates()[0]
    sim2, net2 = world(topo)
    a2 = net2.transfer("a", "b", 1e9)
    net2.transfer("a", "c", 10e9)
    net2.transfer("d", "c", 10e9)            # C on n->c (y)
    net2.transfer("e", "c", 10e9)            # D on n->c (y)
    sim2.run(until=0.5)
    assert rate_alone == pytest.approx(0.5e9)
    assert net2.rates()[0] == pytest.approx(2e9 / 3)
    sim.run()
    sim2.run()
    assert a2.value < a.value


def test_unknown_endpoints_and_switch_endpoints_are_rejected():
    sim, net = world(dumbbell())
    with pytest.raises(SpecError, match="switch"):
        net.transfer("s0", "h1", 1.0)
    with pytest.raises(SpecError, match="unknown node 'zz'"):
        net.transfer("h0", "zz", 1.0)


def test_pattern_of_another_topology_is_refused():
    _, net_a = world(Topology.switch(2, FAST))
    _, net_b = world(Topology.switch(2, FAST))
    with pytest.raises(ValueError, match="another topology"):
        net_b.start(pattern=net_a.pattern([0], [1]), nbytes=1.0)


def test_half_duplex_link_shares_one_capacity_between_directions():
    half = LinkSpec("half", bandwidth_Bps=1e9, duplex=False)
    sim, net = world(Topology.from_graph(nx.Graph([("a", "b")]), half))
    x = net.transfer("a", "b", 1e9)
    y = net.transfer("b", "a", 1e9)
    sim.run()
    assert x.value == pytest.approx(2.0) and y.value == pytest.approx(2.0)
    assert math.isclose(net.bytes_per_link.sum(), 2e9)
