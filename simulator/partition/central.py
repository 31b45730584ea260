"""``central`` (naive): the sensors send their raw inputs to the fusion worker, which runs the whole model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .common import PartitionContext
from .layers import extract
from .plan import PartitionPlan
from .registry import register


def dense_plan(model: nn.Module, ctx: PartitionContext, owners: list[np.ndarray], name: str) -> PartitionPlan:
    """The model's own weights, all surviving, with the given owners."""
    specs, weights, biases = extract(model, ctx.input_shape)
    return PartitionPlan(workers=ctx.workers, input_owner=ctx.input_owner, weight=weights, bias=biases,
                         mask=[torch.ones(w.shape[:2], dtype=torch.bool) for w in weights], owner=owners, specs=specs,
                         fusion=ctx.fusion, name=name)


@register("central")
def central(model: nn.Module, ctx: PartitionContext) -> PartitionPlan:
    """Every layer on the fusion worker: the sensors send their raw inputs there once."""
    owners = [np.full(w.shape[0], ctx.fusion, dtype=np.int64) for w in extract(model, ctx.input_shape)[1]]
    return dense_plan(model, ctx, owners, "central")
