"""A training step's task graph: its simulated time is the hand-computed critical path."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import Device, LinkSpec
from simulator.cluster import Cluster
from simulator.learning import StepCoster, StepPlan, step_graph
from simulator.network import Topology

DEV = Device(name="d", peak_flops={"fp32": 1e9}, mem_bandwidth_Bps=1e10, mem_capacity_B=1e9,
             active_power_W=5.0, idle_power_W=1.0)
B, L = 1e6, 1e-4           # 1 MB/s per direction, 100 us per link (two links host-switch-host)


def plan(workers, servers, sync, payload=(2000.0, 2000.0)):
    return StepPlan(workers=workers, servers=servers, sync=sync, compute_flops=3e6, compute_bytes=1e4,
                    payload_bytes=payload, encode_s=(2e-3,) * len(workers),
                    decode_s=(1e-3,) * (len(workers) + len(servers)), dense_bytes=8000.0,
                    update_flops=2e5, update_bytes=0.0)


def cluster(hosts, **kw):
    return Cluster(Topology.switch(hosts, LinkSpec(name="l", bandwidth_Bps=B, latency_s=L)), DEV, **kw)


def test_parameter_server_step_is_the_hand_computed_critical_path():
    p = plan(("h0", "h1"), ("h2",), "ps")
    cost = StepCoster(cluster(3)).cost(p)
    compute = max(3e6 / 1e9, 1e4 / 1e10)            # 3 ms, compute-bound
    push = 2 * L + 2 * 2000 / B                     # both pushes share the switch -> server link
    decode = 2 * 1e-3                                # the one shard decodes both payloads
    pull = 2 * L + 2 * 8000 / B                     # both pulls share the server -> switch link
    update = 2e5 / 1e9
    assert cost.time_s == pytest.approx(compute + 2e-3 + push + decode + pull + update, rel=1e-9)
    # Energy: workers busy compute+encode+update, the server its decode; idle power the rest.
    busy_w, busy_s = compute + 2e-3 + update, decode
    expect = 2 * (5 * busy_w + 1 * (cost.time_s - busy_w)) + 5 * busy_s + 1 * (cost.time_s - busy_s)
    assert cost.energy_j == pytest.approx(expect, rel=1e-9)
    assert cost.network_bytes == pytest.approx(2 * 2000 + 2 * 8000)


def test_allgather_step_is_the_hand_computed_critical_path():
    cost = StepCoster(cluster(2)).cost(plan(("h0", "h1"), (), "allgather", payload=(1500.0, 2000.0)))
    # Ring all-gather of 2 x 2000 B (blocks padded to the largest): one step, each sends 2000 B,
    # on separate directed links; then each worker decodes both payloads.
    expect = 3e-3 + 2e-3 + (2 * L + 2000 / B) + 2 * 1e-3 + 2e5 / 1e9
    assert cost.time_s == pytest.approx(expect, rel=1e-9)


def test_each_worker_encodes_and_decodes_at_its_own_speed():
    p = StepPlan(workers=("h0", "h1"), servers=(), sync="allgather", compute_flops=3e6, compute_bytes=1e4,
                 payload_bytes=(2000.0, 2000.0), encode_s=(1e-3, 4e-3), decode_s=(1e-3, 2e-3), dense_bytes=8000.0,
                 update_flops=2e5, update_bytes=0.0)
    cost = StepCoster(cluster(2)).cost(p)
    # the all-gather waits for h1's encode; then h1 decodes both payloads at 2 ms each
    assert cost.time_s == pytest.approx(3e-3 + 4e-3 + (2 * L + 2000 / B) + 2 * 2e-3 + 2e5 / 1e9, rel=1e-9)


def test_straggler_and_cache():
    coster = StepCoster(cluster(3, slowdown={"h1": 2.0}))
    p = plan(("h0", "h1"), ("h2",), "ps")
    t = coster.cost(p).time_s
    assert coster.cost(p).time_s == t and coster.simulated == 1
    # h1 computes and encodes twice as long (+5 ms); its push no longer shares the server's link
    # with h0's (-2 ms: 2000 B alone instead of 4000 B together); its update is doubled (+0.2 ms).
    base = StepCoster(cluster(3)).cost(p).time_s
    assert t - base == pytest.approx(5e-3 - 2000 / B + 2e5 / 1e9, rel=1e-9)


def test_graph_shape():
    g = step_graph(plan(("h0", "h1"), (), "allreduce"))
    assert [n.kind for n in g.of_kind("COMM_COLL")] == ["COMM_COLL"] and g[4].name == "allreduce"
    single = step_graph(plan(("h0",), (), "allreduce", payload=(10.0,)))
    assert not single.of_kind("COMM_COLL")


@settings(max_examples=25, deadline=None)
@given(payload=st.lists(st.floats(0.0, 1e7), min_size=3, max_size=3),
       sync=st.sampled_from(["allreduce", "allgather", "ps"]), faster=st.floats(1.0, 1e3))
def test_faster_links_never_lengthen_a_step(payload, sync, faster):
    workers, servers = ("h0", "h1", "h2"), (("h3",) if sync == "ps" else ())
    p = StepPlan(workers=workers, servers=servers, sync=sync, compute_flops=1e6, compute_bytes=0.0,
                 payload_bytes=tuple(payload), encode_s=(1e-4,) * 3, decode_s=(1e-4,) * (3 + len(servers)), dense_bytes=4e5,
                 update_flops=1e4, update_bytes=0.0)
    slow = Cluster(Topology.switch(4, LinkSpec(name="s", bandwidth_Bps=B, latency_s=L)), DEV)
    fast = Cluster(Topology.switch(4, LinkSpec(name="f", bandwidth_Bps=B * faster, latency_s=L / faster)), DEV)
    assert StepCoster(fast).cost(p).time_s <= StepCoster(slow).cost(p).time_s * (1 + 1e-12)
