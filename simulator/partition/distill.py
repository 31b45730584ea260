"""``distill``: K small students, one per worker, trained from the teacher (knowledge distillation,
Hinton, Vinyals, Dean 2015), the baseline the RePurpose paper compares against.

Student k is an MLP on the inputs worker k's sensors observe, with hidden widths ``hidden``; the
students run side by side without talking, and the fusion worker's output layer reads the last
hidden layer of every student. As one plan: every hidden layer is block diagonal (worker k owns
its student's neurons, which read only worker k's inputs or neurons), the output layer is dense
on the fusion worker, so the only transfers are the other students' last hidden activations,
(K - 1) x ``hidden[-1]`` per sample. The students are trained jointly on the calibration inputs
to match the teacher's softened outputs (KL divergence at ``temperature``, Adam), seeded from the
context; the teacher can be any model the context's inputs fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import SpecError

from .common import PartitionContext
from .plan import PartitionPlan, linear_specs
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
    for name, v in (("epochs", epochs), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"distill: {name} must be a positive integer, got {v!r}")
    if not temperature > 0 or not lr > 0:
        raise SpecError(f"distill: temperature and lr must be positive, got {temperature!r}, {lr!r}")
    k = ctx.workers
    x = ctx.calibration
    with torch.no_grad():
        teacher = model.eval()(x.reshape(len(x), *ctx.input_shape)).reshape(len(x), -1)
    sizes = [x.shape[1]] + [k * w for w in widths] + [teacher.shape[1]]
    masks, owners = _masks(ctx, widths)
    masks.append(torch.ones(sizes[-1], sizes[-2], dtype=torch.bool))
    owners.append(np.full(sizes[-1], ctx.fusion, dtype=np.int64))
    gen = torch.Generator().manual_seed(int(ctx.seed))
    weights, biases = [], []
    for (a, b), m in zip(zip(sizes[:-1], sizes[1:]), masks):
        fan_in = max(int(m.sum(1).max()), 1)  # what one neuron really reads
        bound = 1.0 / math.sqrt(fan_in)
        weights.append(((torch.rand(b, a, generator=gen) * 2 - 1) * bound * m).requires_grad_())
        biases.append(((torch.rand(b, generator=gen) * 2 - 1) * bound).requires_grad_())
    fmask = [m.float() for m in masks]

    def forward(h: torch.Tensor) -> torch.Tensor:
        for l, (w, b, m) in enumerate(zip(weights, biases, fmask)):
            h = h @ (w * m).T + b
            if l < len(weights) - 1:
                h = torch.relu(h)
        return h

    opt = torch.optim.Adam(weights + biases, lr=lr)
    soft = F.softmax(teacher / temperature, dim=1)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            out = F.log_softmax(forward(x[idx]) / temperature, dim=1)
            (F.kl_div(out, soft[idx], reduction="batchmean") * temperature ** 2).backward()
            opt.step()
    acts = ["relu"] * len(widths) + ["none"]
    return PartitionPlan(workers=k, input_owner=ctx.input_owner,
                         weight=[(w * m).detach() for w, m in zip(weights, fmask)], bias=[b.detach() for b in biases],
                         mask=masks, owner=owners, specs=linear_specs(sizes, acts), fusion=ctx.fusion, name="distill",
                         info={"hidden": widths, "epochs": epochs, "temperature": temperature})
