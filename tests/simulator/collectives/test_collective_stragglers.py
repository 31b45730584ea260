"""Stragglers: per-rank reduction speeds, link slowdowns and start offsets, against a plain
event-by-event simpy reference (one process per rank and per message, one flow per
``FlowNetwork.transfer``), for the max-plus replay and the event-driven runner alike; and
the hand-over from the replay to the event path when another flow needs a reserved link."""

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import LinkSpec, SpecError
from simulator.collectives import CollectiveRun, build_program
from simulator.engine import Simulation
from simulator.network import FlowNetwork, Topology

RTOL = 1e-12


def reference(program, topology, gamma, offsets):
    """Each rank a simpy process, each message a process that waits for both ranks to reach
    its step and then transfers its bytes; a rank reduces what it received after all its
    messages of the step are through. Returns each rank's finish time."""
    sim = Simulation(0, trace=False)
    net = FlowNetwork(sim, topology, record_flows=False)
    env = sim.env
    steps = [program.step(k) for k in range(program.num_steps)]
    reached = [[env.event() for _ in steps] for _ in range(program.ranks)]
    finish = np.full(program.ranks, np.nan)

    def message(k, i):
        a, b = int(steps[k].src[i]), int(steps[k].dst[i])
        yield reached[a][k] & reached[b][k]
        yield net.transfer(a, b, float(steps[k].nbytes[i]))

    sent = [[env.process(message(k, i)) for i in range(len(pat))] for k, pat in enumerate(steps)]

    def rank(r):
        yield env.timeout(offsets[r])
        for k, pat in enumerate(steps):
            mine = [i for i in range(len(pat)) if pat.src[i] == r or pat.dst[i] == r]
            if not mine:
                continue
            reached[r][k].succeed()
            yield env.all_of([sent[k][i] for i in mine])
            yield env.timeout(gamma[r] * sum(float(pat.reduce_bytes[i]) for i in mine if pat.dst[i] == r))
        finish[r] = env.now

    for r in range(program.ranks):
        env.process(rank(r))
    sim.run()
    return finish


def run(program, topology, gamma, offsets, fast=True, foreign=None):
    """Our runner; ``foreign`` = (time, src, dst, bytes) starts one more flow mid-run.
    Returns (rank finish times, the run, the network, the foreign flow's finish)."""
    sim = Simulation(0, trace=False)
    net = FlowNetwork(sim, topology, record_flows=False)
    runner = CollectiveRun(net, program, gamma_s_per_B=gamma, start_offset_s=offsets, fast=fast)
    runner.start()
    out = {}
    if foreign is not None:
        t, a, b, n = foreign

        def other():
            yield sim.env.timeout(t)
            out["finish"] = yield net.transfer(a, b, n)

        sim.process(other())
    sim.run()
    return runner.rank_finish_s, runner, net, out.get("finish")


def star(p, bandwidths, latencies):
    g = nx.Graph()
    g.add_node("sw", kind="switch")
    for i in range(p):
        g.add_node(f"h{i}")
        g.add_edge(f"h{i}", "sw", link=LinkSpec(f"l{i}", bandwidth_Bps=bandwidths[i], latency_s=latencies[i]))
    return Topology.from_graph(g)


def ring_graph(p, bandwidths, latencies):
    g = nx.Graph()
    for i in range(p):
        g.add_node(f"h{i}")
    for i in range(p):
        if (i + 1) % p != i and not g.has_edge(f"h{i}", f"h{(i + 1) % p}"):
            g.add_edge(f"h{i}", f"h{(i + 1) % p}", link=LinkSpec(f"l{i}", bandwidth_Bps=bandwidths[i],
                                                                latency_s=latencies[i]))
    return Topology.from_graph(g)


PROGRAMS = [("allreduce", "ring"), ("reducescatter", "ring"), ("allgather", "ring"), ("allreduce", "halving-doubling"),
            ("allreduce", "recursive-doubling"), ("allreduce", "binomial-tree"), ("broadcast", "binomial-tree"),
            ("reduce", "binomial-tree"), ("allreduce", "double-binary-tree"), ("alltoall", "direct"),
            ("allreduce", "direct")]


@st.composite
def cases(draw):
    op, alg = draw(st.sampled_from(PROGRAMS))
    p = draw(st.sampled_from([2, 4, 8])) if "doubling" in alg else draw(st.integers(2, 7))
    size = draw(st.sampled_from([0.0, 1e3, 3e6]) | st.floats(1e2, 1e7))
    params = {"chunks": draw(st.integers(1, 3))} if alg == "double-binary-tree" else {}
    program = build_program(op, alg, p, size, **params)
    base_bw = draw(st.sampled_from([1.25e9, 5e9]))
    link_slowdown = draw(st.lists(st.sampled_from([1.0, 1.0, 2.0, 10.0]), min_size=p, max_size=p))
    latency = draw(st.lists(st.sampled_from([0.0, 1e-6, 5e-6]), min_size=p, max_size=p))
    shape = draw(st.sampled_from(["switch", "ring"]))
    build = star if shape == "switch" else ring_graph
    topology = build(p, [base_bw / s for s in link_slowdown], latency)
    base_gamma = draw(st.sampled_from([0.0, 1e-10, 3e-10]))
    slowdown = draw(st.lists(st.sampled_from([1.0, 1.0, 1.5, 10.0]), min_size=p, max_size=p))
    gamma = base_gamma * np.array(slowdown)
    offsets = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 2e-6, 1e-4]) | st.floats(0.0, 1e-3),
                                     min_size=p, max_size=p)))
    return program, topology, gamma, offsets


REPLAYED_ON_A_SWITCH = {"ring", "halving-doubling", "recursive-doubling", "binomial-tree"}


@settings(max_examples=60, deadline=None)
@given(cases())
def test_straggler_runs_equal_the_event_by_event_reference(case):
    program, topology, gamma, offsets = case
    ref = reference(program, topology, gamma, offsets)
    fast, runner, _, _ = run(program, topology, gamma, offsets)
    slow, events, _, _ = run(program, topology, gamma, offsets, fast=False)
    assert not events.replayed
    if "sw" in topology.nodes and (program.algorithm in REPLAYED_ON_A_SWITCH or program.op == "alltoall"):
        assert runner.replayed
    np.testing.assert_allclose(fast, ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(slow, ref, rtol=RTOL, atol=0)
    assert runner.messages_started == events.messages_started == program.messages
    assert runner.bytes_started == pytest.approx(events.bytes_started, rel=1e-12)
    np.testing.assert_allclose(runner.reduce_busy_s, events.reduce_busy_s, rtol=1e-12, atol=0)


@pytest.mark.parametrize("op,alg,p", [("allreduce", "ring", 6), ("allreduce", "halving-doubling", 8),
                                      ("broadcast", "binomial-tree", 5), ("alltoall", "direct", 5)])
def test_contention_free_programs_on_a_switch_are_replayed(op, alg, p):
    program = build_program(op, alg, p, 1e6)
    gamma = np.linspace(0, 1e-9, p)
    finish, runner, net, _ = run(program, Topology.switch(p, LinkSpec("l", bandwidth_Bps=1e9, latency_s=1e-6)), gamma,
                                 np.zeros(p))
    assert runner.replayed and net.wakeups == 0
    assert net.flows_started == net.flows_finished == program.messages


@pytest.mark.parametrize("op,alg,shape", [("allreduce", "double-binary-tree", "switch"),  # two messages per port
                                          ("allreduce", "halving-doubling", "ring")])      # multi-hop sharing
def test_programs_that_may_share_a_link_take_the_event_path(op, alg, shape):
    program = build_program(op, alg, 8, 1e6)
    link = LinkSpec("l", bandwidth_Bps=1e9, latency_s=1e-6)
    topo = Topology.switch(8, link) if shape == "switch" else Topology.ring(8, link)
    _, runner, _, _ = run(program, topo, np.zeros(8), np.zeros(8))
    assert not runner.replayed and runner.time_s > 0


def test_one_slow_reducer_delays_every_ring_step_by_its_extra_reduction():
    """Hand check: on a switch the ring is lock-step, so each of the p-1 reduce-scatter steps
    waits for the straggler's reduction of n/p bytes at 10x gamma."""
    p, n, g = 8, 8e6, 1e-10
    program = build_program("allreduce", "ring", p, n)
    topo = Topology.switch(p, LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    uniform = run(program, topo, np.full(p, g), np.zeros(p))[1].time_s
    gamma = np.full(p, g)
    gamma[3] *= 10
    slow = run(program, topo, gamma, np.zeros(p))[1].time_s
    assert slow - uniform == pytest.approx((p - 1) * (n / p) * 9 * g, rel=1e-9)


def test_a_late_rank_delays_the_ring_by_its_offset():
    """A rank that joins late holds up its neighbours' first messages; on a lock-step ring
    everything shifts by its offset."""
    p, n = 5, 5e6
    program = build_program("allreduce", "ring", p, n)
    topo = Topology.switch(p, LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    offsets = np.zeros(p)
    offsets[2] = 1e-3
    on_time = run(program, topo, np.zeros(p), np.zeros(p))[1]
    late = run(program, topo, np.zeros(p), offsets)[1]
    assert late.time_s - on_time.time_s == pytest.approx(1e-3, rel=1e-9)


FOREIGN_CASES = [(0.0, 0, 1), (3e-4, 0, 1), (1.1e-3, 2, 0), (2e-3, 3, 1), (0.02, 0, 1)]


@pytest.mark.parametrize("t,a,b", FOREIGN_CASES)
def test_another_flow_on_a_reserved_link_hands_the_run_over_exactly(t, a, b):
    """A flow started mid-run on links of a replayed ring: the run continues event-driven
    from that instant, with the same rank finish times, foreign finish time and link
    statistics as a run that was event-driven throughout."""
    p, n = 4, 4e6
    program = build_program("allreduce", "ring", p, n)
    topo = Topology.switch(p, LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    gamma = np.array([1e-10, 2e-9, 1e-10, 1e-10])
    offsets = np.array([0.0, 0.0, 2e-4, 0.0])
    fast, runner, net, other = run(program, topo, gamma, offsets, foreign=(t, a, b, 3e5))
    slow, events, net2, other2 = run(program, topo, gamma, offsets, fast=False, foreign=(t, a, b, 3e5))
    np.testing.assert_allclose(fast, slow, rtol=RTOL)
    assert other == pytest.approx(other2, rel=RTOL)
    np.testing.assert_allclose(net.bytes_per_link, net2.bytes_per_link, rtol=1e-12)
    np.testing.assert_allclose(net.busy_s_per_link, net2.busy_s_per_link, rtol=1e-9)
    assert net.flows_finished == net2.flows_finished == program.messages + 1
    assert runner.messages_started == program.messages
    assert net.last_finish_s == pytest.approx(net2.last_finish_s, rel=RTOL)
    np.testing.assert_allclose(runner.reduce_busy_s, events.reduce_busy_s, rtol=1e-12)
    assert runner.replayed == (t > slow.max())


@settings(max_examples=25, deadline=None)
@given(cases(), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_hand_over_at_any_instant_equals_the_event_path(case, frac, pair):
    program, topology, gamma, offsets = case
    p = program.ranks
    slow, _, _, _ = run(program, topology, gamma, offsets, fast=False)
    t = frac * float(np.nanmax(slow)) if np.isfinite(np.nanmax(slow)) else 0.0
    a = pair % p
    b = (a + 1 + (pair // p) % (p - 1)) % p
    foreign = (t, a, b, 1e5)
    fast, _, net, other = run(program, topology, gamma, offsets, foreign=foreign)
    slow, _, net2, other2 = run(program, topology, gamma, offsets, fast=False, foreign=foreign)
    np.testing.assert_allclose(fast, slow, rtol=RTOL, atol=0)
    assert other == pytest.approx(other2, rel=RTOL)
    np.testing.assert_allclose(net.bytes_per_link, net2.bytes_per_link, rtol=1e-12, atol=1e-6)


def test_statistics_read_mid_replay_count_the_bytes_in_flight():
    p, n = 4, 4e6
    program = build_program("allreduce", "ring", p, n)
    topo = Topology.switch(p, LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    seen = []
    for fast in (True, False):
        sim = Simulation(0, trace=False)
        net = FlowNetwork(sim, topo, record_flows=False)
        CollectiveRun(net, program, gamma_s_per_B=1e-10, fast=fast).start()
        sim.run(until=1.7e-3)
        seen.append((net.bytes_per_link, net.busy_s_per_link, net.timeline().makespan_s))
        sim.run()
    np.testing.assert_allclose(seen[0][0], seen[1][0], rtol=1e-12)
    np.testing.assert_allclose(seen[0][1], seen[1][1], rtol=1e-9)
    assert seen[0][0].sum() > 0


def test_a_busy_link_at_start_means_the_event_path():
    p = 4
    program = build_program("allreduce", "ring", p, 4e6)
    topo = Topology.switch(p, LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    sim = Simulation(0, trace=False)
    net = FlowNetwork(sim, topo, record_flows=False)
    net.transfer(0, 1, 1e6)
    runner = CollectiveRun(net, program)
    runner.start()
    sim.run()
    assert not runner.replayed and math.isfinite(runner.time_s)


def test_trace_of_a_replayed_run_matches_the_event_path():
    program = build_program("allreduce", "ring", 4, 4e6)
    topo = Topology.switch(4, LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    spans = []
    for fast in (True, False):
        sim = Simulation(0, trace=True)
        net = FlowNetwork(sim, topo)
        CollectiveRun(net, program, gamma_s_per_B=np.array([1e-10, 1e-9, 0, 1e-10]), fast=fast).start()
        sim.run()
        spans.append(sorted((s.kind, s.resource, round(s.start_s, 15), round(s.end_s, 15), s.bytes, s.name)
                            for s in sim.trace.spans()))
    assert spans[0] == spans[1]


def test_bad_offsets_are_refused():
    program = build_program("allreduce", "ring", 3, 1e6)
    net = FlowNetwork(Simulation(0), Topology.switch(3, LinkSpec("l", bandwidth_Bps=1e9)))
    with pytest.raises(SpecError, match="start_offset_s"):
        CollectiveRun(net, program, start_offset_s=[0.0, -1.0, 0.0])
    with pytest.raises(SpecError, match="start_offset_s"):
        CollectiveRun(net, program, start_offset_s=[0.0, 1.0])
