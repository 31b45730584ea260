"""Per-layer costs of a model, from its torch.fx graph with shapes (ShapeProp).

``model_cost(model, input_shape) -> ModelCost``: for every node of the traced graph (one
sample), forward FLOPs, parameter bytes and output activation bytes; backward FLOPs are
``backward_factor`` (default 2: the input and the weight gradient) times forward for
matmul-like layers (linear, convolution, matmul) and 1 times forward for the rest.

Counting (multiply-add = 2 FLOPs): linear ``2 in out`` per row; convolution ``2 (C_in/groups)
prod(kernel)`` per output element; matmul ``2 m n k``; normalisations 5 per element;
softmax 5, GELU 8, other elementwise ops and pooling 1 per output element; reshapes 0.

Calls (operators dispatched, each charged the device's per-call overhead): counted, not
declared. Each node runs once in training mode on two samples (a copy of the model, so its
statistics and gradients stay untouched) under a :class:`~simulator.dispatch.DispatchCounter`:
its forward operators, then, from its own inputs as leaves, the operators autograd runs for its
backward, plus one accumulation per parameter it owns and one add per further user of its
output (where autograd sums the gradients coming back). The loss and the optimizer are
not model nodes and are not counted here.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils._pytree import tree_leaves, tree_map

from hwmodels import SpecError
from simulator.dispatch import DispatchCounter

__all__ = ["LayerCost", "ModelCost", "model_cost"]

_MATMUL_FUNCS = {torch.matmul, operator.matmul, torch.bmm, torch.mm}
_FREE = {"reshape", "view", "permute", "transpose", "flatten", "contiguous", "size", "unsqueeze", "squeeze",
         "expand", "getitem", "getattr", "chunk", "split", "flatten", "narrow"}
_PER_ELEMENT = {"softmax": 5.0, "log_softmax": 5.0, "gelu": 8.0, "layer_norm": 5.0, "batch_norm": 5.0}


@dataclass(frozen=True)
class LayerCost:
    """One node: ``op`` (module class or function name), its per-sample costs, the names of
    the parameters it owns (as ``model.named_parameters()`` gives them), the names of the
    graph nodes it reads (``inputs``; the model input is the placeholder's name), which give the
    activations' live ranges (:mod:`simulator.memory`), and ``forward_calls`` and
    ``backward_calls``, the operators its forward and its backward dispatch (whatever the batch)."""

    name: str
    op: str
    forward_flops: float
    backward_flops: float
    param_bytes: float
    activation_bytes: float
    params: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    forward_calls: int = 0
    backward_calls: int = 0


@dataclass(frozen=True)
class ModelCost:
    """Per-layer and total per-sample costs of a model."""

    layers: tuple[LayerCost, ...]

    def total(self, field: str) -> float:
        """Sum of one :class:`LayerCost` field over the layers."""
        return sum(getattr(layer, field) for layer in self.layers)

    forward_flops = property(lambda self: self.total("forward_flops"), doc="Forward FLOPs per sample.")
    backward_flops = property(lambda self: self.total("backward_flops"), doc="Backward FLOPs per sample.")
    param_bytes = property(lambda self: self.total("param_bytes"), doc="Bytes of all parameters.")
    activation_bytes = property(lambda self: self.total("activation_bytes"), doc="Output bytes of priced nodes per sample.")
    forward_calls = property(lambda self: self.total("forward_calls"), doc="Operators the forward pass dispatches.")
    backward_calls = property(lambda self: self.total("backward_calls"), doc="Operators the backward pass dispatches.")

    def training_step(self, batch: int) -> tuple[float, float]:
        """(FLOPs, memory bytes) of forward + backward on ``batch`` samples: activations written
        and read back once, parameters read twice and gradients written once."""
        flops = batch * (self.forward_flops + self.backward_flops)
        return flops, 2.0 * batch * self.activation_bytes + 3.0 * self.param_bytes

    def forward(self, batch: int) -> tuple[float, float]:
        """(FLOPs, memory bytes) of the forward pass on ``batch`` samples: parameters read and
        activations written once."""
        return batch * self.forward_flops, batch * self.activation_bytes + self.param_bytes

    def backward_segments(self, batch: int) -> list[tuple[float, float, tuple[str, ...]]]:
        """The backward pass in execution order (last layer first), cut after every layer that owns
        parameters: ``[(FLOPs, memory bytes, parameter names whose gradients exist once it is
        done)]`` on ``batch`` samples. Each layer reads its activations and parameters and writes
        its gradients; the layers before the first parameterised one join its segment. The
        segments sum to :meth:`training_step` minus :meth:`forward`."""
        return [(f, b, names) for f, b, _, names in self._segments(batch)]

    def backward_segment_calls(self) -> list[int]:
        """The operators each of :meth:`backward_segments` dispatches."""
        return [calls for _, _, calls, _ in self._segments(1)]

    def _segments(self, batch: int) -> list[tuple[float, float, int, tuple[str, ...]]]:
        out: list[tuple[float, float, int, tuple[str, ...]]] = []
        flops = nbytes = 0.0
        calls = 0
        for layer in reversed(self.layers):
            flops += batch * layer.backward_flops
            nbytes += batch * layer.activation_bytes + 2.0 * layer.param_bytes
            calls += layer.backward_calls
            if layer.params:
                out.append((flops, nbytes, calls, layer.params))
                flops = nbytes = 0.0
                calls = 0
        if out and (flops or nbytes or calls):
            f, b, c, names = out[-1]
            out[-1] = (f + flops, b + nbytes, c + calls, names)
        elif flops or nbytes or calls:
            out.append((flops, nbytes, calls, ()))
        return out


def _numel(meta: object) -> int:
    shape = getattr(meta, "shape", None)
    return math.prod(shape) if shape is not None else 0


def _bytes(meta: object) -> int:
    dtype = getattr(meta, "dtype", None)
    return _numel(meta) * (dtype.itemsize if isinstance(dtype, torch.dtype) else 4)


def _in_meta(node: fx.Node, i: int = 0) -> object:
    arg = node.args[i] if len(node.args) > i else None
    return arg.meta.get("tensor_meta") if isinstance(arg, fx.Node) else None


def _module_flops(mod: nn.Module, node: fx.Node, out: object) -> tuple[float, bool]:
    """(forward FLOPs, matmul-like) of a module call."""
    n_out = _numel(out)
    if isinstance(mod, nn.Linear):
        return 2.0 * mod.in_features * n_out, True
    if isinstance(mod, nn.modules.conv._ConvNd):
        k = math.prod(mod.kernel_size) * mod.in_channels // mod.groups
        return 2.0 * k * n_out, True
    if isinstance(mod, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)):
        return 5.0 * n_out, False
    if isinstance(mod, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                        nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return float(_numel(_in_meta(node))), False
    if isinstance(mod, (nn.Flatten, nn.Identity, nn.Dropout)):
        return 0.0, False
    if isinstance(mod, nn.GELU):
        return 8.0 * n_out, False
    return float(n_out), False


def _function_flops(name: str, target: object, node: fx.Node, out: object) -> tuple[float, bool]:
    if target in _MATMUL_FUNCS or name in ("matmul", "bmm", "mm"):
        a = _in_meta(node)
        k = a.shape[-1] if a is not None and len(a.shape) else 1
        return 2.0 * k * _numel(out), True
    if name in _FREE:
        return 0.0, False
    return _PER_ELEMENT.get(name, 1.0) * _numel(out), False


# Costs by architecture: a sweep builds the same model at every point, and tracing and counting
# a ResNet-50's operators takes about a second. Bounded; the oldest entry goes first.
_CACHE: dict[tuple[Any, ...], ModelCost] = {}
_CACHE_MAX = 32


def _fingerprint(model: nn.Module, input_shape: Sequence[int], backward_factor: float) -> tuple[Any, ...]:
    """What a model's costs depend on: its module tree (layer types and sizes, as ``repr``
    prints them), every parameter's name, shape, dtype, device type and whether it trains,
    the input's shape and dtype, train/eval mode and the backward factor."""
    params = tuple((n, tuple(p.shape), str(p.dtype), p.device.type, p.requires_grad) for n, p in model.named_parameters())
    return (type(model).__qualname__, repr(model), params, tuple(int(d) for d in input_shape),
            str(getattr(model, "input_dtype", torch.float32)), model.training, float(backward_factor))


def model_cost(model: nn.Module, input_shape: Sequence[int], *, backward_factor: float = 2.0) -> ModelCost:
    """Trace ``model`` with torch.fx, propagate one sample of ``input_shape``, price each node.
    Cached by architecture (:func:`_fingerprint`): the same model built again costs a lookup."""
    if not backward_factor > 0:
        raise SpecError(f"costs: backward_factor must be > 0, got {backward_factor!r}")
    key = _fingerprint(model, input_shape, backward_factor)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    cost = _model_cost(model, input_shape, backward_factor)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = cost
    return cost


def _model_cost(model: nn.Module, input_shape: Sequence[int], backward_factor: float) -> ModelCost:
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - fx raises many kinds
        raise SpecError(f"costs: torch.fx cannot trace {type(model).__name__}: {exc}") from None
    was = model.training
    gm.eval()
    # One sample on the model's device (meta for price-only models: shapes, no data), in the
    # dtype it takes (token models declare int64 ``input_dtype``).
    param = next(model.parameters(), None)
    sample = torch.zeros(1, *input_shape, dtype=getattr(model, "input_dtype", torch.float32),
                         device=param.device if param is not None else None)
    with torch.no_grad():
        ShapeProp(gm).propagate(sample)
    gm.train(was)
    calls = _node_calls(gm, input_shape, sample.dtype, sample.device)
    modules = dict(gm.named_modules())
    layers = []
    for node in gm.graph.nodes:
        out = node.meta.get("tensor_meta")
        names: tuple[str, ...] = ()
        if node.op == "call_module":
            mod = modules[node.target]
            flops, matmul = _module_flops(mod, node, out)
            params = sum(p.numel() * p.element_size() for p in mod.parameters(recurse=False))
            names = tuple(f"{node.target}.{n}" for n, p in mod.named_parameters(recurse=False) if p.requires_grad)
            op = type(mod).__name__
        elif node.op in ("call_function", "call_method"):
            op = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
            flops, matmul = _function_flops(op, node.target, node, out)
            params = 0
        elif node.op == "get_attr":
            attr = _parameter(gm, node.target)
            forward_calls, backward_calls = calls.get(node.name, (0, 0))
            layers.append(LayerCost(node.name, "parameter", 0.0, 0.0,
                                    float(attr.numel() * attr.element_size()) if attr is not None else 0.0, 0.0,
                                    (node.target,) if attr is not None and attr.requires_grad else (),
                                    forward_calls=forward_calls, backward_calls=backward_calls))
            continue
        else:
            continue
        act = float(_bytes(out)) if flops else 0.0
        forward_calls, backward_calls = calls.get(node.name, (0, 0))
        layers.append(LayerCost(node.name, op, flops, flops * (backward_factor if matmul else 1.0), float(params), act,
                                names, tuple(n.name for n in node.all_input_nodes),
                                forward_calls=forward_calls, backward_calls=backward_calls))
    return ModelCost(tuple(layers))


class _CallCounter(fx.Interpreter):
    """Runs a graph node by node, counting each node's forward and backward operators."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.calls: dict[str, tuple[int, int]] = {}

    def run_node(self, n: fx.Node) -> Any:
        if n.op == "get_attr":
            value = super().run_node(n)
            if isinstance(value, nn.Parameter) and value.requires_grad:   # used functionally: its accumulation
                self.calls[n.name] = (0, 1)
            return value
        if n.op not in ("call_module", "call_function", "call_method"):
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        # the node's inputs as leaves: its backward stops at them, as its share of the whole one does
        args, kwargs = tree_map(_leaf, (args, kwargs))
        with DispatchCounter() as forward:
            out = getattr(self, n.op)(n.target, args, kwargs)
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.requires_grad]
        owned = list(self.module.get_submodule(n.target).parameters(recurse=False)) if n.op == "call_module" else []
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad]
        inputs += [p for p in owned if p.requires_grad]
        backward = DispatchCounter()
        if outs and inputs:
            grads = [torch.ones_like(t) for t in outs]
            with backward:
                torch.autograd.grad(outs, inputs, grads, allow_unused=True)
        # plus one accumulation (the first step's detach, then an add) per parameter it owns, and
        # one add per further user of its output: autograd sums the gradients they send back
        fan_in = max(0, len(n.users) - 1) if outs else 0
        self.calls[n.name] = (forward.calls, backward.calls + sum(p.requires_grad for p in owned) + fan_in)
        return out


def _leaf(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().requires_grad_(value.requires_grad)
    return value


def _node_calls(gm: fx.GraphModule, input_shape: Sequence[int], dtype: torch.dtype,
                device: torch.device) -> dict[str, tuple[int, int]]:
    """(forward, backward) operators of each node of ``gm``, on two samples in training mode."""
    twin = copy.deepcopy(gm).train()
    counter = _CallCounter(twin)
    with torch.enable_grad():   # a caller's no_grad would hide every backward
        counter.run(torch.zeros(2, *input_shape, dtype=dtype, device=device))
    return counter.calls


def _parameter(gm: fx.GraphModule, target: str) -> nn.Parameter | None:
    """The parameter at dotted path ``target``, or None when it is a buffer or a constant."""
    try:
        return gm.get_parameter(target)
    except AttributeError:
        return None
