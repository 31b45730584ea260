"""``repurpose``: RePurpose-style restructuring (Abdi, Rashidi, Fekri, Krishna, AAAI 2023; our
reconstruction from its abstracts, see docs/inference.md): the shared cascade of
:mod:`.cascade` with ownership by affinity and Munkres:

1. affinity A_ji = W_ji^2 E[x_i^2] on the restructured inputs;
2. cost C_jk = sum of A_ji over inputs i not owned by worker k; link-aware (``lam_c > 0`` with a
   ``link_cost`` matrix c, c[s, k] the cost of moving one activation from s to k, mean 1, see
   :func:`.linkcost.link_cost`): C_jk = sum_i A_ji [o_i != k] (1 + lam_c c[o_i, k]), so a foreign
   input over an expensive link weighs more: A_ji is what neuron j loses if input i is dropped,
   (1 + lam_c c) charges what keeping it costs in transfer time;
3. assignment: worker k's column repeated cap_k times, Munkres (``linear_sum_assignment``);
   ``share`` gives heterogeneous (or zero: pure sensor) capacities;
4. ``spread = B > 0`` (per-source load balance): the layer's neurons are ranked by how much the
   layers reading them will want them (export demand d_j = E[y_j^2] sum_m ||W_mj||^2 over the
   consumer's weights, the affinity mass the consumer's support selection ranks by), cut into B
   bands, and every band is assigned with the workers' capacities split in proportion, so every
   worker owns its share of the most-read neurons and no single sender's link carries most of the
   next layer's foreign inputs. Munkres then solves B problems of n/B rows (also B^2 times faster).

Assignments are memoised (same cost matrix and capacities -> same owners), so candidates of the
optimiser that share a prefix of the cascade do not solve the same assignment twice.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError
from hwmodels.checks import is_int, is_number

from .cascade import restructure
from .common import Keep, PartitionContext, affinity, assign, capacities, check_width, memory_slots
from .finetune import kd_finetune
from .layers import apply, extract
from .plan import PartitionPlan
from .registry import register

__all__ = ["repurpose", "link_penalty", "export_demand", "banded_assign"]

_MEMO: OrderedDict[bytes, np.ndarray] = OrderedDict()
_MEMO_SIZE = 256


def _assign(cost: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """:func:`~.common.assign`, memoised on the exact bytes of (cost, cap)."""
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    cap = np.ascontiguousarray(cap, dtype=np.int64)
    key = hashlib.blake2b(cost.tobytes() + b"|" + cap.tobytes() + repr(cost.shape).encode(), digest_size=20).digest()
    hit = _MEMO.get(key)
    if hit is not None:
        _MEMO.move_to_end(key)
        return hit.copy()
    owner = assign(cost, cap)
    _MEMO[key] = owner.copy()
    if len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return owner


def link_penalty(in_owner: np.ndarray, workers: int, link_cost: np.ndarray | None, lam_c: float) -> np.ndarray:
    """(inputs x workers) P[i, k] = [o_i != k] (1 + lam_c c[o_i, k]): cost = A @ P."""
    in_owner = np.asarray(in_owner, dtype=np.int64)
    if link_cost is None or lam_c == 0:
        p = np.ones((len(in_owner), workers))
    else:
        p = 1.0 + lam_c * np.asarray(link_cost, dtype=float)[in_owner]
    p[np.arange(len(in_owner)), in_owner] = 0.0
    return p


def banded_assign(cost: np.ndarray, cap: np.ndarray, demand: np.ndarray, bands: int) -> np.ndarray:
    """Owner of each row minimising ``cost`` with at most ``cap[k]`` rows on worker k, rows cut into
    ``bands`` bands by decreasing ``demand``, each band getting the capacities in proportion (the
    total per worker stays within ``cap``)."""
    n, k = cost.shape
    order = np.argsort(-np.asarray(demand, dtype=float), kind="stable")
    parts = [p for p in np.array_split(order, min(bands, n)) if len(p)]
    remaining = np.asarray(cap, dtype=np.int64).copy()
    total = max(int(remaining.sum()), 1)
    owner = np.empty(n, dtype=np.int64)
    for b, rows in enumerate(parts):
        if b == len(parts) - 1:
            band_cap = remaining.copy()
        else:
            band_cap = np.minimum(remaining, np.ceil(len(rows) * np.asarray(cap) / total - 1e-9).astype(np.int64))
            while band_cap.sum() < len(rows):  # top up from the workers with most capacity left
                j = int(np.argmax(remaining - band_cap))
                band_cap[j] += 1
        got = _assign(cost[rows], band_cap)
        owner[rows] = got
        remaining -= np.bincount(got, minlength=k)
    return owner


def export_demand(specs: list, weights: list[torch.Tensor], biases: list[torch.Tensor], l: int,
                  x_hat: torch.Tensor) -> np.ndarray | None:
    """d_j of layer ``l``'s neurons: the affinity mass the layers reading layer ``l`` put on each
    of its outputs (output of layer l with its original weights on ``x_hat``); None when no later
    layer reads it or the shapes do not fold onto its neurons."""
    n = weights[l].shape[0]
    readers = [m for m in range(l + 1, len(specs)) if specs[m].source(m) == l]
    if not readers:
        return None
    try:
        y = apply(specs[l], x_hat, weights[l], biases[l])
        d = np.zeros(n)
        for m in readers:
            mass = affinity(weights[m], y.reshape(len(y), -1)).sum(0).numpy()
            if mass.size % n:
                return None
            d += mass.reshape(n, -1).sum(1)
    except (RuntimeError, ValueError):
        return None
    return d


@register("repurpose")
def repurpose(model: nn.Module, ctx: PartitionContext, *, keep: Keep = 0.5, refit: str = "lstsq", eps: float = 0.02,
              alternate: int = 0, share: Any = None, support: str = "ls", link_cost: Any = None,
              lam_c: float = 0.0, spread: int = 0, finetune: int = 0, finetune_lr: float = 1e-3) -> PartitionPlan:
    """RePurpose-style restructuring; ``keep``: kept fraction of each destination's foreign inputs
    (one number or one per layer); ``share``: relative neuron capacity of each worker (0: the
    worker computes nothing, it only sends its sensor inputs); ``support``: ``"score"`` (foreign
    inputs by summed affinity) or ``"ls"`` (by least-squares fit gain); ``link_cost`` (K x K, zero
    diagonal) and ``lam_c`` >= 0: link-aware assignment cost; ``spread``: bands of the per-source
    load balance (0: off); ``finetune``: epochs of knowledge-distillation training of the surviving
    weights after the cascade (:func:`~.finetune.kd_finetune`, masks fixed; 0: least squares only).
    See the module doc."""
    k_all = ctx.workers
    if not is_number(lam_c) or lam_c < 0:
        raise SpecError(f"lam_c must be a non-negative number, got {lam_c!r}")
    if not is_int(spread) or spread < 0:
        raise SpecError(f"spread must be a non-negative integer (bands; 0: off), got {spread!r}")
    c = None
    if link_cost is not None:
        c = np.asarray(link_cost, dtype=float)
        if c.shape != (k_all, k_all) or not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(np.diag(c) != 0):
            raise SpecError(f"link_cost must be a {k_all} x {k_all} matrix of non-negative numbers with a zero "
                            f"diagonal (see simulator.partition.linkcost.link_cost)")
    elif lam_c > 0:
        raise SpecError("lam_c > 0 needs link_cost (simulator.partition.linkcost.link_cost(cluster, workers))")
    specs, w0, b0 = extract(model, ctx.input_shape) if spread or ctx.memory_B is not None else (None, None, None)

    def assignment_cost(w: torch.Tensor, x_hat: torch.Tensor, in_owner: np.ndarray) -> np.ndarray:
        return (affinity(w, x_hat) @ torch.as_tensor(link_penalty(in_owner, k_all, c, lam_c))).numpy()

    def owner_fn(l: int, w: torch.Tensor, x_hat: torch.Tensor, in_owner: np.ndarray, partners: list) -> np.ndarray:
        check_width(w.shape[0], k_all, f"layer {l}")
        # coupled layers (a residual add) share this assignment: their costs add up channel by channel
        cost = assignment_cost(w, x_hat, in_owner) + sum(assignment_cost(*p) for p in partners)
        cap = capacities(w.shape[0], k_all, share, None if w0 is None else memory_slots(ctx, w.shape[0], w0, b0))
        demand = export_demand(specs, w0, b0, l, x_hat) if spread and l < len(specs) else None
        if demand is None:
            return _assign(cost, cap)
        return banded_assign(cost, cap, demand, int(spread))

    plan = restructure(model, ctx, owner_fn, keep=keep, refit_with=refit, eps=eps, alternate=alternate, share=share,
                       support=support, name="repurpose")
    if lam_c or spread or share is not None:
        plan.info.update({"lam_c": float(lam_c), "spread": int(spread),
                          "share": None if share is None else [float(s) for s in np.asarray(share, dtype=float)]})
    return kd_finetune(plan, model, ctx.calibration, ctx.input_shape, epochs=finetune, lr=finetune_lr, seed=ctx.seed)
