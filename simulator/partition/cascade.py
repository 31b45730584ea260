"""The restructuring cascade every budgeted partitioner shares (RePurpose-style; our
reconstruction from the paper's abstracts, see docs/inference.md).

Per layer, in cascade order (the restructured output of layer l-1 is layer l's input):

1. scores on the restructured inputs: affinity A_ji = W_ji^2 E[x_i^2], or |W_ji|;
2. ownership of the layer's outputs from the partitioner's ``owner_fn``;
3. support: each worker keeps its local inputs and a shared set of ``keep`` of its foreign
   inputs, chosen greedily by summed score (the budget per destination);
4. refit: least squares of the original pre-activations on the allowed inputs and a bias
   (``refit="lstsq"``), Net-Trim's ADMM on that support (``"nettrim"``), or none;
5. optionally ``alternate`` times: reassign each neuron to the worker whose allowed inputs fit
   it best (least-squares residual, Munkres with the same capacities), then redo 3-4.

The last layer runs on the fusion worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError

from .common import (PartitionContext, affinity, assign, capacities, layer_budgets, magnitude,
                     refit_layer, select_support)
from .layers import LayerSpec, apply, expand_mask, extract, preact
from .nettrim import nettrim_layer
from .plan import PartitionPlan

__all__ = ["restructure", "REFITS"]

REFITS = ("lstsq", "nettrim", "none")
# owner_fn(layer, weight, x_hat, in_owner) -> owner of the layer's outputs
OwnerFn = Callable[[int, torch.Tensor, torch.Tensor, np.ndarray], np.ndarray]


def _fit(how: str, spec: LayerSpec, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, z: torch.Tensor,
         mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    if how == "lstsq":
        return refit_layer(spec, x, z, mask, tuple(w.shape[2:]))
    if how == "nettrim":
        if spec.conv:
            raise SpecError("refit 'nettrim' supports dense layers only; use refit: lstsq for convolutions")
        y = torch.relu(z) if spec.act == "relu" else z
        res = nettrim_layer(x.T, y.T, eps * float(torch.linalg.norm(y)), relu=spec.act == "relu", mask=mask.T)
        return res.weight.T.contiguous(), res.bias
    return w * expand_mask(spec, w, mask), b


SUPPORTS = ("score", "ls")


def _support(how: str, spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, w: torch.Tensor, scores: torch.Tensor,
             owner: np.ndarray, in_owner: np.ndarray, workers: int, keep: float) -> torch.Tensor:
    if how == "score":
        return select_support(scores, owner, in_owner, workers, keep)
    from .support import ls_support  # noqa: PLC0415

    return ls_support(spec, x, z, tuple(w.shape[2:]), owner, in_owner, workers, keep, scores)


def restructure(model: nn.Module, ctx: PartitionContext, owner_fn: OwnerFn, *, keep: Any = 0.5, score: str = "affinity",
                refit_with: str = "lstsq", eps: float = 0.02, alternate: int = 0, share: Any = None,
                support: str = "score", name: str = "") -> PartitionPlan:
    """The cascade of steps 1-6 with ownership from ``owner_fn`` (hidden layers) and support scores
    ``"affinity"`` or ``"magnitude"`` (|W|). A first convolution reading a split input channel
    keeps all of it (a channel cannot be partly dropped)."""
    if refit_with not in REFITS:
        raise SpecError(f"refit {refit_with!r}; known: {', '.join(REFITS)}")
    if support not in SUPPORTS:
        raise SpecError(f"support {support!r}; known: {', '.join(SUPPORTS)}")
    if score not in ("affinity", "magnitude"):
        raise SpecError(f"score {score!r}; known: affinity, magnitude")
    if isinstance(alternate, bool) or not isinstance(alternate, int) or alternate < 0:
        raise SpecError(f"alternate must be a non-negative integer, got {alternate!r}")
    specs, w0, b0 = extract(model, ctx.input_shape)
    keeps = layer_budgets(keep, len(specs))
    x_orig = x_hat = ctx.calibration
    weights, biases, masks, owners = [], [], [], []
    for l, (spec, w, b) in enumerate(zip(specs, w0, b0)):
        probe = PartitionPlan(workers=ctx.workers, input_owner=ctx.input_owner, weight=weights + [w], bias=biases + [b],
                              mask=masks + [torch.ones(w.shape[:2], dtype=torch.bool)],
                              owner=owners + [np.zeros(w.shape[0], dtype=np.int64)], specs=specs[:l + 1])
        in_owner = probe.in_owner(l)
        split_input = l == 0 and spec.conv and bool(np.any((probe.unit_values(0) > 0).sum(1) > 1))
        z = preact(spec, x_orig, w, b)
        last = l == len(specs) - 1
        owner = np.full(w.shape[0], ctx.fusion, dtype=np.int64) if last else owner_fn(l, w, x_hat, in_owner)
        scores = affinity(w, x_hat) if score == "affinity" else magnitude(w)
        budget = 1.0 if split_input else keeps[l]
        mask = _support(support, spec, x_hat, z, w, scores, owner, in_owner, ctx.workers, budget)
        u, c = _fit(refit_with, spec, x_hat, w, b, z, mask, eps)
        for _ in range(0 if last else alternate):
            cap = capacities(w.shape[0], ctx.workers, share)
            owner = assign(_residuals(spec, x_hat, z, mask, owner, ctx.workers, tuple(w.shape[2:])), cap)
            mask = _support(support, spec, x_hat, z, w, scores, owner, in_owner, ctx.workers, budget)
            u, c = _fit(refit_with, spec, x_hat, w, b, z, mask, eps)
        weights.append(u)
        biases.append(c)
        nonzero = u.reshape(u.shape[0], u.shape[1], -1).ne(0).any(2)
        masks.append(mask & nonzero if refit_with == "nettrim" else mask)
        owners.append(owner)
        x_hat = apply(spec, x_hat, u, c)
        x_orig = apply(spec, x_orig, w, b)
    return PartitionPlan(workers=ctx.workers, input_owner=ctx.input_owner, weight=weights, bias=biases, mask=masks,
                         owner=owners, specs=specs, fusion=ctx.fusion, name=name,
                         info={"keep": keeps, "refit": refit_with, "score": score})


def _residuals(spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, mask: torch.Tensor, owner: np.ndarray, workers: int,
               kernel: tuple[int, ...]) -> np.ndarray:
    """(neurons x workers): squared least-squares residual of every neuron on each worker's allowed inputs."""
    out = np.zeros((z.shape[1], workers))
    for k in range(workers):
        rows = np.flatnonzero(owner == k)
        support = mask[rows[0]] if len(rows) else torch.zeros(mask.shape[1], dtype=torch.bool)
        u, c = refit_layer(spec, x, z, support.expand(z.shape[1], -1), kernel)
        err = (z - preact(spec, x, u, c)) ** 2
        out[:, k] = err.transpose(0, 1).reshape(z.shape[1], -1).sum(1).double().numpy()
    return out
