"""Residual blocks (read with torch.fx), coupled assignments, and activations quantised in transit."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import SpecError
from simulator.models import build
from simulator.partition import PartitionContext, PartitionPlan, partition, sensor_owner
from simulator.partition.layers import coupled_groups, extract
from simulator.partition.maskednet import quantise
from simulator.partition.wireless_cost import layer_groups


def tiny_resnet():
    net = build("resnet8", (1, 8, 8), 3, seed=0, width=4)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def setting():
    x = torch.randn(60, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    owner = sensor_owner("quadrants", (1, 8, 8), 4)
    return tiny_resnet(), PartitionContext(4, owner, x, input_shape=(1, 8, 8)), x


def test_fx_reads_the_blocks_and_couples_the_adds(setting):
    model, ctx, _ = setting
    specs, _, _ = extract(model, (1, 8, 8))
    # stem, b1.conv1, b1.conv2(+stem), b2.conv1, b2.short, b2.conv2(+short), b3.conv1, b3.short, b3.conv2(+short), fc
    assert [sp.residual for sp in specs] == [None, None, 0, None, None, 4, None, None, 7, None]
    assert [sp.source(l) for l, sp in enumerate(specs)] == [-1, 0, 1, 2, 2, 3, 5, 5, 6, 8]
    assert coupled_groups(specs) == [0, 1, 0, 3, 4, 4, 6, 7, 7, 9]
    assert specs[8].gap and specs[8].out_shape == (16, 1, 1) and specs[8].pre_shape == (16, 2, 2)
    assert specs[4].act == "none" and specs[5].act == "relu"


def reference(plan, x):
    """Per-worker execution written apart from the plan: a worker holds the values it owns or
    received; everything else is NaN, so a missing transfer poisons the output. Counts the
    (unit, destination) pairs it had to receive, per layer."""
    outs = {-1: x.reshape(len(x), -1)}
    owners = {-1: torch.as_tensor(plan.input_owner)}
    pairs = []
    for l, sp in enumerate(plan.specs):
        src = l - 1 if sp.src is None else sp.src
        w, b, m, own = plan.weight[l], plan.bias[l], plan.mask[l], torch.as_tensor(plan.owner[l])
        inp = outs[src].reshape(len(x), *sp.in_shape)
        if src < 0:
            feat_owner = owners[-1].reshape(sp.in_shape)
        else:
            feat_owner = torch.repeat_interleave(owners[src], math.prod(plan.specs[src].out_shape[1:])).reshape(sp.in_shape)
        n = 0
        views = []
        for k in range(plan.workers):
            have = feat_owner == k
            for i in torch.nonzero(m[own == k].any(0)).flatten().tolist():
                n += len(set(feat_owner[i].reshape(-1).tolist()) - {k})
                have[i] = True
            views.append(torch.where(have, inp, torch.nan))
        cols = []
        for j in range(w.shape[0]):
            view, keep = views[int(own[j])], torch.nonzero(m[j]).flatten()
            if sp.conv:
                cols.append(F.conv2d(view[:, keep], w[j:j + 1, keep], b[j:j + 1], stride=sp.stride, padding=sp.padding)[:, 0])
            else:
                cols.append(view[:, keep] @ w[j, keep] + b[j])
        h = torch.stack(cols, 1)
        if sp.residual is not None:
            r_owner = owners[sp.residual]
            n += int((r_owner != own).sum())  # channel j of the shortcut moves to channel j's owner
            h = h + outs[sp.residual].reshape(h.shape)
        h = torch.relu(h) if sp.act == "relu" else h
        if sp.gap:
            h = h.mean(dim=(2, 3), keepdim=True)
        outs[l], owners[l] = h, own
        pairs.append(n)
    return outs[len(plan.specs) - 1].reshape(len(x), -1), pairs + [int((plan.owner[-1] != plan.fusion).sum())]


@pytest.mark.parametrize("name,params", [("central", {}), ("direct", {}), ("pipeline", {}), ("sparse", {"keep": 0.5}),
                                         ("graphcut", {"keep": 0.5}), ("repurpose", {"keep": 0.3})])
def test_resnet_plan_equals_per_worker_execution(setting, name, params):
    model, ctx, x = setting
    plan = partition(name, model, ctx, **params)
    want, pairs = reference(plan, x)
    got = plan.to_torch()(x)
    assert not torch.isnan(want).any()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert plan.transfers_per_layer() == pairs
    if name in ("central", "direct", "pipeline"):  # dense plans compute the original model
        torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-4)


def test_coupled_layers_share_owners_so_adds_are_local(setting):
    model, ctx, _ = setting
    for name in ("direct", "repurpose", "sparse", "graphcut"):
        plan = partition(name, model, ctx)
        for l, sp in enumerate(plan.specs):
            if sp.residual is not None and sp.residual >= 0:
                assert np.array_equal(plan.owner[l], plan.owner[sp.residual])
                assert plan.residual_matrix(l).sum() == 0


def test_residual_transfers_are_counted_when_owners_differ(setting):
    model, ctx, x = setting
    plan = partition("direct", model, ctx)
    plan.owner[1] = np.roll(plan.owner[1], 1)  # b1.conv1 moves: b1.conv2 reads it (4 channels, 1 moved per block)
    plan.owner[2] = np.roll(plan.owner[2], 1)  # b1.conv2 no longer matches its shortcut (the stem)
    moved = int((plan.owner[2] != plan.owner[0]).sum())
    assert moved == 4
    assert plan.residual_matrix(2).sum() == moved
    assert plan.residual_matrix(2, values=True).sum() == moved * 64  # one 8x8 feature map each
    assert reference(plan, x)[1] == plan.transfers_per_layer()
    graph = plan.task_graph([f"h{k}" for k in range(4)])
    assert sum(1 for node in graph if node.name.startswith("L2/") and "->" in node.name) >= 1
    sent = np.zeros(4)  # over a broadcast medium the shortcut values go out once too
    for s, _, v in layer_groups(plan, 2):
        sent[s] += v
    assert np.allclose(sent, plan.broadcast_values(2))


def test_unsupported_graphs_are_clear_errors():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(torch.sigmoid(self.a(x)))

    with pytest.raises(SpecError, match="unsupported operation sigmoid"):
        extract(Branchy(), (4,))

    class PostAdd(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            h = torch.relu(self.a(x))
            return self.b(h + x)

    with pytest.raises(SpecError, match="before the activation"):
        extract(PostAdd(), (4,))


# ---------------------------------------------------------------- quantised activations

def test_quantiser_levels():
    x = torch.tensor([-1.0, 0.0, 0.1, 0.49, 0.51, 1.0, 2.0])
    assert quantise(x, 32, 0.0, 1.0) is x
    assert torch.equal(quantise(x, 16, 0.0, 1.0), x.half().float())
    # 1 bit over [0, 1]: levels {0, 1}, clipped
    assert quantise(x, 1, 0.0, 1.0).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    # 2 bits over [0, 3]: levels 0, 1, 2, 3
    assert quantise(torch.tensor([0.4, 0.6, 2.6, 7.0]), 2, 0.0, 3.0).tolist() == [0.0, 1.0, 3.0, 3.0]


def test_quantised_model_by_hand():
    """Two workers, a 2-2-1 MLP: worker 0 owns input 0 and neuron 0, worker 1 input 1 and neuron 1;
    the output neuron is on worker 0 (fusion). With 1-bit activations over the calibrated range,
    exactly the received values are rounded to the range ends."""
    w1 = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    b1 = torch.zeros(2)
    w2 = torch.tensor([[1.0, 1.0]])
    plan = PartitionPlan(workers=2, input_owner=np.array([0, 1]), weight=[w1, w2], bias=[b1, torch.zeros(1)],
                         mask=[torch.ones(2, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)],
                         owner=[np.array([0, 1]), np.array([0])],
                         specs=[{"kind": "linear", "in_shape": (2,), "out_shape": (2,), "act": "relu"},
                                {"kind": "linear", "in_shape": (2,), "out_shape": (1,)}])
    plan.calibrate(torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]]))
    assert plan.act_range == [(0.0, 1.0), (0.0, 2.0), (0.0, 2.0)]
    x = torch.tensor([[0.3, 0.7]])
    # neuron 0 (worker 0): 0.3 + q(0.7) = 0.3 + 1 = 1.3; neuron 1 (worker 1): q(0.3) - 0.7 = 0 - 0.7 -> relu 0
    # output (worker 0): h0 local 1.3 + q(h1 = 0 over [0, 2]) = 1.3
    assert plan.to_torch(1)(x).item() == pytest.approx(1.3)
    assert plan.to_torch(32)(x).item() == pytest.approx(1.0)  # 0.3 + 0.7 and relu(0.3 - 0.7) = 0
    with pytest.raises(SpecError, match="calibrate"):
        PartitionPlan(**{k: getattr(plan, k) for k in ("workers", "input_owner", "weight", "bias", "mask", "owner",
                                                         "specs")}).to_torch(8)


def test_quantisation_only_touches_values_that_travel(setting):
    model, ctx, x = setting
    central = partition("central", model, ctx)
    direct = partition("direct", model, ctx)
    for plan in (central, direct):
        exact = plan.to_torch()(x)
        assert torch.equal(plan.to_torch(32)(x), exact)
        err8 = (plan.to_torch(8)(x) - exact).abs().max().item()
        err2 = (plan.to_torch(2)(x) - exact).abs().max().item()
        assert 0 < err8 < err2
    one = PartitionContext(1, np.zeros(64, dtype=np.int64), x, input_shape=(1, 8, 8))
    alone = partition("direct", model, one)  # one worker: nothing travels, nothing is rounded
    assert torch.equal(alone.to_torch(2)(x), alone.to_torch()(x))


def test_calibrated_ranges_survive_save_and_load(setting, tmp_path):
    model, ctx, x = setting
    plan = partition("repurpose", model, ctx, keep=0.5)
    loaded = PartitionPlan.load(plan.save(tmp_path / "p.pt"))
    assert loaded.act_range == plan.act_range
    torch.testing.assert_close(loaded.to_torch(6)(x), plan.to_torch(6)(x))


def test_coupled_group_is_assigned_once_from_all_ready_members(setting):
    """The first layer of a coupled group gets the other members whose inputs are planned
    (a projection shortcut and the block's last convolution); the identity group of the stem
    cannot see block 1's conv2 yet (its input, conv1, comes after the stem)."""
    from simulator.partition.cascade import restructure
    from simulator.partition.common import blocks

    model, ctx, _ = setting
    specs, w0, _ = extract(model, (1, 8, 8))
    calls = {}

    def owner_fn(l, w, x_hat, in_owner, partners):
        calls[l] = partners
        return blocks(w.shape[0], ctx.workers)

    plan = restructure(model, ctx, owner_fn, keep=0.5)
    assert sorted(calls) == [0, 1, 3, 4, 6, 7]          # 2, 5, 8 follow their group; 9 is the fusion's
    assert calls[0] == [] and calls[1] == [] and calls[3] == []
    for first, other in ((4, 5), (7, 8)):
        (w, x_hat, in_owner), = calls[first]
        assert torch.equal(w, w0[other])                 # the partner is the block's conv2, original weights
        assert x_hat.shape[1:] == specs[other].in_shape and np.array_equal(in_owner, plan.owner[other - 2])
        assert np.array_equal(plan.owner[first], plan.owner[other])
