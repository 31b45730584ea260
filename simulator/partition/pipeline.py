"""``pipeline``: contiguous ranges of layers per worker (stage s on worker s), balanced so that
the largest stage's multiply-adds are smallest (GPipe-style); outputs gathered at the fusion worker.
With ``ctx.memory_B`` a stage's fp32 weights must fit its worker's memory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from .central import dense_plan
from .common import PartitionContext
from .layers import extract
from .plan import PartitionPlan
from .registry import register


def balanced_stages(costs: list[float], stages: int, sizes: Sequence[float] | None = None,
                    capacity: Sequence[float] | None = None) -> list[int]:
    """Stage of each layer: contiguous, at most ``stages``, minimising the largest stage sum (exact DP);
    with ``sizes`` and ``capacity``, stage k's summed sizes at most ``capacity[k]``."""
    n = len(costs)
    s = min(stages, n)
    prefix = np.concatenate([[0.0], np.cumsum(costs)])
    held = np.concatenate([[0.0], np.cumsum(sizes if sizes is not None else np.zeros(n))])
    room = np.full(s, np.inf) if capacity is None else np.asarray(capacity, dtype=float)
    best = np.full((s + 1, n + 1), np.inf)
    cut = np.zeros((s + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for k in range(1, s + 1):
        for j in range(1, n + 1):
            for i in range(k - 1, j):
                if held[j] - held[i] > room[k - 1]:
                    continue
                v = max(best[k - 1, i], prefix[j] - prefix[i])
                if v < best[k, j]:
                    best[k, j], cut[k, j] = v, i
    if not np.isfinite(best[1:, n]).any():
        from simulator.memory import DoesNotFit  # noqa: PLC0415

        raise DoesNotFit(f"pipeline: no split into at most {s} contiguous stages fits the workers' memory "
                         f"(the largest layer needs {max(sizes):,.0f} B); use more workers or another partitioner")
    k = int(np.argmin(best[1:, n])) + 1
    stage = [0] * n
    j = n
    while k > 0:
        i = cut[k, j]
        stage[i:j] = [k - 1] * (j - i)
        j, k = i, k - 1
    return stage


@register("pipeline")
def pipeline(model: nn.Module, ctx: PartitionContext) -> PartitionPlan:
    """Contiguous stages of layers, one per worker, balanced on multiply-adds (and, with
    ``ctx.memory_B``, each stage's fp32 weights within its worker's memory, bytes); see the module doc."""
    specs, weights, biases = extract(model, ctx.input_shape)
    sizes = [4.0 * (w.numel() + b.numel()) for w, b in zip(weights, biases)]
    stage = balanced_stages([float(w.numel() * sp.preact_spatial) for sp, w in zip(specs, weights)], ctx.workers,
                            sizes, ctx.memory_B)
    owners = [np.full(w.shape[0], s, dtype=np.int64) for w, s in zip(weights, stage)]
    return dense_plan(model, ctx, owners, "pipeline")
