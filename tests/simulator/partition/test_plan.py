"""PartitionPlan: outputs, transfer counts, task graphs and latency against independent references."""

import numpy as np
import pytest
import torch
from torch import nn

from hwmodels import Device, LinkSpec, SpecError
from simulator.cluster import Cluster
from simulator.executor import run
from simulator.network import Topology
from simulator.partition import PartitionContext, PartitionPlan, linear_specs, partition, sensor_owner


def tiny_mlp(sizes=(8, 12, 10, 3), seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers[:-1])


def per_worker_forward(plan, x):
    """Each worker keeps a store of the activations it owns or received; a neuron may read only
    from its worker's store (a missing activation raises KeyError). Returns outputs and the
    received (activation, destination) pairs per layer."""
    stores = [dict() for _ in range(plan.workers)]
    for i, k in enumerate(plan.input_owner):
        stores[k][("in", i)] = x[:, i]
    received = []
    prev = "in"
    for l in range(plan.num_layers):
        w, b, m, own = plan.weight[l], plan.bias[l], plan.mask[l], plan.owner[l]
        src_owner = plan.in_owner(l)
        pairs = set()
        for j in range(w.shape[0]):
            k = int(own[j])
            for i in torch.nonzero(m[j]).flatten().tolist():
                if src_owner[i] != k:
                    pairs.add((i, k))
        for i, k in pairs:  # the transfers: activation i from its owner to worker k
            stores[k][(prev, i)] = stores[src_owner[i]][(prev, i)]
        received.append(len(pairs))
        for j in range(w.shape[0]):
            k = int(own[j])
            acc = b[j].expand(x.shape[0]).clone()
            for i in torch.nonzero(m[j]).flatten().tolist():
                acc = acc + w[j, i] * stores[k][(prev, i)]
            stores[k][(l, j)] = torch.relu(acc) if plan.acts[l] == "relu" else acc
        prev = l
    out = torch.stack([stores[plan.fusion][(prev, j)] if plan.owner[-1][j] == plan.fusion
                       else stores[int(plan.owner[-1][j])][(prev, j)] for j in range(plan.weight[-1].shape[0])], 1)
    gather = int((plan.owner[-1] != plan.fusion).sum())
    return out, received + [gather]


@pytest.fixture(scope="module")
def setting():
    model = tiny_mlp()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=gen)
    ctx = PartitionContext(2, np.array([0, 0, 0, 0, 1, 1, 1, 1]), x)
    return model, ctx, x


def test_direct_parallel_reproduces_the_original_outputs(setting):
    model, ctx, x = setting
    plan = partition("direct", model, ctx)
    with torch.no_grad():
        assert torch.allclose(plan.to_torch()(x), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name,params", [("central", {}), ("direct", {}), ("pipeline", {}), ("sparse", {"keep": 0.5}),
                                         ("graphcut", {"keep": 0.5}), ("graphcut", {"keep": 0.5, "method": "spectral"}),
                                         ("repurpose", {"keep": 0.25}), ("repurpose", {"keep": 0.25, "refit": "nettrim"}),
                                         ("repurpose", {"keep": 0.5, "alternate": 1}),
                                         ("distill", {"hidden": [3, 2], "epochs": 2})])
def test_torch_model_equals_per_worker_execution_and_counts(setting, name, params):
    model, ctx, x = setting
    plan = partition(name, model, ctx, **params)
    ref, pairs = per_worker_forward(plan, x)
    with torch.no_grad():
        assert torch.allclose(plan.to_torch()(x), ref, atol=1e-5)
    assert plan.transfers_per_layer() == pairs


def test_transfer_counts_match_a_hand_count():
    # 4 inputs: 0, 1 on worker 0; 2, 3 on worker 1. Hidden: neurons 0, 1 on worker 0, neuron 2 on worker 1.
    w1 = torch.ones(3, 4)
    m1 = torch.tensor([[1, 0, 1, 0],   # worker 0 reads input 2 (foreign)
                       [1, 1, 1, 1],   # worker 0 reads 2 again and 3: inputs 2, 3 once each
                       [1, 0, 0, 1]],  # worker 1 reads input 0 (foreign)
                      dtype=torch.bool)
    w2 = torch.ones(2, 3)
    m2 = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)  # both outputs on worker 1 (fusion 0)
    plan = PartitionPlan(workers=2, input_owner=np.array([0, 0, 1, 1]), weight=[w1, w2], bias=[torch.zeros(3), torch.zeros(2)],
                         mask=[m1, m2], owner=[np.array([0, 0, 1]), np.array([1, 1])],
                         specs=linear_specs([4, 3, 2], ["relu", "none"]), fusion=0)
    # layer 0: worker 0 needs {2, 3} = 2, worker 1 needs {0} = 1; layer 1: worker 1 needs hidden {0, 1} = 2;
    # gather: 2 outputs from worker 1 to fusion 0.
    assert plan.transfers_per_layer() == [3, 2, 2]
    assert plan.transfer_matrix(0).tolist() == [[0, 1], [2, 0]]
    assert plan.macs_per_worker().tolist() == [[6, 2], [0, 4]]
    g = plan.task_graph(["a", "b"], batch=5, activation_bits=8)
    sends = g.of_kind("COMM_SEND")
    assert sum(s.bytes for s in sends) == pytest.approx(7 * 8 * 5 / 8)
    assert sum(n.flops for n in g.of_kind("COMP")) == pytest.approx(2 * 12 * 5)


def _cluster(bandwidth_Bps, workers=2):
    dev = Device(name="d", peak_flops={"fp32": 1e9}, mem_bandwidth_Bps=1e9, mem_capacity_B=1e9,
                 active_power_W=2.0, idle_power_W=1.0)
    link = LinkSpec(name="l", bandwidth_Bps=bandwidth_Bps, latency_s=1e-4)
    return Cluster(Topology.switch(workers, link), dev)


def test_latency_falls_with_faster_links_and_fewer_transfers(setting):
    model, ctx, _ = setting
    dense = partition("direct", model, ctx)
    lean = partition("repurpose", model, ctx, keep=0.25)
    assert lean.transfers_per_sample() < dense.transfers_per_sample()
    hosts = ["h0", "h1"]
    t = {(p.name, bw): run(p.task_graph(hosts, batch=64), _cluster(bw), trace=False).makespan_s
         for p in (dense, lean) for bw in (1e5, 1e7)}
    assert t[("direct", 1e7)] < t[("direct", 1e5)]
    assert t[("repurpose", 1e7)] < t[("repurpose", 1e5)]
    assert t[("repurpose", 1e5)] < t[("direct", 1e5)]


def test_plans_save_and_load(setting, tmp_path):
    model, ctx, x = setting
    plan = partition("repurpose", model, ctx, keep=0.25)
    back = PartitionPlan.load(plan.save(tmp_path / "p.pt"))
    assert back.transfers_per_layer() == plan.transfers_per_layer()
    assert all(np.array_equal(a, b) for a, b in zip(back.owner, plan.owner))
    with torch.no_grad():
        assert torch.equal(back.to_torch()(x), plan.to_torch()(x))


def test_sensor_maps():
    q = sensor_owner("quadrants", (1, 8, 8), 4).reshape(8, 8)
    assert q[0, 0] == 0 and q[0, 7] == 1 and q[7, 0] == 2 and q[7, 7] == 3 and np.bincount(q.ravel()).tolist() == [16] * 4
    assert sensor_owner("segments", (1, 40), 4).tolist() == [0] * 10 + [1] * 10 + [2] * 10 + [3] * 10


def test_bad_input_names_the_constraint(setting):
    model, ctx, x = setting
    with pytest.raises(SpecError, match="layer 2 has 3 neurons but there are 4 workers|has .* neurons but there are 16"):
        partition("direct", model, PartitionContext(16, np.arange(8) % 16, x))
    with pytest.raises(SpecError, match="input ownership covers 6 features but the inputs have 8"):
        PartitionContext(2, np.zeros(6, dtype=int), x)
    with pytest.raises(SpecError, match="keep: every budget must be a fraction"):
        partition("repurpose", model, ctx, keep=1.5)
    with pytest.raises(SpecError, match="capacity: give one non-negative share per worker"):
        partition("repurpose", model, ctx, share=[0.0, 0.0])
    with pytest.raises(SpecError, match="unknown partitioner 'nope'; known: central, direct"):
        partition("nope", model, ctx)


def test_distillation_finetuning_keeps_the_masks_and_lowers_the_loss(setting):
    import torch.nn.functional as F

    from simulator.partition.finetune import kd_finetune

    model, ctx, x = setting
    plan = partition("repurpose", model, ctx, keep=0.25)

    def kd(p):
        with torch.no_grad():
            return float(F.kl_div(F.log_softmax(p.to_torch()(x) / 4, 1), F.softmax(model(x) / 4, 1), reduction="batchmean"))

    tuned = partition("repurpose", model, ctx, keep=0.25, finetune=30, finetune_lr=1e-2)
    assert kd(tuned) < kd(plan)
    assert tuned.transfers_per_layer() == plan.transfers_per_layer()
    for w, m in zip(tuned.weight, tuned.mask):
        assert not w[~m].any()                      # pruned weights stay exactly zero
    assert kd_finetune(plan, model, x, (8,), epochs=0) is plan
    with pytest.raises(SpecError, match="epochs must be a non-negative integer"):
        kd_finetune(plan, model, x, (8,), epochs=-1)
