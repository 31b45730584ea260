"""Memory per worker: parameters and buffers against torch's own sizes, activations against hand
counts and against what autograd actually saves, optimizer state, refusal at one byte over."""

import pytest
import torch

from hwmodels import SpecError
from simulator.compression import create
from simulator.costs import model_cost
from simulator.memory import (DoesNotFit, MemoryNeed, activation_peak_B, check_fits, inference_memory, probe_compressor,
                              training_activations_B, training_memory)
from simulator.models import build

CASES = {"mlp": ((1, 8, 8), {"hidden": [128, 128]}), "lenet5": ((1, 28, 28), {}), "resnet8": ((3, 32, 32), {})}
# Peak floats alive at once per sample, counted by hand from the layer schedule:
#   mlp: a ReLU reads its 128 inputs and writes 128 outputs;
#   lenet5: the first ReLU reads and writes 6 x 28 x 28;
#   resnet8: in the first block the stem's output (16 x 32 x 32) waits for the add while two more
#   maps of that size are alive (bn2's input and output, then bn2's output and the sum).
HAND_PEAK = {"mlp": 2 * 128, "lenet5": 2 * 6 * 28 * 28, "resnet8": 3 * 16 * 32 * 32}


def _model(name):
    shape, params = CASES[name]
    model = build(name, shape, 10, seed=0, **params)
    return model, shape, model_cost(model, shape)


@pytest.mark.parametrize("name", CASES)
def test_weights_and_buffers_are_torchs_sizes(name):
    model, shape, cost = _model(name)
    need = inference_memory(model, cost, shape)
    assert need.weights_B == sum(p.numel() * p.element_size() for p in model.parameters())
    assert need.buffers_B == sum(b.numel() * b.element_size() for b in model.buffers())
    assert (need.buffers_B > 0) == (name == "resnet8")   # BatchNorm's running statistics
    half = inference_memory(model, cost, shape, dtype="fp16")
    assert half.weights_B == need.weights_B / 2 and half.activations_B == need.activations_B / 2


@pytest.mark.parametrize("name", CASES)
def test_activation_peak_by_hand(name):
    _, shape, cost = _model(name)
    assert activation_peak_B(cost, shape) == 4 * HAND_PEAK[name]
    assert activation_peak_B(cost, shape, batch=32) == 32 * 4 * HAND_PEAK[name]


def test_mlp_training_activations_by_hand():
    _, shape, cost = _model("mlp")
    kept = 64 + 4 * 128 + 10          # the input and every node's output
    assert training_activations_B(cost, shape, batch=8) == 8 * 4 * (kept + 2 * 128)


@pytest.mark.parametrize("name", CASES)
def test_training_activations_bound_what_autograd_saves(name):
    model, shape, cost = _model(name)
    params = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    x = torch.randn(4, *shape)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train()(x).sum().backward()
    ours = training_activations_B(cost, shape, batch=4)
    assert sum(saved.values()) <= ours <= 3 * sum(saved.values())


def test_optimizer_state_adam_twice_the_parameters():
    model, shape, cost = _model("mlp")
    n = sum(p.numel() for p in model.parameters())
    kw = dict(batch=8, dtype="fp32", buckets=[list(range(6))], payload_bits=[32 * p.numel() for p in model.parameters()],
              sync="allreduce", workers=4, compressor_B=0.0)
    adam, momentum, sgd = (training_memory(model, cost, shape, optimizer=o, **kw) for o in ("adam", "momentum", "sgd"))
    assert adam.optimizer_B == 2 * 4 * n and momentum.optimizer_B == 4 * n and sgd.optimizer_B == 0
    assert adam.gradients_B == adam.weights_B == 4 * n
    assert adam.comm_B == 4 * n + 4 * n        # the buckets, and one uncompressed payload to receive
    gather = training_memory(model, cost, shape, optimizer="sgd", **{**kw, "sync": "allgather"})
    assert gather.comm_B == 4 * n + 3 * 4 * n  # one payload per other worker
    # Adam's own state, as torch keeps it (exp_avg, exp_avg_sq per parameter), after one step
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, *shape)).sum().backward()
    opt.step()
    torch_state = sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values() if v.dim() > 0)
    assert adam.optimizer_B == torch_state


def test_compressor_state_measured():
    shapes = [(128, 64), (128,)]
    _, none = probe_compressor(create("none"), shapes, 0)
    _, ef = probe_compressor(create("topk", ratio=0.1), shapes, 0)
    bits, psgd = probe_compressor(create("powersgd", rank=2), shapes, 0)
    assert none == 0
    assert ef == 4 * (128 * 64 + 128)                          # error-feedback residual per element
    assert psgd == 4 * (128 * 64 + 128) + 4 * 64 * 2           # residual plus the warm-start Q (cols x rank)
    assert bits[0] == 32 * 2 * (128 + 64)


def test_one_byte_more_than_the_node_has_is_refused():
    need = MemoryNeed(weights_B=1000.0, activations_B=24.0)
    check_fits({"h0": need}, {"h0": 1024.0}, "train")
    with pytest.raises(DoesNotFit, match=r"worker h1 needs 1,024 B .*has 1,023 B") as err:
        check_fits({"h0": need, "h1": need}, {"h0": 1024.0, "h1": 1023.0}, "train")
    assert isinstance(err.value, SpecError) and "\n" not in str(err.value)
