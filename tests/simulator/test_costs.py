"""Per-layer costs from torch.fx: hand counts, and torch's own FLOP counter as a reference."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwmodels import SpecError
from simulator.costs import model_cost
from simulator.dispatch import DispatchCounter
from simulator.models import build

MATMUL = {"Linear", "Conv1d", "Conv2d", "matmul"}


def test_mlp_by_hand():
    cost = model_cost(build("mlp", (1, 8, 8), 10), (1, 8, 8))
    # Linear 64->128 (2*64*128), ReLU (128), Linear 128->10 (2*128*10)
    assert cost.forward_flops == 2 * 64 * 128 + 128 + 2 * 128 * 10
    assert cost.backward_flops == 2 * (2 * 64 * 128 + 2 * 128 * 10) + 128
    assert cost.param_bytes == 4 * (64 * 128 + 128 + 128 * 10 + 10)
    ops = [layer.op for layer in cost.layers if layer.forward_flops]
    assert ops == ["Linear", "ReLU", "Linear"]
    flops, nbytes = cost.training_step(32)
    assert flops == 32 * (cost.forward_flops + cost.backward_flops)
    assert nbytes == 2 * 32 * cost.activation_bytes + 3 * cost.param_bytes


def test_conv_by_hand():
    cost = model_cost(build("lenet5", (1, 8, 8), 10), (1, 8, 8))
    conv1 = next(layer for layer in cost.layers if layer.op == "Conv2d")
    assert conv1.forward_flops == 2 * 25 * 1 * 6 * 8 * 8
    assert conv1.param_bytes == 4 * (6 * 25 + 6) and conv1.activation_bytes == 4 * 6 * 8 * 8


@pytest.mark.parametrize("name, shape", [("mlp", (1, 8, 8)), ("lenet5", (1, 8, 8)), ("resnet8", (1, 8, 8)),
                                         ("cnn1d", (1, 40)), ("transformer", (1, 40)), ("transformer", (1, 8, 8))])
def test_matmul_flops_match_torch_flop_counter(name, shape):
    net = build(name, shape, 10).eval()
    cost = model_cost(net, shape)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.zeros(1, *shape))
    ours = sum(layer.forward_flops for layer in cost.layers if layer.op in MATMUL)
    assert ours == pytest.approx(counter.get_total_flops(), rel=1e-9)
    assert cost.param_bytes == 4 * sum(p.numel() for p in net.parameters())


def test_backward_factor_and_errors():
    net = build("mlp", (4,), 2, hidden=[3])
    assert model_cost(net, (4,), backward_factor=1.0).backward_flops == model_cost(net, (4,)).forward_flops
    with pytest.raises(SpecError, match="backward_factor"):
        model_cost(net, (4,), backward_factor=0)


@pytest.mark.parametrize("name, shape", [("mlp", (1, 8, 8)), ("lenet5", (1, 8, 8)), ("resnet8", (1, 8, 8)),
                                         ("cnn1d", (1, 40)), ("transformer", (1, 8, 8))])
def test_layer_calls_add_up_to_the_operators_a_training_step_dispatches(name, shape):
    # the whole model's forward and backward in training mode on a batch of 4, counted at once:
    # the per-node counts (each node alone, its inputs as leaves) must add up to them exactly
    net = build(name, shape, 10)
    cost = model_cost(net, shape)
    net.train()
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(0))
    with DispatchCounter() as forward:
        out = net(x)
    grad = torch.ones_like(out)
    with DispatchCounter() as backward:
        out.backward(grad)
    assert (cost.forward_calls, cost.backward_calls) == (forward.calls, backward.calls)
    assert sum(cost.backward_segment_calls()) == cost.backward_calls


def test_calls_are_counted_under_a_callers_no_grad_too():
    net = build("mlp", (1, 8, 8), 10)
    with torch.no_grad():
        quiet = model_cost(net, (1, 8, 8))
    assert quiet.backward_calls == model_cost(net, (1, 8, 8)).backward_calls == 20   # the whole step's count (the test above)


def test_counting_calls_leaves_the_model_alone():
    net = build("resnet8", (1, 8, 8), 10)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model_cost(net, (1, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())   # batch-norm statistics too
    assert all(p.grad is None for p in net.parameters())


def test_costs_are_cached_by_architecture_not_by_object():
    from simulator.costs import model_cost as cost_of
    from simulator.models import build as build_model

    a, b = build_model("mlp", (64,), 10, seed=0), build_model("mlp", (64,), 10, seed=1)   # other weights
    first = cost_of(a, (64,))
    assert cost_of(b, (64,)) is first                                  # a lookup, the same numbers
    frozen = build_model("mlp", (64,), 10, seed=0)
    next(frozen.parameters()).requires_grad_(False)
    other = cost_of(frozen, (64,))
    assert other is not first                                          # what trains changes the key
    assert [layer.params for layer in other.layers] != [layer.params for layer in first.layers]
    wider = build_model("mlp", (64,), 10, seed=0, hidden=[32])
    assert cost_of(wider, (64,)).total("forward_flops") != first.total("forward_flops")
