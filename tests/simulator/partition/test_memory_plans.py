"""Per-worker memory in partitioning: capacities bounded by memory (brute force), a plan's memory
by hand, refusal at one byte over, and the optimiser leaving out what does not fit."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from hwmodels import SpecError, load_catalog
from simulator.cluster import Cluster
from simulator.memory import DoesNotFit, plan_memory
from simulator.network import Topology
from simulator.partition import OptimiserConfig, PartitionContext, Target, evaluate, optimise, partition
from simulator.partition.common import capacities


def test_memory_that_cannot_hold_a_layer_is_an_error():
    with pytest.raises(SpecError, match="memory holds 5 of the layer's 6 neurons"):
        capacities(6, 2, None, [2, 3])
    assert capacities(6, 2, None, [1, 9]).tolist() == [1, 5]   # the share memory takes goes elsewhere


def _tiny(workers=4):
    """A random 16-24-24-3 MLP labelling its own inputs (1,083 weights and biases)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 3)).eval()
    gen = torch.Generator().manual_seed(0)
    x, xt = torch.randn(300, 16, generator=gen), torch.randn(200, 16, generator=gen)
    with torch.no_grad():
        yt = net(xt).argmax(1)
    return net, PartitionContext(workers, np.repeat(np.arange(workers), 16 // workers), x), xt, yt


def _cluster(capacity_B, workers=4):
    cat = load_catalog()
    device = dataclasses.replace(cat.device("raspberry-pi-4b-4gb"), mem_capacity_B=float(capacity_B))
    return Cluster(Topology.switch(workers, cat.link("eth-1g")), device)


def test_plan_memory_by_hand():
    net, ctx, _, _ = _tiny()
    need = plan_memory(partition("direct", net, ctx), batch=4)
    # weights + biases: 6 x 17 and 6 x 25 per worker, and the 3 x 25 output layer on the fusion worker
    assert [n.weights_B for n in need] == [4 * 327, 4 * 252, 4 * 252, 4 * 252]
    # peak activations: the second layer's 24 inputs (6 own, 18 received) and 6 outputs, x batch 4
    assert [n.activations_B for n in need] == [4 * 4 * 30] * 4
    central = plan_memory(partition("central", net, ctx), batch=4)
    assert central[0].weights_B == 4 * 1083 and central[0].activations_B == 4 * 4 * 48   # 24 in + 24 out
    assert all(n.total_B == 4 * 4 * 4 for n in central[1:])   # sensors hold their 4 inputs


def test_a_plan_one_byte_over_is_refused():
    net, ctx, xt, yt = _tiny()
    plan = partition("direct", net, ctx)
    need = plan_memory(plan, batch=4)[0].total_B
    ev = evaluate(plan, _cluster(need), xt, yt, batch=4)
    assert ev.peak_memory_B_per_worker[0] == need and ev.feasibility == "ok"
    with pytest.raises(DoesNotFit, match=f"worker h0 needs {need:,.0f} B .* has {need - 1:,.0f} B"):
        evaluate(plan, _cluster(need - 1), xt, yt, batch=4)


def test_repurpose_gives_no_worker_more_neurons_than_its_memory_holds():
    net, ctx, _, _ = _tiny()
    ctx.memory_B = [4332.0, 433.2, 4332.0, 4332.0]   # worker 1 holds a tenth of the model
    plan = partition("repurpose", net, ctx, keep=0.5, spread=4, alternate=1)
    for l in range(2):
        assert np.bincount(plan.owner[l], minlength=4)[1] <= 2   # floor(24 x 0.1)
    assert plan.weights_per_worker()[1] * 4 <= 433.2


def test_optimiser_leaves_out_what_does_not_fit_and_counts_it():
    net, ctx, xt, yt = _tiny()
    res = optimise(net, ctx, _cluster(3000), xt, yt, OptimiserConfig(target=Target(max_accuracy_drop=0.5),
                   keeps=(0.5, 0.25), baselines=("central", "direct"), batch=4, refine=0))
    central = next(e for e in res.candidates if e.partitioner == "central")
    assert central.feasibility.startswith("infeasible: plan central: worker h0 needs 5,100 B")
    assert central.row()["latency_s"] is None and central not in res.pareto and res.chosen is not central
    assert res.infeasible == {"memory": 1} and all(e.feasible for e in res.pareto)
    with pytest.raises(DoesNotFit, match="no candidate fits"):
        optimise(net, ctx, _cluster(500), xt, yt, OptimiserConfig(keeps=(0.5,), baselines=("central",), batch=4, refine=0))


@pytest.mark.parametrize("seed", range(6))
def test_pipeline_stages_fit_their_workers_memory_against_brute_force(seed):
    from simulator.partition.pipeline import balanced_stages

    rng = np.random.default_rng(seed)
    n, stages = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    costs, sizes = rng.random(n).tolist(), rng.random(n).tolist()
    capacity = (rng.random(stages) * 2.0).tolist()
    best = np.inf
    for cuts in itertools.chain.from_iterable(itertools.combinations(range(1, n), r) for r in range(min(stages, n))):
        edges = [0, *cuts, n]
        if all(sum(sizes[a:b]) <= capacity[k] for k, (a, b) in enumerate(zip(edges[:-1], edges[1:]))):
            best = min(best, max(sum(costs[a:b]) for a, b in zip(edges[:-1], edges[1:])))
    if not np.isfinite(best):
        with pytest.raises(DoesNotFit):
            balanced_stages(costs, stages, sizes, capacity)
        return
    got = balanced_stages(costs, stages, sizes, capacity)
    for k in set(got):
        assert sum(z for z, s in zip(sizes, got) if s == k) <= capacity[k]
    assert max(sum(c for c, s in zip(costs, got) if s == k) for k in set(got)) == pytest.approx(best)
