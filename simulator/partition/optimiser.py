"""The cost-driven optimiser: search restructuring budgets, price every candidate on the
simulated cluster and score it on held-out data, return the Pareto front and the chosen plan.

``evaluate(plan, cluster, x, y)`` -> :class:`Evaluation` (accuracy on ``x, y``; latency, energy
and bits of one batch from the task graph run on ``cluster``, or with ``wireless=`` a
:class:`~.wireless_cost.WirelessHardware`, its transfers priced over that shared channel). ``optimise(model, ctx, cluster,
x, y, target=Target(...))`` -> :class:`OptimiseResult`: the RePurpose budget grid ``keeps``
(fraction of each destination's foreign inputs kept, all layers) plus the baselines, every
candidate evaluated the same way; the chosen plan is the fastest within the accuracy drop, or
the most accurate within the latency or energy budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError

from ..cluster import Cluster
from ..executor import run
from ..models import accuracy as model_accuracy
from .common import PartitionContext
from .plan import PartitionPlan
from .registry import partition
from .wireless_cost import WirelessHardware, wireless_cost

__all__ = ["Evaluation", "Target", "OptimiseResult", "evaluate", "optimise", "pareto_front", "DEFAULT_KEEPS"]

DEFAULT_KEEPS = (1.0, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05, 0.02)
DEFAULT_BASELINES = ("central", "direct", "pipeline", "sparse")


@dataclass
class Evaluation:
    """One plan on one cluster: accuracy (held out), per-batch latency and energy, bits per sample
    (values sent times activation bits; a feature map counts all its positions)."""

    partitioner: str
    params: dict[str, Any]
    accuracy: float
    latency_s: float
    energy_j: float
    bits_per_sample: float
    transfers_per_sample: int
    values_per_sample: float
    transfers_per_layer: list[int]
    flops_per_worker: list[float]
    busy_s_per_worker: dict[str, float]
    weights_kept_fraction: float
    plan: PartitionPlan | None = field(default=None, repr=False)

    def row(self) -> dict[str, Any]:
        """Plain values (no plan), for tables and JSON."""
        return {k: v for k, v in self.__dict__.items() if k != "plan"}


@dataclass(frozen=True)
class Target:
    """What the optimiser must meet: at most ``max_accuracy_drop`` below the original model
    (default 0.02), or a latency or energy budget per batch (then the most accurate plan wins)."""

    max_accuracy_drop: float | None = None
    max_latency_s: float | None = None
    max_energy_j: float | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("max_accuracy_drop", "max_latency_s", "max_energy_j") if getattr(self, k) is not None]
        if len(given) > 1:
            raise SpecError(f"target: give one of max_accuracy_drop, max_latency_s, max_energy_j, not {', '.join(given)}")
        for k in given:
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise SpecError(f"target: {k} must be a non-negative number, got {v!r}")


@dataclass
class OptimiseResult:
    original_accuracy: float
    candidates: list[Evaluation]
    pareto: list[Evaluation]
    chosen: Evaluation
    wall_s: float

    def table(self) -> list[dict[str, Any]]:
        """One row per candidate, with ``pareto`` and ``chosen`` flags."""
        front = {id(e) for e in self.pareto}
        return [{**e.row(), "pareto": id(e) in front, "chosen": e is self.chosen} for e in self.candidates]


def evaluate(plan: PartitionPlan, cluster: Cluster, x: torch.Tensor, y: torch.Tensor, *, batch: int = 1,
             activation_bits: int = 32, mode: str = "des", params: dict[str, Any] | None = None,
             wireless: WirelessHardware | None = None) -> Evaluation:
    """Accuracy of ``plan`` on (x, y) and the cost of one ``batch`` on the first ``plan.workers`` hosts
    (with ``wireless``, transfers go over that shared channel instead: :func:`wireless_cost`)."""
    hosts = cluster.hosts
    if len(hosts) < plan.workers:
        raise SpecError(f"plan needs {plan.workers} workers but the cluster has {len(hosts)} hosts")
    if wireless is not None:
        wc = wireless_cost(plan, cluster, wireless, batch=batch, activation_bits=activation_bits)
        latency, energy, busy = wc.latency_s, wc.energy_j, wc.busy_s
    else:
        graph = plan.task_graph(hosts[:plan.workers], batch=batch, activation_bits=activation_bits)
        res = run(graph, cluster, mode=mode, trace=False)
        latency, energy, busy = res.makespan_s, res.energy_j, res.busy_s
    s = plan.summary()
    return Evaluation(plan.name, dict(params or {}), model_accuracy(plan.to_torch(), x, y), latency, energy,
                      float(s["values_per_sample"] * activation_bits), s["transfers_per_sample"],
                      s["values_per_sample"], s["transfers_per_layer"], [2.0 * m for m in s["macs_per_worker"]],
                      {h: busy.get(h, 0.0) for h in hosts[:plan.workers]}, s["weights_kept_fraction"], plan)


def pareto_front(evals: Sequence[Evaluation]) -> list[Evaluation]:
    """Candidates no other beats on accuracy (higher), latency and energy (lower) at once."""
    pts = np.array([[-e.accuracy, e.latency_s, e.energy_j] for e in evals])
    keep = []
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
        if not dominated:
            keep.append(evals[i])
    return sorted(keep, key=lambda e: e.latency_s)


def _choose(evals: Sequence[Evaluation], target: Target, original: float) -> Evaluation:
    if target.max_latency_s is not None or target.max_energy_j is not None:
        attr, budget = ("latency_s", target.max_latency_s) if target.max_latency_s is not None else ("energy_j", target.max_energy_j)
        ok = [e for e in evals if getattr(e, attr) <= budget]
        if not ok:
            best = min(getattr(e, attr) for e in evals)
            raise SpecError(f"target: no plan meets {attr} <= {budget:.4g}; the lowest is {best:.4g}")
        return max(ok, key=lambda e: (e.accuracy, -e.latency_s))
    drop = 0.02 if target.max_accuracy_drop is None else target.max_accuracy_drop
    ok = [e for e in evals if e.accuracy >= original - drop - 1e-12]
    if not ok:
        best = max(e.accuracy for e in evals)
        raise SpecError(f"target: no plan keeps accuracy >= {original - drop:.4f} (original {original:.4f} minus "
                        f"max_accuracy_drop {drop}); the best reaches {best:.4f}")
    return min(ok, key=lambda e: (e.latency_s, e.energy_j))


def optimise(model: nn.Module, ctx: PartitionContext, cluster: Cluster, x: torch.Tensor, y: torch.Tensor, *,
             target: Target = Target(), keeps: Sequence[float] = DEFAULT_KEEPS,
             baselines: Sequence[str] = DEFAULT_BASELINES, refit: str = "lstsq", alternate: int = 0,
             batch: int = 1, activation_bits: int = 32, mode: str = "des",
             wireless: WirelessHardware | None = None) -> OptimiseResult:
    """Search RePurpose budgets ``keeps`` (and price the ``baselines``, the budgeted ones at every
    budget); see the module doc."""
    if not keeps:
        raise SpecError("optimiser: keeps must list at least one budget")
    start = time.perf_counter()
    original = model_accuracy(model, x, y)
    jobs: list[tuple[str, dict[str, Any]]] = [("repurpose", {"keep": k, "refit": refit, "alternate": alternate}) for k in keeps]
    for b in baselines:
        if b in ("sparse", "graphcut"):
            jobs += [(b, {"keep": k}) for k in keeps if k < 1]
        else:
            jobs.append((b, {}))
    evals = []
    for name, params in jobs:
        plan = partition(name, model, ctx, **params)
        evals.append(evaluate(plan, cluster, x, y, batch=batch, activation_bits=activation_bits, mode=mode, params=params,
                              wireless=wireless))
    chosen = _choose(evals, target, original)
    return OptimiseResult(original, evals, pareto_front(evals), chosen, time.perf_counter() - start)
