"""A training step's task graph: its simulated time is the hand-computed critical path, with
and without DDP-style overlap of bucketed communication and the backward pass."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels import Device, LinkSpec
from simulator.cluster import Cluster
from simulator.collectives.analytic import reduction_gamma
from simulator.learning import BucketPlan, StepCoster, StepPlan, bucket_layout, step_graph
from simulator.network import Topology

DEV = Device(name="d", peak_flops={"fp32": 1e9}, mem_bandwidth_Bps=1e10, mem_capacity_B=1e9,
             active_power_W=5.0, idle_power_W=1.0)
B, L = 1e6, 1e-4           # 1 MB/s per direction, 100 us per link (two links host-switch-host)


def plan(workers, servers, sync, payload=(2000.0, 2000.0), encode_s=2e-3, decode_s=1e-3):
    """The step of the older single-bucket model: 3 MFLOP of forward+backward, one bucket."""
    bucket = BucketPlan(0, tuple(payload), 8000.0, (0.0, 0.0), (0.0, 0.0), encode_s, decode_s)
    return StepPlan(workers=workers, servers=servers, sync=sync, forward=(1e6, 0.0), backward=(((2e6, 1e4),),),
                    buckets=(bucket,), update=(2e5, 0.0))


def cluster(hosts, **kw):
    return Cluster(Topology.switch(hosts, LinkSpec(name="l", bandwidth_Bps=B, latency_s=L)), DEV, **kw)


def test_parameter_server_step_is_the_hand_computed_critical_path():
    p = plan(("h0", "h1"), ("h2",), "ps")
    cost = StepCoster(cluster(3)).cost(p)
    compute = 1e6 / 1e9 + max(2e6 / 1e9, 1e4 / 1e10)   # forward 1 ms, backward 2 ms (compute-bound)
    push = 2 * L + 2 * 2000 / B                     # both pushes share the switch -> server link
    decode = 2 * 1e-3                                # the one shard decodes both payloads
    pull = 2 * L + 2 * 8000 / B                     # both pulls share the server -> switch link
    update = 2e5 / 1e9
    assert cost.makespan_s == pytest.approx(compute + 2e-3 + push + decode + pull + update, rel=1e-9)
    # Energy: idle power over the step for every host, dynamic (5 - 1 W) while busy.
    busy_w, busy_s = compute + 2e-3 + update, decode
    expect = 3 * 1 * cost.makespan_s + 4 * (2 * busy_w + busy_s)
    assert cost.energy_j == pytest.approx(expect, rel=1e-9)
    assert cost.energy_breakdown_j["idle"] == pytest.approx(3 * cost.makespan_s, rel=1e-9)
    assert cost.bytes == pytest.approx(2 * 2000 + 2 * 8000)
    assert cost.sent_bytes_per_host == pytest.approx({"h0": 2000, "h1": 2000, "h2": 2 * 8000})


def test_allgather_step_is_the_hand_computed_critical_path():
    cost = StepCoster(cluster(2)).cost(plan(("h0", "h1"), (), "allgather", payload=(1500.0, 2000.0)))
    # Ring all-gather of 2 x 2000 B (blocks padded to the largest): one step, each sends 2000 B,
    # on separate directed links; then each worker decodes both payloads.
    expect = 3e-3 + 2e-3 + (2 * L + 2000 / B) + 2 * 1e-3 + 2e5 / 1e9
    assert cost.makespan_s == pytest.approx(expect, rel=1e-9)


def test_codec_work_is_priced_at_the_devices_codec_efficiency():
    work = BucketPlan(0, (2000.0, 2000.0), 8000.0, (4e6, 0.0), (1e6, 0.0))
    p = StepPlan(("h0", "h1"), (), "allgather", (1e6, 0.0), (((2e6, 0.0),),), (work,), (2e5, 0.0))
    eff = DEV.codec_fraction
    cost = StepCoster(cluster(2)).cost(p)
    expect = 3e-3 + 4e6 / (1e9 * eff) + (2 * L + 2000 / B) + 2 * 1e6 / (1e9 * eff) + 2e5 / 1e9
    assert cost.makespan_s == pytest.approx(expect, rel=1e-9)


def test_straggler_and_cache():
    coster = StepCoster(cluster(3, slowdown={"h1": 2.0}))
    p = plan(("h0", "h1"), ("h2",), "ps")
    t = coster.cost(p).makespan_s
    assert coster.cost(p).makespan_s == t and coster.simulated == 1
    # h1 computes and encodes twice as long (+5 ms); its push no longer shares the server's link
    # with h0's (-2 ms: 2000 B alone instead of 4000 B together); its update is doubled (+0.2 ms).
    base = StepCoster(cluster(3)).cost(p).makespan_s
    assert t - base == pytest.approx(5e-3 - 2000 / B + 2e5 / 1e9, rel=1e-9)


def test_graph_shape():
    g = step_graph(plan(("h0", "h1"), (), "allreduce"))
    assert [n.name for n in g.of_kind("COMM_COLL")] == ["allreduce/b0"]
    assert {n.phase for n in g} == {"forward", "backward", "b0", "update"}
    single = step_graph(plan(("h0",), (), "allreduce", payload=(10.0,)))
    assert not single.of_kind("COMM_COLL")


# ---------------------------------------------------------------------- overlap
def three_layer(overlap: bool):
    """A 3-layer model on 2 workers: backward segments of 3, 2 and 1 ms (last layer first); two
    buckets: b0 holds layer 3's gradients (ready after 3 ms of backward), b1 layers 2 and 1's.
    Without overlap: one bucket of both payloads after the whole backward pass."""
    backward = (((3e6, 0.0),), ((2e6, 0.0),), ((1e6, 0.0),))
    if overlap:
        buckets = (BucketPlan(0, (4000.0, 4000.0), 4000.0, (0.0, 0.0), (0.0, 0.0), 0.5e-3, 0.25e-3),
                   BucketPlan(2, (6000.0, 6000.0), 6000.0, (0.0, 0.0), (0.0, 0.0), 0.75e-3, 0.25e-3))
    else:
        buckets = (BucketPlan(2, (10000.0, 10000.0), 10000.0, (0.0, 0.0), (0.0, 0.0), 1.25e-3, 0.5e-3),)
    return StepPlan(("h0", "h1"), (), "allreduce", (2e6, 0.0), backward, buckets, (1e5, 0.0))


def ring2(nbytes, reduce=True):
    """Ring all-reduce of ``nbytes`` on 2 ranks through a switch: 2 steps of nbytes/2 each way,
    and each rank reduces the half it receives in the first step (the device's roofline)."""
    return 2 * (2 * L + nbytes / 2 / B) + (nbytes / 2 * reduction_gamma(DEV) if reduce else 0.0)


def test_overlap_step_equals_the_hand_timeline():
    cost = StepCoster(cluster(2)).cost(three_layer(True))
    # forward 2 ms; bwd 3 ms -> encode b0 0.5 ms (t = 5.5 ms) -> bwd 2 ms and 1 ms (t = 8.5 ms)
    # -> encode b1 0.75 ms (t = 9.25 ms). all-reduce b0 starts at 5.5 ms and runs 4.4 ms (to 9.9 ms,
    # hidden behind the backward pass but for 1.4 ms); its decode takes the idle device 9.9 -> 10.15
    # ms. all-reduce b1 waits for b0's (one stream): 9.9 -> 16.3 ms, decode to 16.55, update 0.1 ms.
    ar0, ar1 = ring2(4000.0), ring2(6000.0)
    assert (ring2(4000.0, False), ring2(6000.0, False)) == pytest.approx((4.4e-3, 6.4e-3))
    t_ar1_end = 5.5e-3 + ar0 + ar1
    assert cost.makespan_s == pytest.approx(t_ar1_end + 0.25e-3 + 0.1e-3, rel=1e-9)
    none = StepCoster(cluster(2)).cost(three_layer(False))
    # 2 + 6 ms compute, encode 1.25 ms, one all-reduce of 10 kB, decode 0.5 ms, update 0.1 ms
    assert none.makespan_s == pytest.approx(8e-3 + 1.25e-3 + ring2(10000.0) + 0.5e-3 + 0.1e-3, rel=1e-9)
    assert cost.makespan_s < none.makespan_s


@settings(max_examples=30, deadline=None)
@given(split=st.floats(0.05, 0.95), payload=st.floats(1e2, 1e5), bw=st.floats(1e5, 1e9))
def test_overlap_step_lies_between_max_and_sum_of_compute_and_communication(split, payload, bw):
    """With free codecs, a bucketed step takes at least the longer of compute and communication
    and at most their sum plus the latency each extra bucket adds."""
    backward = (((3e6, 0.0),), ((2e6, 0.0),), ((1e6, 0.0),))
    first, second = payload * split, payload * (1 - split)
    buckets = (BucketPlan(0, (first,) * 2, first, (0.0, 0.0), (0.0, 0.0)),
               BucketPlan(2, (second,) * 2, second, (0.0, 0.0), (0.0, 0.0)))
    p = StepPlan(("h0", "h1"), (), "allreduce", (2e6, 0.0), backward, buckets, (1e5, 0.0))
    c = Cluster(Topology.switch(2, LinkSpec(name="l", bandwidth_Bps=bw, latency_s=L)), DEV)
    t = StepCoster(c).cost(p).makespan_s
    compute = 8e-3 + 1e-4
    comm = 2 * (2 * L + payload / 2 / bw)   # the ring without its reductions: a lower bound
    assert max(compute, comm) <= t * (1 + 1e-12)
    assert t <= (compute + comm + payload / 2 * reduction_gamma(DEV) + 2 * 2 * L) * (1 + 1e-12)


def test_bucket_layout_is_ddps():
    """Reverse parameter order, a first bucket of at least first_B, then buckets of at least cap_B."""
    mib = 2 ** 20
    sizes = [0.5 * mib, 4 * mib, 0.25 * mib, 0.75 * mib, 30 * mib, 0.5 * mib]
    assert bucket_layout(sizes, 25 * mib, mib) == [[5, 4], [3, 2, 1, 0]]
    assert bucket_layout(sizes, 2 * mib, mib) == [[5, 4], [3, 2, 1], [0]]
    assert bucket_layout([1.0] * 4, 1e9, 1e9) == [[3, 2, 1, 0]]


@settings(max_examples=25, deadline=None)
@given(payload=st.lists(st.floats(0.0, 1e7), min_size=3, max_size=3),
       sync=st.sampled_from(["allreduce", "allgather", "ps"]), faster=st.floats(1.0, 1e3))
def test_faster_links_never_lengthen_a_step(payload, sync, faster):
    workers, servers = ("h0", "h1", "h2"), (("h3",) if sync == "ps" else ())
    bucket = BucketPlan(0, tuple(payload), 4e5, (0.0, 0.0), (0.0, 0.0), 1e-4, 1e-4)
    p = StepPlan(workers, servers, sync, (0.0, 0.0), (((1e6, 0.0),),), (bucket,), (1e4, 0.0))
    slow = Cluster(Topology.switch(4, LinkSpec(name="s", bandwidth_Bps=B, latency_s=L)), DEV)
    fast = Cluster(Topology.switch(4, LinkSpec(name="f", bandwidth_Bps=B * faster, latency_s=L / faster)), DEV)
    assert StepCoster(fast).cost(p).makespan_s <= StepCoster(slow).cost(p).makespan_s * (1 + 1e-12)


def test_a_backward_node_prices_each_layer_on_its_own_roofline():
    """One node of two layers, one compute-bound and one memory-bound: the sum of two rooflines,
    not the roofline of the sums."""
    layers = ((2e6, 0.0), (0.0, 2e7))                   # 2 ms of FLOPs, then 2 ms of memory traffic
    p = StepPlan(("h0",), (), "allreduce", (0.0, 0.0), (layers,), (BucketPlan(0, (1.0,), 4.0, (0.0, 0.0), (0.0, 0.0)),),
                 (0.0, 0.0))
    assert StepCoster(cluster(2)).cost(p).makespan_s == pytest.approx(4e-3, rel=1e-12)


def test_every_node_pays_its_calls_at_the_devices_per_call_overhead():
    """Forward, each backward node and the encode add calls x 10 us to their rooflines."""
    slow_calls = Device(name="c", peak_flops={"fp32": 1e9}, mem_bandwidth_Bps=1e10, mem_capacity_B=1e9,
                        active_power_W=5.0, codec_efficiency=1.0, call_overhead_s=1e-5)
    layers = ((2e6, 0.0), (0.0, 2e7))                   # 4 ms of rooflines, as above
    bucket = BucketPlan(0, (1.0,), 4.0, (1e6, 0.0, 30), (0.0, 0.0, 20))   # encode 1 ms + 30 calls; decode 20 calls
    p = StepPlan(("h0",), (), "allreduce", (1e6, 0.0), (layers,), (bucket,), (0.0, 0.0), forward_calls=7,
                 backward_calls=(40,))
    one = Cluster(Topology.switch(2, LinkSpec(name="l", bandwidth_Bps=B, latency_s=L)), slow_calls)
    # one worker: forward 1 ms, backward 4 ms, encode 1 ms (nothing to exchange, so no decode);
    # calls 7 + 40 + 30 of 10 us
    assert StepCoster(one).cost(p).makespan_s == pytest.approx(6e-3 + 77 * 1e-5, rel=1e-12)
    # without calls in the plan the same device prices the rooflines alone
    bare = StepPlan(("h0",), (), "allreduce", (1e6, 0.0), (layers,),
                    (BucketPlan(0, (1.0,), 4.0, (1e6, 0.0), (0.0, 0.0)),), (0.0, 0.0))
    assert StepCoster(one).cost(bare).makespan_s == pytest.approx(6e-3, rel=1e-12)
