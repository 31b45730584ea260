"""Convolutional plans: channels are the neurons, feature maps the transfer unit, BatchNorm folded."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import SpecError
from simulator.partition import PartitionContext, partition, sensor_owner
from simulator.partition.layers import extract


def tiny_cnn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.BatchNorm1d(6), nn.ReLU(), nn.MaxPool1d(2),
                        nn.Conv1d(6, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4, 3))
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def setting():
    x = torch.randn(40, 2, 16, generator=torch.Generator().manual_seed(2))
    owner = sensor_owner("segments", (2, 16), 2)
    return tiny_cnn(), PartitionContext(2, owner, x, input_shape=(2, 16)), x


def reference(plan, x):
    """Per-worker execution: a worker holds its own input values, channels it owns and channels it
    received (the (channel, destination) pairs counted here); everything else is NaN, so a missing
    transfer poisons the output. Each output channel convolves only its surviving input channels."""
    h = x
    spatial_first = x.reshape(len(x), -1)
    pairs_per_layer = []
    for l, sp in enumerate(plan.specs):
        w, b, m, own = plan.weight[l], plan.bias[l], plan.mask[l], plan.owner[l]
        inp = h.reshape(len(h), *sp.in_shape)
        if l == 0:
            src = torch.as_tensor(plan.input_owner).reshape(sp.in_shape)
        elif sp.conv:
            src = torch.as_tensor(plan.owner[l - 1])[:, None].expand(sp.in_shape)
        else:
            src = torch.as_tensor(np.repeat(plan.owner[l - 1], math.prod(plan.specs[l - 1].out_shape[1:])))
        outs = []
        pairs = 0
        for k in range(plan.workers):
            needed = m[torch.as_tensor(own == k)].any(0)  # input units worker k reads
            have = src == k
            for i in torch.nonzero(needed).flatten().tolist():
                pieces = set(src[i].reshape(-1).tolist()) - {k}
                pairs += len(pieces)
                have[i] = True
            outs.append(torch.where(have, inp, torch.nan))
        out = []
        for j in range(w.shape[0]):
            view = outs[int(own[j])]
            cols = torch.nonzero(m[j]).flatten()
            if sp.conv and len(cols) == 0:  # a channel with no inputs left (Net-Trim can zero one): its bias
                o = F.conv1d(torch.zeros_like(view[:, :1]), torch.zeros_like(w[j:j + 1, :1]), b[j:j + 1],
                             stride=sp.stride, padding=sp.padding)[:, 0]
            elif sp.conv:
                o = F.conv1d(view[:, cols], w[j:j + 1, cols], b[j:j + 1], stride=sp.stride, padding=sp.padding)[:, 0]
            else:
                o = view[:, cols] @ w[j, cols] + b[j]
            out.append(o)
        h = torch.stack(out, 1)
        if sp.act == "relu":
            h = torch.relu(h)
        if sp.pool:
            h = F.max_pool1d(h, sp.pool)
        pairs_per_layer.append(pairs)
    return h, pairs_per_layer + [int((plan.owner[-1] != plan.fusion).sum())]


@pytest.mark.parametrize("name,params", [("central", {}), ("direct", {}), ("pipeline", {}), ("sparse", {"keep": 0.5}),
                                         ("graphcut", {"keep": 0.5}), ("repurpose", {"keep": 0.25}), ("repurpose", {"keep": 0.5, "alternate": 1}),
                                         ("repurpose", {"keep": 0.25, "refit": "nettrim", "eps": 0.2})])
def test_conv_plan_equals_per_worker_execution(setting, name, params):
    model, ctx, x = setting
    plan = partition(name, model, ctx, **params)
    ref, pairs = reference(plan, x)
    assert not torch.isnan(ref).any()
    with torch.no_grad():
        assert torch.allclose(plan.to_torch()(x), ref, atol=1e-5)
    assert plan.transfers_per_layer() == pairs


def test_direct_conv_plan_is_exact_and_counts_feature_maps(setting):
    model, ctx, x = setting
    plan = partition("direct", model, ctx)
    with torch.no_grad():
        assert torch.allclose(plan.to_torch()(x), model(x), atol=1e-5)
    # layer 0: both input channels are split in half between the two sensors: each worker needs the
    # other half of both channels = 2 pieces of 8 values; layer 1: 3 foreign channels of 8 values each way;
    # layer 2 (on the fusion worker 0): worker 1's 4 channels x 4 positions flattened.
    assert plan.transfers_per_layer() == [4, 6, 16, 0]
    assert plan.values_per_sample() == 4 * 8 + 6 * 8 + 16


def test_conv_errors(setting):
    model, ctx, _ = setting
    res = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(56, 2))
    with pytest.raises(SpecError, match="got Sigmoid"):
        partition("direct", res, ctx)


def test_nettrim_refit_keeps_the_first_conv_within_eps_and_prunes(setting):
    """refit: nettrim on a CNN (BatchNorm folded, max-pool after): with every input kept, the first
    convolution's trimmed weights, run through F.conv1d on the calibration inputs, stay within
    eps ||Y|| of the original (folded) layer's ReLU outputs before the pool; every convolution
    loses weights."""
    model, ctx, x = setting
    eps = 0.05
    plan = partition("repurpose", model, ctx, keep=1.0, refit="nettrim", eps=eps)
    specs, w0, b0 = extract(model, ctx.input_shape)
    sp = specs[0]
    y = F.relu(F.conv1d(x, w0[0], b0[0], stride=sp.stride, padding=sp.padding))
    out = F.relu(F.conv1d(x, plan.weight[0], plan.bias[0], stride=sp.stride, padding=sp.padding))
    assert float(torch.linalg.norm(out - y)) <= 1.01 * eps * float(torch.linalg.norm(y))
    for sp, w, u in zip(specs, w0, plan.weight):
        if sp.conv:
            assert int((u != 0).sum()) < w.numel()
