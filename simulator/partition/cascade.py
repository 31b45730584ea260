"""The restructuring cascade every budgeted partitioner shares (RePurpose-style; our
reconstruction from the paper's abstracts, see docs/inference.md).

Per layer, in cascade order (the restructured output of layer l-1 is layer l's input):

1. scores on the restructured inputs: affinity A_ji = W_ji^2 E[x_i^2], or |W_ji|;
2. ownership of the layer's outputs from the partitioner's ``owner_fn``;
3. support: each worker keeps its local inputs and a shared set of ``keep`` of its foreign
   inputs, chosen greedily by summed score (the budget per destination);
4. refit: least squares of the original pre-activations on the allowed inputs and a bias
   (``refit="lstsq"``), Net-Trim's ADMM on that support (``"nettrim"``; a convolution on its
   unfolded patches), or none;
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
from hwmodels.checks import is_int
from hwmodels.registry import Registry

from .common import (Keep, PartitionContext, affinity, assign, capacities, layer_budgets, magnitude, memory_slots,
                     refit_layer, select_support)
from .layers import LayerSpec, apply, coupled_groups, expand_mask, extract, preact
from .nettrim import nettrim_conv, nettrim_layer
from .plan import PartitionPlan

__all__ = ["restructure", "REFITS", "SUPPORTS", "SCORES"]

# owner_fn(layer, weight, x_hat, in_owner, partners) -> owner of the layer's outputs; partners:
# (weight, x_hat, in_owner) of the layers coupled to it whose inputs are ready (one assignment for all)
Partner = tuple[torch.Tensor, torch.Tensor, np.ndarray]
OwnerFn = Callable[[int, torch.Tensor, torch.Tensor, np.ndarray, list[Partner]], np.ndarray]
# fit(spec, x, w, b, z, mask, eps) -> (weights, bias) of a layer on its support
Fit = Callable[[LayerSpec, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float],
               tuple[torch.Tensor, torch.Tensor]]
# support(spec, x, z, w, scores, owner, in_owner, workers, keep) -> the surviving-connection mask
Support = Callable[[LayerSpec, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, int,
                    float], torch.Tensor]

REFITS: Registry[Fit] = Registry("refit")        # step 4
SUPPORTS: Registry[Support] = Registry("support")  # step 3
SCORES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("score")  # step 1: (w, x) -> scores
SCORES.add("affinity", affinity)
SCORES.add("magnitude", lambda w, x: magnitude(w))


@REFITS.register("lstsq")
def _fit_lstsq(spec: LayerSpec, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, z: torch.Tensor,
               mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    return refit_layer(spec, x, z, mask, tuple(w.shape[2:]))


@REFITS.register("nettrim")
def _fit_nettrim(spec: LayerSpec, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, z: torch.Tensor,
                 mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.relu(z) if spec.act == "relu" else z
    budget, relu = eps * float(torch.linalg.norm(y)), spec.act == "relu"
    if spec.conv:  # the same program on the unfolded patches; weights come back as (out, in, *kernel)
        res = nettrim_conv(x.reshape(len(x), *spec.in_shape), y, budget, tuple(w.shape[2:]), stride=spec.stride,
                           padding=spec.padding, relu=relu, mask=mask)
        return res.weight, res.bias
    res = nettrim_layer(x.reshape(len(x), -1).T, y.T, budget, relu=relu, mask=mask.T)  # x may be a feature map
    return res.weight.T.contiguous(), res.bias


@REFITS.register("none")
def _fit_none(spec: LayerSpec, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, z: torch.Tensor,
              mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    return w * expand_mask(spec, w, mask), b


@SUPPORTS.register("score")
def _support_score(spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, w: torch.Tensor, scores: torch.Tensor,
                   owner: np.ndarray, in_owner: np.ndarray, workers: int, keep: float) -> torch.Tensor:
    return select_support(scores, owner, in_owner, workers, keep)


@SUPPORTS.register("ls")
def _support_ls(spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, w: torch.Tensor, scores: torch.Tensor,
                owner: np.ndarray, in_owner: np.ndarray, workers: int, keep: float) -> torch.Tensor:
    from .support import ls_support  # noqa: PLC0415

    return ls_support(spec, x, z, tuple(w.shape[2:]), owner, in_owner, workers, keep, scores)


def restructure(model: nn.Module, ctx: PartitionContext, owner_fn: OwnerFn, *, keep: Keep = 0.5, score: str = "affinity",
                refit_with: str = "lstsq", eps: float = 0.02, alternate: int = 0, share: Any = None,
                support: str = "score", name: str = "") -> PartitionPlan:
    """The cascade of steps 1-5 with ownership from ``owner_fn`` (hidden layers) and support scores
    ``"affinity"`` or ``"magnitude"`` (|W|). A convolution reading a split input channel keeps
    all of it (a channel cannot be partly dropped). Layers joined by a residual add share one
    assignment, made at the first of them in cascade order from its own cost and that of every
    coupled layer whose inputs are planned by then (``partners``), and are not alternated."""
    fit, choose, score_fn = REFITS.get(refit_with), SUPPORTS.get(support), SCORES.get(score)
    if not is_int(alternate) or alternate < 0:
        raise SpecError(f"alternate must be a non-negative integer, got {alternate!r}")
    specs, w0, b0 = extract(model, ctx.input_shape)
    keeps = layer_budgets(keep, len(specs))
    group = coupled_groups(specs)
    group_owner: dict[int, np.ndarray] = {}
    hat = {-1: ctx.calibration}  # restructured outputs per layer (-1: the inputs)
    orig = {-1: ctx.calibration}
    weights, biases, masks, owners = [], [], [], []
    for l, (spec, w, b) in enumerate(zip(specs, w0, b0)):
        src, res = spec.source(l), spec.residual
        x_hat, x_orig = hat[src], orig[src]
        probe = _probe(ctx, specs, w0, b0, weights, biases, masks, owners, l)
        in_owner = probe.in_owner(l)
        split_input = src < 0 and spec.conv and bool(np.any((probe.unit_values(l) > 0).sum(1) > 1))
        z = preact(spec, x_orig, w, b)
        r_hat = r_orig = None
        if res is not None:  # fit what the add leaves to this layer: the original sum minus the restructured shortcut
            if refit_with == "nettrim":
                raise SpecError("refit 'nettrim' does not support residual adds; use refit: lstsq")
            r_hat, r_orig = hat[res].reshape(z.shape), orig[res].reshape(z.shape)
            z = z + r_orig - r_hat
        last = l == len(specs) - 1
        coupled = group.count(group[l]) > 1
        if last:
            owner = np.full(w.shape[0], ctx.fusion, dtype=np.int64)
        elif group[l] in group_owner:  # a residual add is channel-wise: coupled layers share one assignment
            owner = group_owner[group[l]]
        else:
            partners = [(w0[m], hat[specs[m].source(m)],
                         _probe(ctx, specs, w0, b0, weights, biases, masks, owners, m).in_owner(m))
                        for m in range(l + 1, len(specs) - 1)
                        if coupled and group[m] == group[l] and specs[m].source(m) in hat]
            owner = owner_fn(l, w, x_hat, in_owner, partners)
            if coupled:
                group_owner[group[l]] = owner
        scores = score_fn(w, x_hat)
        budget = 1.0 if split_input else keeps[l]
        mask = choose(spec, x_hat, z, w, scores, owner, in_owner, ctx.workers, budget)
        u, c = fit(spec, x_hat, w, b, z, mask, eps)
        for _ in range(0 if last or coupled else alternate):
            cap = capacities(w.shape[0], ctx.workers, share, memory_slots(ctx, w.shape[0], w0, b0))
            owner = assign(_residuals(spec, x_hat, z, mask, owner, ctx.workers, tuple(w.shape[2:])), cap)
            mask = choose(spec, x_hat, z, w, scores, owner, in_owner, ctx.workers, budget)
            u, c = fit(spec, x_hat, w, b, z, mask, eps)
        weights.append(u)
        biases.append(c)
        nonzero = u.reshape(u.shape[0], u.shape[1], -1).ne(0).any(2)
        masks.append(mask & nonzero if refit_with == "nettrim" else mask)
        owners.append(owner)
        hat[l] = apply(spec, x_hat, u, c, r_hat)
        orig[l] = apply(spec, x_orig, w, b, r_orig)
    return PartitionPlan(workers=ctx.workers, input_owner=ctx.input_owner, weight=weights, bias=biases, mask=masks,
                         owner=owners, specs=specs, fusion=ctx.fusion, name=name,
                         info={"keep": keeps, "refit": refit_with, "score": score, "support": support})


def _probe(ctx: PartitionContext, specs: list[LayerSpec], w0: list[torch.Tensor], b0: list[torch.Tensor],
           weights: list[torch.Tensor], biases: list[torch.Tensor], masks: list[torch.Tensor], owners: list[np.ndarray],
           upto: int) -> PartitionPlan:
    """A plan of the layers so far (the rest with their original weights and placeholder owners), to
    ask who holds the inputs of layer ``upto`` (whose source is already planned)."""
    done = len(weights)
    rest = range(done, upto + 1)
    return PartitionPlan(workers=ctx.workers, input_owner=ctx.input_owner, weight=weights + [w0[i] for i in rest],
                         bias=biases + [b0[i] for i in rest],
                         mask=masks + [torch.ones(w0[i].shape[:2], dtype=torch.bool) for i in rest],
                         owner=owners + [np.zeros(w0[i].shape[0], dtype=np.int64) for i in rest], specs=specs[:upto + 1])


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
