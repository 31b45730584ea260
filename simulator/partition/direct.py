"""``direct``: every hidden layer split into K contiguous equal blocks of neurons (channels), dense weights
(exact); the last layer runs on the fusion worker."""

from __future__ import annotations

import numpy as np
from torch import nn

from .central import dense_plan
from .common import PartitionContext, blocks, check_width
from .layers import extract
from .plan import PartitionPlan
from .registry import register


def direct_owners(model: nn.Module, ctx: PartitionContext) -> list[np.ndarray]:
    """Owner of every layer's outputs for the dense split: each hidden layer cut into ``ctx.workers``
    contiguous blocks, the last layer on the fusion worker."""
    weights = extract(model, ctx.input_shape)[1]
    owners = []
    for l, w in enumerate(weights[:-1]):
        check_width(w.shape[0], ctx.workers, f"layer {l}")
        owners.append(blocks(w.shape[0], ctx.workers))
    return owners + [np.full(weights[-1].shape[0], ctx.fusion, dtype=np.int64)]


@register("direct")
def direct(model: nn.Module, ctx: PartitionContext) -> PartitionPlan:
    """The dense split (:func:`direct_owners`), every weight kept: each worker reads every input it needs."""
    return dense_plan(model, ctx, direct_owners(model, ctx), "direct")
