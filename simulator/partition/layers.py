"""The layers a plan partitions: Linear and Conv1d/Conv2d (neurons = output channels), each with
its activation and an optional max-pool after it; BatchNorm in eval mode is folded into the layer
before it (so the pair shares one assignment). Flatten between convolutions and a Linear layer
gives every flattened feature the owner of its channel.

``extract(model, input_shape) -> (list[LayerSpec], weights, biases)``; :func:`apply` runs one
layer on real tensors; :func:`unfold` unfolds a layer's inputs so that
a convolution's refit is a least-squares problem like a dense layer's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import SpecError

__all__ = ["LayerSpec", "extract", "apply", "preact", "unfold", "expand_mask"]

KINDS = ("linear", "conv1d", "conv2d")


@dataclass(frozen=True)
class LayerSpec:
    """Structure of one layer (weights live in the plan): ``in_shape``/``out_shape`` per sample
    without batch (conv: (C, *spatial) before / after the pool), ``kernel`` (conv), ``stride``,
    ``padding``, ``act`` ("relu"/"none"), ``pool`` (max-pool size, 0: none)."""

    kind: str = "linear"
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    stride: int = 1
    padding: int = 0
    act: str = "none"
    pool: int = 0

    @property
    def conv(self) -> bool:
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
        return math.prod(self.out_shape[1:]) * (self.pool ** (len(self.out_shape) - 1) if self.pool else 1)

    def to_dict(self) -> dict:
        return asdict(self)


def _flat(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [m for child in model.children() for m in _flat(child)]
    return [model]


def extract(model: nn.Module, input_shape: Sequence[int]) -> tuple[list[LayerSpec], list[torch.Tensor], list[torch.Tensor]]:
    """The partitionable layers of a sequential ``model`` for inputs of ``input_shape`` (no batch)."""
    mods = _flat(model)
    specs: list[dict] = []
    weights: list[torch.Tensor] = []
    biases: list[torch.Tensor] = []
    x = torch.zeros(1, *[int(s) for s in input_shape])
    with torch.no_grad():
        for m in mods:
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                if isinstance(m, nn.Linear):
                    x = x.reshape(1, -1)
                    kind, stride, padding = "linear", 1, 0
                else:
                    kind = "conv1d" if isinstance(m, nn.Conv1d) else "conv2d"
                    if m.groups != 1 or m.dilation not in ((1,), (1, 1)) or len(set(m.stride)) != 1 or \
                            not isinstance(m.padding, tuple) or len(set(m.padding)) != 1:
                        raise SpecError(f"partitioning: {kind} needs groups=1, no dilation, equal strides and numeric padding")
                    stride, padding = int(m.stride[0]), int(m.padding[0])
                in_shape = tuple(x.shape[1:])
                x = m(x)
                specs.append({"kind": kind, "in_shape": in_shape, "out_shape": tuple(x.shape[1:]), "stride": stride,
                              "padding": padding, "act": "none", "pool": 0})
                weights.append(m.weight.detach().clone().float())
                biases.append((m.bias.detach().clone() if m.bias is not None else torch.zeros(m.weight.shape[0])).float())
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                if not specs or specs[-1]["act"] != "none" or specs[-1]["pool"]:
                    raise SpecError("partitioning: BatchNorm must follow a convolution or Linear layer directly")
                scale = (m.weight / torch.sqrt(m.running_var + m.eps)).detach()
                shift = (m.bias - m.running_mean * scale).detach()
                weights[-1] = weights[-1] * scale.reshape(-1, *[1] * (weights[-1].dim() - 1))
                biases[-1] = biases[-1] * scale + shift
                x = m.eval()(x)
            elif isinstance(m, nn.ReLU):
                if not specs or specs[-1]["act"] != "none":
                    raise SpecError("partitioning: a ReLU must follow a Linear or convolution layer")
                specs[-1]["act"] = "relu"
                x = torch.relu(x)
            elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                s = m.stride if isinstance(m.stride, int) else m.stride[0]
                if not specs or not specs[-1]["kind"].startswith("conv") or specs[-1]["pool"] or k != s or m.padding not in (0, (0, 0)):
                    raise SpecError("partitioning: a max-pool must follow a convolution once, with stride = kernel, no padding")
                specs[-1]["pool"] = int(k)
                x = m(x)
                specs[-1]["out_shape"] = tuple(x.shape[1:])
            elif isinstance(m, (nn.Flatten, nn.Identity, nn.Dropout)):
                continue
            else:
                raise SpecError(f"partitioning supports sequential models of Linear, Conv1d/2d, BatchNorm, ReLU, "
                                f"MaxPool and Flatten layers; got {type(m).__name__} (residual blocks are not supported)")
    if not specs:
        raise SpecError("partitioning: the model has no Linear or convolution layer")
    if specs[-1]["kind"] != "linear":
        raise SpecError("partitioning: the model must end with a Linear layer")
    return [LayerSpec(**s) for s in specs], weights, biases


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


def apply(spec: LayerSpec, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Activation and pool of :func:`preact`."""
    h = preact(spec, x, weight, bias)
    if spec.act == "relu":
        h = torch.relu(h)
    if spec.pool:
        h = (F.max_pool1d if spec.kind == "conv1d" else F.max_pool2d)(h, spec.pool)
    return h


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
