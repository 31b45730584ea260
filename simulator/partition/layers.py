"""The layers a plan partitions: Linear and Conv1d/Conv2d (neurons = output channels), each with
its activation, an optional max-pool or global average pool after it, and an optional residual
add before the activation; BatchNorm in eval mode is folded into the layer before it. Flatten
between convolutions and a Linear layer gives every flattened feature the owner of its channel.

The model is read with torch.fx, so residual blocks (``relu(bn(conv(h)) + shortcut(x))``, the
shortcut the identity or a 1x1 convolution) are found from the graph: a layer reads the output
of its ``src`` layer (-1: the model input) and adds the output of its ``residual`` layer. The
list is in topological order. Layers joined by an add are *coupled*: the add is channel-wise, so
it is local only when they share one assignment (:func:`coupled_groups`).

``extract(model, input_shape) -> (list[LayerSpec], weights, biases)``; :func:`apply` runs one
layer on real tensors; :func:`unfold` unfolds a layer's inputs so that
a convolution's refit is a least-squares problem like a dense layer's.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from hwmodels import SpecError

__all__ = ["LayerSpec", "extract", "dense_layers", "linear_specs", "apply", "finish", "preact", "unfold", "expand_mask", "coupled_groups"]

KINDS = ("linear", "conv1d", "conv2d")


@dataclass(frozen=True)
class LayerSpec:
    """Structure of one layer (weights live in the plan): ``in_shape``/``out_shape`` per sample
    without batch (conv: (C, *spatial) before / after the pool), ``pre_shape`` (conv: the output
    before the pool), ``stride``, ``padding``, ``act`` ("relu"/"none"), ``pool`` (max-pool size,
    0: none), ``gap`` (global average pool), ``src`` (the layer read, -1 the model input, None the
    previous layer), ``residual`` (the layer whose output is added before the activation, -1 the
    model input, None: no add)."""

    kind: str = "linear"
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    stride: int = 1
    padding: int = 0
    act: str = "none"
    pool: int = 0
    gap: bool = False
    pre_shape: tuple[int, ...] = ()
    src: Optional[int] = None
    residual: Optional[int] = None

    @property
    def conv(self) -> bool:
        """Whether the layer is a convolution (its neurons are output channels)."""
        return self.kind != "linear"

    @property
    def unit_values(self) -> int:
        """Values in one input unit: a feature map for a convolution, one number for a dense layer."""
        return math.prod(self.in_shape[1:]) if self.conv else 1

    @property
    def preact_spatial(self) -> int:
        """Output positions per channel before the pool (MACs per weight)."""
        if not self.conv:
            return 1
        if self.pre_shape:
            return math.prod(self.pre_shape[1:])
        return math.prod(self.out_shape[1:]) * (self.pool ** (len(self.out_shape) - 1) if self.pool else 1)

    def source(self, index: int) -> int:
        """The layer this one (number ``index``) reads; -1 is the model input."""
        return index - 1 if self.src is None else self.src

    def to_dict(self) -> dict:
        """The fields as plain values (for saving a plan)."""
        return asdict(self)


def coupled_groups(specs: Sequence[LayerSpec]) -> list[int]:
    """Group id of every layer: layers joined by a residual add share one (the smallest member's index)."""
    parent = list(range(len(specs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for l, sp in enumerate(specs):
        if sp.residual is not None and sp.residual >= 0:
            a, b = root(l), root(sp.residual)
            parent[max(a, b)] = min(a, b)
    return [root(l) for l in range(len(specs))]


class _Reader:
    """Walks the fx graph and builds the layer list; ``value[node]`` is the layer whose current
    output the node carries (-1: the model input)."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.value: dict[fx.Node, int] = {}
        self.sealed: set[int] = set()

    def open_layer(self, node: fx.Node, what: str) -> int:
        l = self.value.get(node, -1)
        if l < 0:
            raise SpecError(f"partitioning: {what} must follow a Linear or convolution layer")
        if l in self.sealed:
            raise SpecError(f"partitioning: {what} after a layer's output was already used elsewhere is not supported "
                            f"(layer {l})")
        return l

    def add_layer(self, m: nn.Module, arg: fx.Node, node: fx.Node) -> None:
        src = self.value.get(arg)
        if src is None:
            raise SpecError(f"partitioning: cannot tell which layer feeds {node.target}")
        self.sealed.add(src)
        in_shape = tuple(arg.meta["tensor_meta"].shape[1:])
        out_shape = tuple(node.meta["tensor_meta"].shape[1:])
        if isinstance(m, nn.Linear):
            if len(in_shape) != 1:
                raise SpecError(f"partitioning: Linear layer {node.target} needs flattened inputs, got shape {in_shape}")
            kind, stride, padding = "linear", 1, 0
        else:
            kind = "conv1d" if isinstance(m, nn.Conv1d) else "conv2d"
            if m.groups != 1 or m.dilation not in ((1,), (1, 1)) or len(set(m.stride)) != 1 or \
                    not isinstance(m.padding, tuple) or len(set(m.padding)) != 1:
                raise SpecError(f"partitioning: {kind} needs groups=1, no dilation, equal strides and numeric padding")
            stride, padding = int(m.stride[0]), int(m.padding[0])
        self.specs.append({"kind": kind, "in_shape": in_shape, "out_shape": out_shape,
                           "pre_shape": out_shape if kind != "linear" else (), "stride": stride, "padding": padding,
                           "act": "none", "pool": 0, "gap": False, "src": src, "residual": None})
        self.weights.append(m.weight.detach().clone().float())
        self.biases.append((m.bias.detach().clone() if m.bias is not None else torch.zeros(m.weight.shape[0])).float())
        self.value[node] = len(self.specs) - 1

    def fold_bn(self, m: nn.Module, arg: fx.Node, node: fx.Node) -> None:
        l = self.open_layer(arg, "BatchNorm")
        sp = self.specs[l]
        if sp["act"] != "none" or sp["pool"] or sp["gap"] or sp["residual"] is not None:
            raise SpecError("partitioning: BatchNorm must follow a convolution or Linear layer directly")
        scale = (m.weight / torch.sqrt(m.running_var + m.eps)).detach()
        shift = (m.bias - m.running_mean * scale).detach()
        self.weights[l] = self.weights[l] * scale.reshape(-1, *[1] * (self.weights[l].dim() - 1))
        self.biases[l] = self.biases[l] * scale + shift
        self.value[node] = l

    def relu(self, arg: fx.Node, node: fx.Node) -> None:
        l = self.open_layer(arg, "a ReLU")
        if self.specs[l]["act"] != "none" or self.specs[l]["pool"] or self.specs[l]["gap"]:
            raise SpecError("partitioning: a ReLU must follow a Linear or convolution layer (or a residual add) once")
        self.specs[l]["act"] = "relu"
        self.value[node] = l

    def pool(self, m: nn.Module, arg: fx.Node, node: fx.Node) -> None:
        l = self.open_layer(arg, "a pool")
        sp = self.specs[l]
        if sp["kind"] == "linear" or sp["pool"] or sp["gap"]:
            raise SpecError("partitioning: a pool must follow a convolution once")
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            size = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,)
            if any(s != 1 for s in size):
                raise SpecError("partitioning: adaptive average pools must have output size 1 (global average)")
            sp["gap"] = True
        else:
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            if k != s or m.padding not in (0, (0, 0)):
                raise SpecError("partitioning: a max-pool must have stride = kernel and no padding")
            sp["pool"] = int(k)
        sp["out_shape"] = tuple(node.meta["tensor_meta"].shape[1:])
        self.value[node] = l

    def add(self, a: Any, b: Any, node: fx.Node) -> None:
        if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)) or a not in self.value or b not in self.value:
            raise SpecError("partitioning: an add must join two layer outputs (a residual connection)")
        la, lb = self.value[a], self.value[b]

        def is_open(l: int) -> bool:
            sp = self.specs[l] if l >= 0 else None
            return sp is not None and l not in self.sealed and sp["act"] == "none" and not sp["pool"] \
                and not sp["gap"] and sp["residual"] is None

        if not (is_open(la) or is_open(lb)):
            raise SpecError("partitioning: a residual add must come before the activation of the layer it ends")
        main, short = (la, lb) if is_open(la) and (not is_open(lb) or la < lb) else (lb, la)
        if tuple(a.meta["tensor_meta"].shape) != tuple(b.meta["tensor_meta"].shape):
            raise SpecError("partitioning: a residual add needs both sides of the same shape")
        self.sealed.add(short)
        self.specs[main]["residual"] = short
        self.value[node] = main


def _trace(model: nn.Module, input_shape: Sequence[int]) -> fx.GraphModule:
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001  (fx raises many kinds on data-dependent code)
        raise SpecError(f"partitioning: the model cannot be traced by torch.fx ({type(exc).__name__}: {exc})") from None
    ShapeProp(gm).propagate(torch.zeros(1, *[int(s) for s in input_shape]))
    return gm


_PASS = (nn.Flatten, nn.Identity, nn.Dropout)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)


def extract(model: nn.Module, input_shape: Sequence[int]) -> tuple[list[LayerSpec], list[torch.Tensor], list[torch.Tensor]]:
    """The partitionable layers of ``model`` for inputs of ``input_shape`` (no batch), in topological order."""
    model = model.eval()
    gm = _trace(model, input_shape)
    mods = dict(gm.named_modules())
    r = _Reader()
    with torch.no_grad():
        for node in gm.graph.nodes:
            first = node.args[0] if node.args else None
            if node.op == "placeholder":
                r.value[node] = -1
            elif node.op == "call_module":
                m = mods[node.target]
                if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                    r.add_layer(m, first, node)
                elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    r.fold_bn(m, first, node)
                elif isinstance(m, nn.ReLU):
                    r.relu(first, node)
                elif isinstance(m, _POOLS):
                    r.pool(m, first, node)
                elif isinstance(m, _PASS):
                    r.value[node] = r.value[first]
                else:
                    raise SpecError(f"partitioning supports Linear, Conv1d/2d, BatchNorm, ReLU, MaxPool, global average "
                                    f"pool, Flatten and residual adds; got {type(m).__name__}")
            elif node.op in ("call_function", "call_method"):
                fn = node.target
                if fn in (torch.relu, F.relu, "relu"):
                    r.relu(first, node)
                elif fn in (operator.add, torch.add, "add") and len(node.args) == 2 and not node.kwargs:
                    r.add(node.args[0], node.args[1], node)
                elif fn in (torch.flatten, "flatten", "view", "reshape") and \
                        tuple(node.meta["tensor_meta"].shape) == (1, math.prod(first.meta["tensor_meta"].shape)):
                    r.value[node] = r.value[first]
                else:
                    raise SpecError(f"partitioning: unsupported operation {getattr(fn, '__name__', fn)} in the model")
            elif node.op == "output":
                if r.value.get(first) != len(r.specs) - 1 or not r.specs:
                    raise SpecError("partitioning: the model's output must be its last Linear layer")
            else:
                raise SpecError(f"partitioning: unsupported graph node {node.op} {node.target}")
    if not r.specs:
        raise SpecError("partitioning: the model has no Linear or convolution layer")
    if r.specs[-1]["kind"] != "linear":
        raise SpecError("partitioning: the model must end with a Linear layer")
    return _ordered(r)


def _ordered(r: _Reader) -> tuple[list[LayerSpec], list[torch.Tensor], list[torch.Tensor]]:
    """Topological order (a shortcut before the layer it ends), earliest first; ``src`` None when it is the previous layer."""
    n = len(r.specs)
    deps = [{d for d in (sp["src"], sp["residual"]) if d is not None and d >= 0} for sp in r.specs]
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < n:
        nxt = min(l for l in range(n) if l not in placed and deps[l] <= placed)
        order.append(nxt)
        placed.add(nxt)
    new = {old: i for i, old in enumerate(order)} | {-1: -1}
    specs = []
    for i, old in enumerate(order):
        sp = dict(r.specs[old])
        sp["src"] = None if new[sp["src"]] == i - 1 else new[sp["src"]]
        sp["residual"] = None if sp["residual"] is None else new[sp["residual"]]
        specs.append(LayerSpec(**sp))
    return specs, [r.weights[o] for o in order], [r.biases[o] for o in order]


def expand_mask(spec: LayerSpec, weight: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The (out x in) channel mask broadcast to the weight's shape."""
    return mask.reshape(*mask.shape, *[1] * (weight.dim() - 2)).expand_as(weight)


def preact(spec: LayerSpec, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The layer's output before activation and pool; ``x`` of shape (batch, *in_shape) or flat."""
    x = x.reshape(len(x), *spec.in_shape)
    if spec.kind == "linear":
        return x @ weight.T + bias
    conv = F.conv1d if spec.kind == "conv1d" else F.conv2d
    return conv(x, weight, bias, stride=spec.stride, padding=spec.padding)


def finish(spec: LayerSpec, h: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
    """The layer's output from its pre-activation ``h``: the residual add, activation and pool."""
    if residual is not None:
        h = h + residual.reshape(h.shape)
    if spec.act == "relu":
        h = torch.relu(h)
    if spec.pool:
        h = (F.max_pool1d if spec.kind == "conv1d" else F.max_pool2d)(h, spec.pool)
    if spec.gap:
        h = h.mean(dim=tuple(range(2, h.dim())), keepdim=True)
    return h


def apply(spec: LayerSpec, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
          residual: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`preact` then :func:`finish`."""
    return finish(spec, preact(spec, x, weight, bias), residual)


def unfold(spec: LayerSpec, x: torch.Tensor, kernel: Sequence[int]) -> torch.Tensor:
    """Rows = (sample, output position), columns = (input channel, kernel offset): the layer's
    pre-activation is ``unfold(x) @ weight.reshape(out, -1).T + bias`` (for Linear: x itself)."""
    x = x.reshape(len(x), *spec.in_shape)
    if spec.kind == "linear":
        return x
    if spec.kind == "conv1d":
        cols = F.unfold(x.unsqueeze(2), (1, kernel[0]), padding=(0, spec.padding), stride=(1, spec.stride))
    else:
        cols = F.unfold(x, tuple(kernel), padding=spec.padding, stride=spec.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def dense_layers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    """``[(weight (out x in), bias, activation)]`` of an MLP made of Flatten, Linear and ReLU."""
    first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise SpecError("partitioning: the model has no Linear layer")
    specs, weights, biases = extract(model, (first.in_features,))
    if any(sp.conv or sp.residual is not None or sp.src is not None for sp in specs):
        raise SpecError("this operation supports sequential MLPs only (Linear and ReLU layers)")
    return [(w, b, sp.act) for sp, w, b in zip(specs, weights, biases)]


def linear_specs(widths: list[int], acts: list[str]) -> list[LayerSpec]:
    """Layer structures of an MLP with layer widths ``widths`` (inputs first) and activations."""
    return [LayerSpec("linear", (a,), (b,), act=act) for a, b, act in zip(widths[:-1], widths[1:], acts)]

