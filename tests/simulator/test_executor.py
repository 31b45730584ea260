"""The executor: compute on devices, transfers and collectives on the network, energy."""

import pytest

from hwmodels import Device, LinkSpec, SpecError
from simulator.cluster import Cluster
from simulator.collectives import NetParams, analytic_time
from simulator.collectives.analytic import reduction_gamma
from simulator.executor import run
from simulator.network import Topology
from simulator.taskgraph import TaskGraph

LINK = LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6, energy_per_bit_J=1e-12)
DEV = Device("dev", peak_flops={"fp32": 1e12}, mem_bandwidth_Bps=1e11, mem_capacity_B=1e10, active_power_W=100.0,
             idle_power_W=10.0)
FAST = Device("fast", peak_flops={"fp32": 4e12}, mem_bandwidth_Bps=4e11, mem_capacity_B=1e10, active_power_W=300.0)
W = ["h0", "h1", "h2", "h3"]


def cluster(p=4, **kw):
    return Cluster(Topology.switch(p, LINK), DEV, **kw)


def test_compute_is_roofline_times_slowdown_and_serialised_per_device():
    g = TaskGraph()
    a = g.compute("h0", flops=1e9)                     # 1 ms
    b = g.compute("h0", flops=2e9)                     # 2 ms, same device: after a
    c = g.compute("h1", bytes=1e8)                     # memory bound: 1 ms, x3 straggler
    res = run(g, cluster(slowdown={"h1": 3.0}))
    assert res.node_finish_s[a.id] == pytest.approx(1e-3)
    assert res.node_start_s[b.id] == pytest.approx(1e-3) and res.node_finish_s[b.id] == pytest.approx(3e-3)
    assert res.node_finish_s[c.id] == pytest.approx(3e-3)
    assert res.makespan_s == pytest.approx(3e-3)
    assert res.busy_s == {"h0": pytest.approx(3e-3), "h1": pytest.approx(3e-3)}


def test_heterogeneous_devices():
    topo = Topology.switch(2, LINK)
    g = TaskGraph()
    g.compute("h0", flops=4e9)
    g.compute("h1", flops=4e9)
    res = run(g, Cluster(topo, {"h0": DEV, "h1": FAST}))
    assert res.busy_s == {"h0": pytest.approx(4e-3), "h1": pytest.approx(1e-3)}


def test_send_recv_and_contention_in_des_but_not_analytic():
    g = TaskGraph()
    s1 = g.send("h0", "h2", 1e6)
    s2 = g.send("h1", "h2", 1e6)                       # shares h2's downlink with s1
    r = g.recv(s1, deps=[g.compute("h2", flops=5e9)])  # posted after a 5 ms compute
    one = 2 * 5e-6 + 1e6 / 1.25e9
    des = run(g, cluster())
    assert des.node_finish_s[s1.id] == pytest.approx(2 * 5e-6 + 2e6 / 1.25e9)
    assert des.node_finish_s[s2.id] == pytest.approx(2 * 5e-6 + 2e6 / 1.25e9)
    assert des.node_finish_s[r.id] == pytest.approx(5e-3)
    ana = run(g, cluster(), mode="analytic")
    assert ana.node_finish_s[s1.id] == pytest.approx(one)
    assert des.bytes == ana.bytes == 2e6
    assert des.network_energy_j == pytest.approx(ana.network_energy_j) == pytest.approx(2e6 * 8 * 2 * 1e-12)


def test_collective_node_uses_the_collective_runner_and_device_reductions():
    g = TaskGraph()
    fwd = [g.compute(w, flops=1e9) for w in W]
    ar = g.collective("allreduce", W, 4e7, algorithm="ring", deps=fwd)
    gamma = reduction_gamma(DEV)
    expected = 1e-3 + analytic_time("allreduce", "ring", 4, 4e7, NetParams.for_link(LINK, hops=2, gamma_s_per_B=gamma))
    for mode in ("des", "analytic"):
        res = run(g, cluster(), mode=mode)
        assert res.node_finish_s[ar.id] == pytest.approx(expected, rel=1e-9)
        assert res.bytes == pytest.approx(2 * 3 / 4 * 4e7 * 4)
        assert res.busy_s["h0"] == pytest.approx(1e-3 + 3 / 4 * 4e7 * gamma)
        kinds = {s.kind for s in res.timeline.spans}
        assert {"compute", "collective"} <= kinds
    free = run(g, cluster(), reductions=False)
    assert free.makespan_s < expected


def test_collective_waits_for_all_members_and_stragglers_delay_it():
    g = TaskGraph()
    fwd = [g.compute(w, flops=1e9) for w in W]
    ar = g.collective("allreduce", W, 4e6, deps=fwd)
    base = run(g, cluster(), reductions=False)
    slow = run(g, cluster(slowdown={"h2": 2.0}), reductions=False)
    assert slow.node_start_s[ar.id] == pytest.approx(2e-3)
    assert slow.node_finish_s[ar.id] - base.node_finish_s[ar.id] == pytest.approx(1e-3)


def test_parameter_server_collective_on_dedicated_hosts():
    g = TaskGraph()
    g.collective("allreduce", ["h0", "h1", "h2"], 3e6, algorithm="parameter-server", servers=["h3"])
    res = run(g, cluster(), reductions=False)
    assert res.makespan_s == pytest.approx(2 * (2 * 5e-6 + 3 * 3e6 / 1.25e9))


def test_energy_active_busy_plus_idle_waiting():
    g = TaskGraph()
    g.compute("h0", flops=1e9)                          # 1 ms busy
    g.compute("h1", flops=3e9)                          # 3 ms busy: the makespan
    res = run(g, cluster())
    assert res.energy_per_worker_j["h0"] == pytest.approx(100 * 1e-3 + 10 * 2e-3)
    assert res.energy_per_worker_j["h1"] == pytest.approx(100 * 3e-3)
    assert res.energy_j == pytest.approx(sum(res.energy_per_worker_j.values()))
    assert res.to_dict()["makespan_s"] == pytest.approx(3e-3)


def test_delay_and_explicit_duration():
    g = TaskGraph()
    d = g.delay(2e-3, worker="h0")
    c = g.compute("h0", duration_s=1e-3, deps=[d])
    res = run(g, cluster(slowdown={"h0": 2.0}))
    assert res.node_finish_s[c.id] == pytest.approx(4e-3)
    assert any(s.kind == "delay" for s in res.timeline.spans)


def test_bad_graphs_and_clusters():
    g = TaskGraph()
    g.compute("h7", flops=1.0)
    with pytest.raises(SpecError, match="unknown worker 'h7'"):
        run(g, cluster())
    with pytest.raises(SpecError, match="mode"):
        run(TaskGraph(), cluster(), mode="fast")
    with pytest.raises(SpecError, match="slowdown.*>= 1"):
        cluster(slowdown={"h0": 0.5})
    with pytest.raises(SpecError, match="unknown host"):
        cluster(slowdown={"x": 2.0})
    with pytest.raises(SpecError, match="no device for host 'h1'"):
        Cluster(Topology.switch(2, LINK), {"h0": DEV})


def test_trace_off_still_gives_totals():
    g = TaskGraph()
    g.collective("allgather", W, 4e6, algorithm="direct")
    res = run(g, cluster(), trace=False)
    assert res.makespan_s == pytest.approx(2 * 5e-6 + 3e6 / 1.25e9)
    assert res.timeline.spans == []


def test_energy_breakdown_is_the_hand_sum_of_idle_dynamic_and_link():
    """idle x makespan + (active - idle) x busy per device, + bits x energy per bit per link crossed."""
    g = TaskGraph()
    a = g.compute("h0", flops=2e9)                      # 2 ms on h0
    s = g.send("h0", "h1", 1e6, deps=[a])               # 2 links (h0 -> switch -> h1)
    g.compute("h1", flops=1e9, deps=[s])                # 1 ms on h1
    for mode in ("des", "analytic"):
        res = run(g, cluster(), mode=mode)
        t_send = 2 * 5e-6 + 1e6 / 1.25e9
        makespan = 2e-3 + t_send + 1e-3
        assert res.makespan_s == pytest.approx(makespan)
        hand = {"compute": (100 - 10) * (2e-3 + 1e-3), "idle": 10 * makespan * 2, "link": 1e6 * 8 * 2 * 1e-12,
                "radio": 0.0}
        assert res.energy_breakdown_j == pytest.approx(hand)
        assert res.energy_j == pytest.approx(sum(hand.values()))
        assert res.cost.energy_j == pytest.approx(res.energy_j) and res.cost.latency_s == res.makespan_s
        assert res.cost.bits == 8e6
        assert res.energy_per_worker_breakdown_j["h0"] == pytest.approx({"compute": 0.18, "idle": 10 * makespan,
                                                                          "radio": 0.0})


def test_uncharged_hosts_take_part_but_draw_nothing():
    g = TaskGraph()
    g.compute("h0", flops=1e9)
    g.compute("h3", flops=2e9)                          # a mains-powered server
    res = run(g, cluster(uncharged={"h3"}))
    assert set(res.energy_per_worker_j) == {"h0"}
    assert res.energy_j == pytest.approx(90 * 1e-3 + 10 * 2e-3)
    assert res.busy_s["h3"] == pytest.approx(2e-3)
