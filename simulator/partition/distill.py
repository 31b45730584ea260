"""``distill``: K small students, one per worker, trained from the teacher (knowledge distillation,
Hinton, Vinyals, Dean 2015), the baseline the RePurpose paper compares against.

Student k is an MLP on the inputs worker k's sensors observe, with hidden widths ``hidden``; the
students run side by side without talking, and the fusion worker's output layer reads the last
hidden layer of every student. As one plan: every hidden layer is block diagonal (worker k owns
its student's neurons, which read only worker k's inputs or neurons), the output layer is dense
on the fusion worker, so the only transfers are the other students' last hidden activations,
(K - 1) x ``hidden[-1]`` per sample. The students are trained jointly on the calibration inputs
to match the teacher's softened outputs (:func:`~.finetune.kd_finetune` from a seeded random
start); the teacher can be any model the context's inputs fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError
from hwmodels.checks import is_int

from .common import PartitionContext
from .finetune import kd_finetune
from .layers import linear_specs
from .plan import PartitionPlan
from .registry import register

__all__ = ["distill"]


def _masks(ctx: PartitionContext, widths: list[int]) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    """Block-diagonal masks and owners of the students' hidden layers."""
    k = ctx.workers
    owner_in = np.asarray(ctx.input_owner)
    masks, owners = [], []
    for w in widths:
        owner = np.repeat(np.arange(k), w)
        masks.append(torch.as_tensor(owner[:, None] == owner_in[None, :]))
        owners.append(owner)
        owner_in = owner
    return masks, owners


@register("distill")
def distill(model: nn.Module, ctx: PartitionContext, *, hidden: Sequence[int] = (32, 16), epochs: int = 60,
            temperature: float = 4.0, lr: float = 1e-2, batch: int = 128) -> PartitionPlan:
    """Students with ``hidden`` neurons per layer on every worker, ``epochs`` passes over the
    calibration inputs at ``batch`` samples, Adam at ``lr``."""
    widths = [int(h) for h in hidden]
    if not widths or any(h < 1 for h in widths):
        raise SpecError(f"distill: hidden must list positive widths per student, got {list(hidden)!r}")
    if not is_int(epochs) or epochs < 1:
        raise SpecError(f"distill: epochs must be a positive integer, got {epochs!r}")
    k = ctx.workers
    x = ctx.calibration
    with torch.no_grad():
        classes = model.eval()(x[:1].reshape(1, *ctx.input_shape)).numel()
    sizes = [x.shape[1]] + [k * w for w in widths] + [classes]
    masks, owners = _masks(ctx, widths)
    masks.append(torch.ones(sizes[-1], sizes[-2], dtype=torch.bool))
    owners.append(np.full(sizes[-1], ctx.fusion, dtype=np.int64))
    gen = torch.Generator().manual_seed(int(ctx.seed))
    weights, biases = [], []
    for (a, b), m in zip(zip(sizes[:-1], sizes[1:]), masks):
        bound = 1.0 / math.sqrt(max(int(m.sum(1).max()), 1))  # fan-in: what one neuron really reads
        weights.append((torch.rand(b, a, generator=gen) * 2 - 1) * bound * m)
        biases.append((torch.rand(b, generator=gen) * 2 - 1) * bound)
    acts = ["relu"] * len(widths) + ["none"]
    students = PartitionPlan(workers=k, input_owner=ctx.input_owner, weight=weights, bias=biases, mask=masks,
                             owner=owners, specs=linear_specs(sizes, acts), fusion=ctx.fusion, name="distill",
                             info={"hidden": widths, "temperature": temperature})
    return kd_finetune(students, model, x, ctx.input_shape, epochs=epochs, lr=lr, temperature=temperature, batch=batch,
                       seed=ctx.seed)
