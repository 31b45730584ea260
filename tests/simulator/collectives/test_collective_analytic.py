"""Closed forms: hand calculations, the spec's formulas, ASTRA-sim's anchors, speed."""

import math
import time

import numpy as np
import pytest

from hwmodels import Device, LinkSpec, SpecError
from simulator.collectives import NetParams, analytic_time, net_params, build_program, pairs, reduction_gamma
from simulator.network import Topology

GiB = 2.0**30


def test_hand_computed_p4_ring_allreduce_1MB_10Gbps_5us():
    # ring topology: alpha = 5 us, beta = 1 / 1.25e9 s/B; 6 steps of 250 kB: 6 * (5e-6 + 2e-4) = 1.23 ms
    net = NetParams.for_link(LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6))
    assert analytic_time("allreduce", "ring", 4, 1e6, net) == pytest.approx(1.23e-3, rel=1e-12)
    # on a switch two hops: 6 * (10e-6 + 2e-4) = 1.26 ms
    sw = NetParams.for_link(LinkSpec("l", bandwidth_Bps=1.25e9, latency_s=5e-6), hops=2)
    assert analytic_time("allreduce", "ring", 4, 1e6, sw) == pytest.approx(1.26e-3, rel=1e-12)


@pytest.mark.parametrize("p,n,topo,textbook_ns,astra_ns", [
    (8, GiB, "ring", 35_007_000, 35_009_964),
    (64, 64 * 2.0**20, "switch", 2_586_938, 2_588_365),
])
def test_astra_anchor_numbers(p, n, topo, textbook_ns, astra_ns):
    """ASTRA-sim's analytical backend (spec): 50 GiB/s, 500 ns, one ring all-reduce."""
    link = LinkSpec("astra", bandwidth_Bps=50 * GiB, latency_s=500e-9)
    topology = Topology.ring(p, link) if topo == "ring" else Topology.switch(p, link)
    net = net_params(build_program("allreduce", "ring", p, n), topology)
    t_ns = analytic_time("allreduce", "ring", p, n, net) * 1e9
    assert round(t_ns) == textbook_ns                          # the textbook alpha-beta number, exactly
    assert abs(t_ns - astra_ns) <= abs(textbook_ns - astra_ns) + 1   # within the stated difference


A, B, G = 3e-6, 1 / 12.5e9, 2e-11
NET = NetParams(A, B, None, G)


def lg(p):
    return math.log2(p)


def clg(p):
    return math.ceil(math.log2(p))


# The spec's closed forms, written out independently of the implementation.
SPEC = {
    ("reducescatter", "ring"): lambda p, n: (p - 1) * A + (p - 1) / p * n * (B + G),
    ("allgather", "ring"): lambda p, n: (p - 1) * A + (p - 1) / p * n * B,
    ("allreduce", "ring"): lambda p, n: 2 * (p - 1) * A + 2 * (p - 1) / p * n * B + (p - 1) / p * n * G,
    ("allreduce", "recursive-doubling"): lambda p, n: lg(p) * (A + n * B + n * G),
    ("allreduce", "halving-doubling"): lambda p, n: 2 * lg(p) * A + 2 * (p - 1) / p * n * B + (p - 1) / p * n * G,
    ("reducescatter", "halving-doubling"): lambda p, n: lg(p) * A + (p - 1) / p * n * (B + G),
    ("allgather", "recursive-doubling"): lambda p, n: lg(p) * A + (p - 1) / p * n * B,
    ("allreduce", "binomial-tree"): lambda p, n: 2 * clg(p) * (A + n * B) + clg(p) * n * G,
    ("broadcast", "binomial-tree"): lambda p, n: clg(p) * (A + n * B),
    ("reduce", "binomial-tree"): lambda p, n: clg(p) * (A + n * B + n * G),
    ("gather", "binomial-tree"): lambda p, n: clg(p) * A + (p - 1) / p * n * B,
    ("broadcast", "ring"): lambda p, n: (clg(p) + p - 1) * A + 2 * (p - 1) / p * n * B,
    ("alltoall", "direct"): lambda p, n: (p - 1) * A + (p - 1) / p * n * B,
    # one-link hosts (port_beta = beta): p-1 flows share a host link
    ("allreduce", "direct"): lambda p, n: 2 * A + 2 * (p - 1) / p * n * B + (p - 1) / p * n * G,
    ("reducescatter", "direct"): lambda p, n: A + (p - 1) / p * n * B + (p - 1) / p * n * G,
    ("allgather", "direct"): lambda p, n: A + (p - 1) / p * n * B,
    ("broadcast", "direct"): lambda p, n: A + (p - 1) * n * B,
    ("reduce", "direct"): lambda p, n: A + (p - 1) * n * B + (p - 1) * n * G,
    ("gather", "direct"): lambda p, n: A + (p - 1) / p * n * B,
    ("allreduce", "parameter-server"): lambda p, n: 2 * (A + p * n * B) + p * n * G,   # S = 1
}


@pytest.mark.parametrize("op,alg", sorted(SPEC))
def test_closed_forms_are_the_specs(op, alg):
    for p in (2, 4, 8, 64, 1024) if "doubling" in alg else (2, 3, 5, 8, 100, 1000):
        for n in (0.0, 1e3, 3.3e8):
            assert analytic_time(op, alg, p, n, NET) == pytest.approx(SPEC[(op, alg)](p, n), rel=1e-12, abs=1e-15)


def test_parameter_server_shards_and_fully_connected_ports():
    p, n = 16, 1e8
    assert analytic_time("allreduce", "parameter-server", p, n, NET, shards=4) == pytest.approx(
        2 * (A + p * n / 4 * B) + p * n / 4 * G)
    # one link per peer: no sharing
    fc = NetParams(A, B, B / (p + 4 - 1))
    assert analytic_time("allreduce", "parameter-server", p, n, fc, shards=4) == pytest.approx(2 * (A + n / 4 * B))
    fc = NetParams(A, B, B / (p - 1))
    assert analytic_time("allreduce", "direct", p, n, fc) == pytest.approx(2 * (A + n / p * B))


def test_double_binary_tree_shape():
    p, n = 1024, 1e9
    one = analytic_time("allreduce", "double-binary-tree", p, n, NetParams(0.0, B), chunks=1)
    assert one == pytest.approx(2 * 10 * n * B)                  # c = 1: 2 log2(p) n beta
    many = analytic_time("allreduce", "double-binary-tree", p, n, NetParams(0.0, B), chunks=10_000)
    assert many == pytest.approx(2 * n * B, rel=0.01)            # the ring's bandwidth term


@pytest.mark.parametrize("op,alg", pairs())
def test_hundred_thousand_workers_under_10ms_per_call(op, alg):
    p = 131072 if "doubling" in alg else 100_000
    kw = {"chunks": 64} if alg == "double-binary-tree" else {}
    analytic_time(op, alg, p, GiB, NET, **kw)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        t = analytic_time(op, alg, p, GiB, NET, **kw)
    assert (time.perf_counter() - t0) / reps < 0.010
    assert t > 0 and math.isfinite(t)


def test_one_worker_costs_nothing():
    assert analytic_time("allreduce", "ring", 1, GiB, NET) == 0.0


LINK = LinkSpec("l", bandwidth_Bps=1e9, latency_s=2e-6)


def test_net_params_from_uniform_topologies_match_the_builders():
    for name, topo in (("switch", Topology.switch(6, LINK)), ("fully-connected", Topology.fully_connected(6, LINK))):
        assert NetParams.from_topology(topo) == NetParams.for_builder(name, 6, LINK)
    sw = NetParams.from_topology(Topology.switch(6, LINK))
    assert (sw.alpha_s, sw.beta_s_per_B, sw.port_beta) == (4e-6, 1e-9, 1e-9)


def test_net_params_on_a_ring_worst_and_best_paths():
    topo = Topology.ring(8, LINK)
    prog = build_program("allreduce", "recursive-doubling", 8, 1e6)      # distances 1, 2, 4
    worst = net_params(prog, topo)
    best = net_params(prog, topo, how="best")
    assert worst.alpha_s == pytest.approx(4 * 2e-6) and best.alpha_s == pytest.approx(2e-6)
    src = np.concatenate([p.src for p in prog.patterns])
    dst = np.concatenate([p.dst for p in prog.patterns])
    assert NetParams.for_builder("ring", 8, LINK, src, dst) == worst
    assert NetParams.for_builder("ring", 8, LINK, src, dst, how="best") == best
    ring = net_params(build_program("allreduce", "ring", 8, 1e6), topo)
    assert ring.alpha_s == pytest.approx(2e-6) and ring.port_beta == pytest.approx(0.5e-9)


def test_net_params_leaf_spine_sees_the_uplinks():
    topo = Topology.leaf_spine(4, 2, 1, LINK, oversubscription=4.0)
    worst = NetParams.from_topology(topo)
    assert worst.alpha_s == pytest.approx(4 * 2e-6) and worst.beta_s_per_B == pytest.approx(1e-9)


def test_net_params_validation():
    with pytest.raises(SpecError, match="alpha_s"):
        NetParams(-1.0, 1e-9)
    with pytest.raises(SpecError, match="beta_s_per_B"):
        NetParams(0.0, float("nan"))
    with pytest.raises(SpecError, match="worst"):
        NetParams.from_topology(Topology.ring(4, LINK), how="median")


def test_reduction_gamma_is_the_roofline_per_byte():
    dev = Device("d", peak_flops={"fp32": 1e12, "fp16": 4e12}, mem_bandwidth_Bps=1e11, mem_capacity_B=1e9,
                 active_power_W=10.0)
    n = 4e6
    assert reduction_gamma(dev) * n == pytest.approx(dev.time(n / 4, 3 * n))
    assert reduction_gamma(dev, "fp16", slowdown=2.0) * n == pytest.approx(2 * dev.time(n / 2, 3 * n, "fp16"))
    assert reduction_gamma(None) == 0.0
