"""``repurpose``: RePurpose-style restructuring (Abdi, Rashidi, Fekri, Krishna, AAAI 2023; our
reconstruction from its abstracts, see docs/inference.md): the shared cascade of
:mod:`.cascade` with ownership by affinity and Munkres:

1. affinity A_ji = W_ji^2 E[x_i^2] on the restructured inputs;
2. cost C_jk = sum of A_ji over inputs i not owned by worker k;
3. assignment: worker k's column repeated cap_k times, Munkres (``linear_sum_assignment``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .cascade import restructure
from .common import PartitionContext, affinity, assign, capacities, check_width
from .plan import PartitionPlan
from .registry import register

__all__ = ["repurpose"]


@register("repurpose")
def repurpose(model: nn.Module, ctx: PartitionContext, *, keep: Any = 0.5, refit: str = "lstsq", eps: float = 0.02,
              alternate: int = 0, share: Any = None, support: str = "score") -> PartitionPlan:
    """RePurpose-style restructuring; ``keep``: kept fraction of each destination's foreign inputs
    (one number or one per layer); ``share``: relative neuron capacity of each worker; ``support``:
    ``"score"`` (foreign inputs by summed affinity) or ``"ls"`` (by least-squares fit gain)."""

    def owner_fn(l: int, w: torch.Tensor, x_hat: torch.Tensor, in_owner: np.ndarray) -> np.ndarray:
        check_width(w.shape[0], ctx.workers, f"layer {l}")
        a = affinity(w, x_hat)
        onehot = torch.zeros(len(in_owner), ctx.workers, dtype=torch.float64)
        onehot[torch.arange(len(in_owner)), torch.as_tensor(in_owner)] = 1.0
        cost = a.sum(1, keepdim=True) - a @ onehot
        return assign(cost.numpy(), capacities(w.shape[0], ctx.workers, share))

    return restructure(model, ctx, owner_fn, keep=keep, refit_with=refit, eps=eps, alternate=alternate, share=share,
                       support=support, name="repurpose")
