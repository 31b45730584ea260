"""A partition plan: who owns every neuron, which weights survive, and what that costs.

A :class:`PartitionPlan` holds, for every layer ``l`` (Linear, or a convolution whose neurons are
its output channels; see :mod:`.layers`), its structure ``specs[l]``, the (possibly restructured)
weights ``weight[l]`` and ``bias[l]``, the surviving-connection ``mask[l]`` (out x in neurons or
channels, bool), the owner (worker index) of every output neuron ``owner[l]``, and the owner of
every input feature ``input_owner`` (the sensors). The last layer's outputs are gathered at the
``fusion`` worker.

It compiles to

- :meth:`PartitionPlan.to_torch`: a torch model computing exactly what the workers compute
  (each neuron reads only its surviving inputs), for accuracy;
- :meth:`PartitionPlan.task_graph`: per layer a ``Compute`` per worker (2 FLOPs per surviving
  multiply-add, times the batch) and one ``Send`` per (source, destination) worker pair carrying
  every activation the destination needs and does not own, each counted once however many of the
  destination's neurons read it, at ``activation_bits`` per value, times the batch.

Counting rules (per sample): layer ``l`` needs input unit ``i`` on worker ``k`` when a neuron
owned by ``k`` has a surviving weight from ``i`` and ``i``'s owner is not ``k``; a unit is one
activation of a dense layer or one feature map (all its positions) of a convolution. A first
convolution whose single input channel is split among sensors needs each foreign piece of it
(one transfer per (piece, destination), its values counted in bits). The final outputs not
owned by ``fusion`` are one transfer each. Flattened features keep their channel's owner. A layer
reads the output of its source layer (``LayerSpec.src``); a residual add needs channel j of the
shortcut layer on the worker owning channel j (free when the two share an assignment).

Activations cross workers at ``activation_bits``: 32 is exact fp32, 16 is IEEE half, fewer bits
a uniform quantiser over each layer's calibrated output range (:meth:`PartitionPlan.calibrate`,
done by :func:`~.registry.partition`); the torch model of :meth:`PartitionPlan.to_torch` applies
it to exactly the values that travel, so accuracy and bits describe the same plan.

The record and its validation live here; the counting in :mod:`.accounting`, the task graph in
:mod:`.plangraph`, the torch model in :mod:`.maskednet`, saving and loading in :mod:`.persistence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hwmodels import SpecError
from hwmodels.checks import is_int
from hwmodels.registry import Registry

from .layers import LayerSpec, expand_mask, finish, preact
from .maskednet import MaskedNet
from .persistence import PlanPersistence
from .plangraph import PlanGraph

__all__ = ["PartitionPlan", "ACTIVATIONS"]

ACTIVATIONS: Registry[str] = Registry("activation")   # what a layer applies after its add
ACTIVATIONS.add("relu", "max(0, x)")
ACTIVATIONS.add("none", "the identity")


def _int_array(values: Any, n: int, workers: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise SpecError(f"{what}: needs one integer worker index per neuron ({n}), got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= workers):
        raise SpecError(f"{what}: worker indices must be in 0..{workers - 1}, got {int(arr.min())}..{int(arr.max())}")
    return arr.astype(np.int64)


@dataclass
class PartitionPlan(PlanGraph, PlanPersistence):
    """Ownership and surviving weights of every layer on ``workers`` workers (see the module doc)."""

    workers: int
    input_owner: np.ndarray
    weight: list[torch.Tensor]
    bias: list[torch.Tensor]
    mask: list[torch.Tensor]
    owner: list[np.ndarray]
    specs: list[LayerSpec]
    fusion: int = 0
    name: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    act_range: list[tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if not is_int(self.workers) or self.workers < 1:
            raise SpecError(f"plan: workers must be a positive integer, got {self.workers!r}")
        self.workers = int(self.workers)
        n = len(self.weight)
        if not (len(self.bias) == len(self.mask) == len(self.owner) == len(self.specs) == n) or n == 0:
            raise SpecError("plan: weight, bias, mask, owner and specs need one entry per layer")
        self.specs = [sp if isinstance(sp, LayerSpec) else LayerSpec(**sp) for sp in self.specs]
        self.input_owner = _int_array(self.input_owner, math.prod(self.specs[0].in_shape), self.workers,
                                      "plan: input_owner")
        for l, (w, b, m, sp) in enumerate(zip(self.weight, self.bias, self.mask, self.specs)):
            out, inp = w.shape[:2]
            src = sp.source(l)
            src_shape = self.specs[0].in_shape if src < 0 else self.specs[src].out_shape
            if b.shape != (out,) or tuple(m.shape) != (out, inp) or sp.out_shape[0] != out or sp.in_shape[0] != inp \
                    or not -1 <= src < l or math.prod(sp.in_shape) != math.prod(src_shape) \
                    or (sp.residual is not None and not -1 <= sp.residual < l):
                raise SpecError(f"plan: layer {l} shapes do not chain (weight {tuple(w.shape)}, bias {tuple(b.shape)}, "
                                f"mask {tuple(m.shape)}, in {sp.in_shape}, out {sp.out_shape})")
            self.owner[l] = _int_array(self.owner[l], out, self.workers, f"plan: layer {l} owner")
            self.mask[l] = m.bool()
            ACTIVATIONS.get(sp.act, where=f"plan: layer {l}")
        if not 0 <= self.fusion < self.workers:
            raise SpecError(f"plan: fusion worker {self.fusion} is not in 0..{self.workers - 1}")

    def to_torch(self, activation_bits: int = 32) -> MaskedNet:
        """The model the workers compute together (weights outside the masks are zero), every value
        crossing workers sent at ``activation_bits`` (see the module doc)."""
        masked = [w * expand_mask(sp, w, m) for sp, w, m in zip(self.specs, self.weight, self.mask)]
        if activation_bits >= 32:
            return MaskedNet(self.specs, masked, self.bias).eval()
        if self.act_range is None:
            raise SpecError("plan: quantised activations need calibrated ranges; call plan.calibrate(x) with "
                            "calibration inputs first")
        feats = [self.feature_owner(sp.source(l)) for l, sp in enumerate(self.specs)]
        feats += [self.feature_owner(sp.residual) if sp.residual is not None else np.zeros(0, dtype=np.int64)
                  for sp in self.specs]
        return MaskedNet(self.specs, masked, self.bias, activation_bits=activation_bits, feature_owner=feats,
                         owners=self.owner, ranges=self.act_range, fusion=self.fusion).eval()

    def calibrate(self, x: torch.Tensor) -> PartitionPlan:
        """Record the range (min, max) of the model input and of every layer's output on ``x``,
        the fixed ranges quantised activations use (sent once with the plan, not per sample)."""
        net = self.to_torch()
        ranges = [(float(x.min()), float(x.max()))]
        outs = {-1: x.reshape(len(x), -1).float()}
        with torch.no_grad():
            for l, (sp, w, b) in enumerate(zip(net.specs, net.weights, net.biases)):
                outs[l] = finish(sp, preact(sp, outs[sp.source(l)], w, b),
                                 None if sp.residual is None else outs[sp.residual])
                ranges.append((float(outs[l].min()), float(outs[l].max())))
        self.act_range = ranges
        return self
