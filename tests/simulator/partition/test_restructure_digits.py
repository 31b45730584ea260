"""RePurpose-style restructuring and the optimiser on the digits MLP 64-128-128-10, 4 quadrant sensors."""

import numpy as np
import pytest

from hwmodels import Device, LinkSpec, SpecError
from simulator.cluster import Cluster
from simulator.data import load
from simulator.models import accuracy, trained
from simulator.network import Topology
from simulator.partition import OptimiserConfig, PartitionContext, Target, optimise, partition, pareto_front, sensor_owner


@pytest.fixture(scope="module")
def digits():
    ds = load("digits", seed=0)
    net = trained("mlp", "digits", seed=0, epochs=30, model_params={"hidden": [128, 128]})
    ctx = PartitionContext(4, sensor_owner("quadrants", ds.input_shape, 4), ds.x_train)
    return net, ds, ctx


def test_repurpose_keeps_accuracy_at_a_fraction_of_the_transfers(digits):
    net, ds, ctx = digits
    direct = partition("direct", net, ctx)
    assert direct.transfers_per_sample() == 192 + 384 + 96  # the spec's 672
    rp = partition("repurpose", net, ctx, keep=0.25)
    assert rp.transfers_per_sample() <= direct.transfers_per_sample() / 2
    assert accuracy(rp.to_torch(), ds.x_test, ds.y_test) >= 0.94
    # pruning the direct split without refit at equal communication loses much more
    pruned = partition("sparse", net, ctx, keep=0.25, refit="none")
    assert pruned.transfers_per_sample() == rp.transfers_per_sample()
    assert accuracy(pruned.to_torch(), ds.x_test, ds.y_test) < accuracy(rp.to_torch(), ds.x_test, ds.y_test) - 0.1


def test_distilled_students_talk_only_at_the_output(digits):
    net, ds, ctx = digits
    plan = partition("distill", net, ctx, hidden=[32, 8])
    # hidden layers block diagonal: student k reads only its own quadrant, then only its own neurons
    for l in range(2):
        own, src = plan.owner[l], plan.input_owner if l == 0 else plan.owner[l - 1]
        assert not (plan.mask[l].numpy() & (own[:, None] != src[None, :])).any()
    assert plan.transfers_per_layer() == [0, 0, 3 * 8, 0]   # three students' last hidden layers to the fusion
    assert accuracy(plan.to_torch(), ds.x_test, ds.y_test) >= 0.95   # 97.8 % measured
    again = partition("distill", net, ctx, hidden=[32, 8])
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(plan.weight, again.weight))  # seeded
    with pytest.raises(SpecError, match="hidden must list positive widths"):
        partition("distill", net, ctx, hidden=[0])


def _cluster(bandwidth_Bps):
    dev = Device(name="d", peak_flops={"fp32": 1e10}, mem_bandwidth_Bps=1e10, mem_capacity_B=1e9,
                 active_power_W=5.0, idle_power_W=1.0)
    return Cluster(Topology.switch(4, LinkSpec(name="l", bandwidth_Bps=bandwidth_Bps, latency_s=1e-5)), dev)


def test_optimiser_meets_its_target_and_returns_a_pareto_front(digits):
    net, ds, ctx = digits
    res = optimise(net, ctx, _cluster(1e5), ds.x_test, ds.y_test, OptimiserConfig(target=Target(max_accuracy_drop=0.03),
                   keeps=(1.0, 0.25, 0.05), baselines=("direct", "sparse"), batch=16))
    assert res.chosen.accuracy >= res.original_accuracy - 0.03
    ok = [e for e in res.candidates if e.accuracy >= res.original_accuracy - 0.03]
    assert res.chosen.latency_s == min(e.latency_s for e in ok)
    front = res.pareto
    for e in front:  # nothing dominates a front member
        assert not any(o.accuracy >= e.accuracy and o.latency_s <= e.latency_s and o.energy_j <= e.energy_j
                       and (o.accuracy, o.latency_s, o.energy_j) != (e.accuracy, e.latency_s, e.energy_j)
                       for o in res.candidates)
    assert pareto_front(front) == front
    grid = [e for e in res.candidates if e.partitioner == "repurpose" and e.params["search"] == "grid"]
    assert len(grid) == 3 and len(res.candidates) - len(grid) - 3 <= 4  # direct, sparse x 2, refine <= 4
    quarter = next(e for e in grid if e.params["keep"] == 0.25)
    under = optimise(net, ctx, _cluster(1e5), ds.x_test, ds.y_test, OptimiserConfig(
        target=Target(max_latency_s=quarter.latency_s), keeps=(1.0, 0.25, 0.05), baselines=(), batch=16, refine=0)).chosen
    assert under.latency_s <= quarter.latency_s and under.accuracy == max(
        e.accuracy for e in grid if e.latency_s <= quarter.latency_s)
    with pytest.raises(SpecError, match="no plan meets latency_s <= 1e-09"):
        optimise(net, ctx, _cluster(1e5), ds.x_test, ds.y_test, OptimiserConfig(target=Target(max_latency_s=1e-9),
                 keeps=(0.25,), baselines=()))
    # the chosen plan has fewer transfers on a slow link than on a fast one, or the same
    lat = {e.params["keep"]: e.latency_s for e in grid}
    assert lat[0.05] < lat[0.25] < lat[1.0]
    assert np.isfinite(res.wall_s)
