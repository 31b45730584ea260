"""``sparse``: the direct split, then each destination keeps only ``keep`` of its foreign inputs,
chosen by weight magnitude (summed |W| over its neurons), then a least-squares refit on what
survives so the baseline is fair (``refit="none"`` to skip it, ``"nettrim"`` for Net-Trim's ADMM)."""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from .common import Keep, PartitionContext
from .direct import direct_owners
from .plan import PartitionPlan
from .registry import register
from .cascade import restructure


@register("sparse")
def sparse(model: nn.Module, ctx: PartitionContext, *, keep: Keep = 0.5, refit: str = "lstsq",
           eps: float = 0.02) -> PartitionPlan:
    """The direct split, each destination keeping ``keep`` of its foreign inputs by weight
    magnitude, then refit by ``refit`` (``eps``: Net-Trim's relative error budget); see the module doc."""
    owners = direct_owners(model, ctx)

    def owner_fn(l: int, w: torch.Tensor, x_hat: torch.Tensor, in_owner: np.ndarray, partners: list) -> np.ndarray:
        return owners[l]

    return restructure(model, ctx, owner_fn, keep=keep, score="magnitude", refit_with=refit, eps=eps, name="sparse")
