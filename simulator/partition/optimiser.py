"""The cost-driven optimiser: search restructuring budgets, price every candidate on the
simulated cluster and score it on held-out data, return the Pareto front and the chosen plan.

``evaluate(plan, cluster, x, y)`` -> :class:`Evaluation` (accuracy on ``x, y``; latency, energy
and bits of one batch from the task graph run on ``cluster``, or with ``wireless=`` a
:class:`~.wireless_cost.WirelessHardware`, its transfers priced over that shared channel). ``optimise(model, ctx, cluster,
x, y, OptimiserConfig(target=Target(...)))`` -> :class:`OptimiseResult`: the RePurpose budget grid ``keeps``
(fraction of each destination's foreign inputs kept, all layers) plus the baselines, every
candidate evaluated the same way; the chosen plan is the fastest within the accuracy drop, or
the most accurate within the latency or energy budget.

The search (all deterministic):

* the uniform grid: RePurpose at every budget in ``keeps``, for every link weight in ``lam_c``
  (link-aware assignment with the cost matrix :func:`.linkcost.link_cost` derives from the
  cluster or the wireless channel; on hardware where every pair costs the same, lam_c > 0 changes
  nothing and only lam_c = 0 is priced) and every count in ``compute_workers`` (the first K' of
  :func:`.linkcost.compute_order` get neuron capacity, the others are pure sensors);
* ``spread`` bands of per-source load balance in every RePurpose assignment (:mod:`.repurpose`);
* ``share``: ``"equal"`` (the default) gives every computing worker the same neuron capacity,
  ``"speed"`` capacity in proportion to its device speed (the same on identical devices), or one
  number per worker;
* then the per-layer search: coordinate descent from the best RePurpose candidate on the target
  (then the other RePurpose candidates on the Pareto front): move one layer's budget one rung
  along the ladder ``keeps`` plus min(keeps)/2 and 0 (tighter first while an accuracy target
  holds or a latency/energy budget is broken, looser first otherwise; tighter moves try the
  layer with most transfers first), keep the first move that improves the target objective
  (feasible first, then as the chosen plan is ranked), repeat; at most ``refine`` extra
  candidates in all.

The chosen plan is picked among all candidates, so the per-layer search can only improve on the
grid's choice.

Memory: the optimiser gives the context each worker's ``mem_capacity_B`` (unless it has
``memory_B``), so RePurpose's assignment gives no worker more neurons than its memory holds
(:func:`.common.memory_slots`); a candidate whose plan still needs more than a worker has on the
batch (:func:`simulator.memory.plan_memory`: weights and peak activations) is ``infeasible``: scored
for accuracy, not priced (latency and energy NaN), left out of the Pareto front, the choice and the
per-layer search, and counted in ``OptimiseResult.infeasible`` by reason.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError
from hwmodels.checks import is_int, is_number

from ..cluster import Cluster
from ..executor import run
from ..memory import DoesNotFit, check_fits, plan_memory
from ..models import accuracy as model_accuracy
from .common import PartitionContext, layer_budgets
from .linkcost import compute_share, link_cost as derive_link_cost
from .plan import PartitionPlan
from .registry import PARTITIONERS, partition
from .wireless_cost import WirelessHardware, wireless_cost

__all__ = ["Evaluation", "Target", "OptimiserConfig", "OptimiseResult", "evaluate", "optimise", "pareto_front",
           "DEFAULT_KEEPS"]

DEFAULT_KEEPS = (1.0, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05, 0.02)
DEFAULT_BASELINES = ("central", "direct", "pipeline", "sparse")
DEFAULT_SPREAD = 8  # bands of the per-source load balance (docs/benchmarks.md: 11-15 % faster at equal transfers)
DEFAULT_REFINE = 4  # per-layer budget candidates after the uniform grid
SHARES = ("speed", "equal")


@dataclass
class Evaluation:
    """One plan on one cluster: accuracy (held out), per-batch latency and energy, bits per sample
    (values sent times activation bits, once per (value, destination) as a wired network carries
    them; a feature map counts all its positions), and over a wireless channel the bits on air
    per sample (each value broadcast once, plus the access point's relay)."""

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
    air_bits_per_sample: float | None = None  # over a wireless channel: bits on air (broadcast uplinks + relays)
    energy_breakdown_j: dict[str, float] = field(default_factory=dict)   # compute, idle, link, radio per batch
    peak_memory_B_per_worker: list[float] = field(default_factory=list)  # weights + peak activations on the batch
    feasibility: str = "ok"         # or "infeasible: <why>" (not priced: latency and energy are NaN)

    @property
    def feasible(self) -> bool:
        """Whether the plan fits every worker's memory (and so is priced)."""
        return self.feasibility == "ok"

    def row(self) -> dict[str, Any]:
        """Plain values (no plan; bits on air only over a wireless channel; an unpriced plan's
        latency and energy None), for tables and JSON."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()
                if k != "plan" and not (k == "air_bits_per_sample" and v is None)}


@dataclass(frozen=True)
class Target:
    """What the optimiser must meet: at most ``max_accuracy_drop`` below the original model
    (default 0.02), or a latency or energy budget per batch (then the most accurate plan wins)."""

    # a spec validates its ``target`` mapping against these fields (pydantic): no other key
    __pydantic_config__ = {"extra": "forbid"}

    max_accuracy_drop: float | None = None
    max_latency_s: float | None = None
    max_energy_j: float | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("max_accuracy_drop", "max_latency_s", "max_energy_j") if getattr(self, k) is not None]
        if len(given) > 1:
            raise SpecError(f"target: give one of max_accuracy_drop, max_latency_s, max_energy_j, not {', '.join(given)}")
        for k in given:
            v = getattr(self, k)
            if not is_number(v, finite=False) or v < 0:
                raise SpecError(f"target: {k} must be a non-negative number, got {v!r}")

    @property
    def accuracy_drop(self) -> float:
        """The largest allowed accuracy drop (``max_accuracy_drop``, default 0.02)."""
        return 0.02 if self.max_accuracy_drop is None else self.max_accuracy_drop


@dataclass(frozen=True)
class OptimiserConfig:
    """What :func:`optimise` searches and how it prices each candidate (see the module doc).

    ``target``: what the chosen plan must meet; ``keeps``: the RePurpose budgets (fractions of each
    destination's foreign inputs kept); ``baselines``: the other partitioners priced (the budgeted
    ones at every budget); ``refit``, ``alternate``, ``finetune`` (epochs): RePurpose's options;
    ``batch`` (samples) and ``activation_bits`` (bits per value sent) of the priced inference;
    ``mode``: the executor's ("des" or "analytic"); ``wireless``: price transfers over that shared
    channel; ``lam_c``: link weights; ``spread``: load-balance bands; ``refine``: at most this many
    per-layer candidates; ``compute_workers``: counts of workers given neurons; ``share``: "equal",
    "speed" or one capacity per worker. Lists are kept as tuples; every field is checked here
    (those that depend on the workers again by :func:`optimise`).
    """

    target: Target = Target()
    keeps: Sequence[float] = DEFAULT_KEEPS
    baselines: Sequence[str] = DEFAULT_BASELINES
    refit: str = "lstsq"
    alternate: int = 0
    finetune: int = 0
    batch: int = 1
    activation_bits: int = 32
    mode: str = "des"
    wireless: WirelessHardware | None = None
    lam_c: float | Sequence[float] = 0.0
    spread: int = DEFAULT_SPREAD
    refine: int = DEFAULT_REFINE
    compute_workers: Sequence[int] | None = None
    share: str | Sequence[float] = "equal"

    def __post_init__(self) -> None:
        if not isinstance(self.target, Target):
            raise SpecError(f"optimiser: target must be a Target, got {self.target!r}")
        if not self.keeps:
            raise SpecError("optimiser: keeps must list at least one budget")
        fixed: dict[str, Any] = {
            "keeps": tuple(layer_budgets(list(self.keeps), len(self.keeps))),  # the partitioners' own check and message
            "baselines": tuple(self.baselines),
            "spread": _count(self.spread, "spread"), "refine": _count(self.refine, "refine"),
            "lam_c": tuple(_numbers(self.lam_c, "lam_c")),
        }
        for b in fixed["baselines"]:
            PARTITIONERS.get(b, where="optimiser: baselines")
        if self.compute_workers is not None:
            fixed["compute_workers"] = tuple(_numbers(self.compute_workers, "compute_workers", lo=1, integer=True))
        if isinstance(self.share, str):
            if self.share not in SHARES:
                raise SpecError(f"optimiser: share {self.share!r}; give 'speed', 'equal' or one number per worker")
        else:
            fixed["share"] = tuple(_numbers(self.share, "share"))
            if self.compute_workers is not None:
                raise SpecError("optimiser: give compute_workers or an explicit share list, not both")
        for k, v in fixed.items():
            object.__setattr__(self, k, v)


@dataclass
class OptimiseResult:
    """What :func:`optimise` found: the original model's accuracy, every candidate (in search order),
    the Pareto front, the chosen plan, the search's wall time (s) and the candidates left out by reason."""

    original_accuracy: float
    candidates: list[Evaluation]
    pareto: list[Evaluation]
    chosen: Evaluation
    wall_s: float
    infeasible: dict[str, int] = field(default_factory=dict)   # candidates left out, by reason

    def table(self) -> list[dict[str, Any]]:
        """One row per candidate, with ``pareto`` and ``chosen`` flags."""
        front = {id(e) for e in self.pareto}
        return [{**e.row(), "pareto": id(e) in front, "chosen": e is self.chosen} for e in self.candidates]


def evaluate(plan: PartitionPlan, cluster: Cluster, x: torch.Tensor, y: torch.Tensor, *, batch: int = 1,
             activation_bits: int = 32, mode: str = "des", params: dict[str, Any] | None = None,
             wireless: WirelessHardware | None = None, infeasible: str = "raise") -> Evaluation:
    """Accuracy of ``plan`` on (x, y) and the cost of one ``batch`` on the first ``plan.workers`` hosts
    (with ``wireless``, transfers go over that shared channel instead: :func:`wireless_cost`).
    A plan a worker's memory does not hold raises :class:`~simulator.memory.DoesNotFit`, or with
    ``infeasible="mark"`` is returned unpriced with ``feasibility`` saying why."""
    hosts = cluster.hosts
    if len(hosts) < plan.workers:
        raise SpecError(f"plan needs {plan.workers} workers but the cluster has {len(hosts)} hosts")
    needs = dict(zip(hosts, plan_memory(plan, batch)))
    peak = [n.total_B for n in needs.values()]
    s = plan.summary()
    try:
        check_fits(needs, {h: cluster.device(h).mem_capacity_B for h in needs}, f"plan {plan.name or 'plan'}")
    except DoesNotFit as exc:
        if infeasible != "mark":
            raise
        return Evaluation(plan.name, dict(params or {}), model_accuracy(plan.to_torch(activation_bits), x, y),
                          math.nan, math.nan, float(s["values_per_sample"] * activation_bits),
                          s["transfers_per_sample"], s["values_per_sample"], s["transfers_per_layer"],
                          [2.0 * m for m in s["macs_per_worker"]], {}, s["weights_kept_fraction"], plan,
                          peak_memory_B_per_worker=peak, feasibility=f"infeasible: {str(exc).split(' (mem', 1)[0]}")
    if wireless is not None:
        res = wireless_cost(plan, cluster, wireless, batch=batch, activation_bits=activation_bits)
    else:
        res = run(plan.task_graph(hosts[:plan.workers], batch=batch, activation_bits=activation_bits), cluster,
                  mode=mode, trace=False)
    air = res.air_bits / batch if wireless is not None or cluster.medium is not None else None
    latency, energy, busy = res.makespan_s, res.energy_j, res.busy_s
    return Evaluation(plan.name, dict(params or {}), model_accuracy(plan.to_torch(activation_bits), x, y), latency, energy,
                      float(s["values_per_sample"] * activation_bits), s["transfers_per_sample"],
                      s["values_per_sample"], s["transfers_per_layer"], [2.0 * m for m in s["macs_per_worker"]],
                      {h: busy.get(h, 0.0) for h in hosts[:plan.workers]}, s["weights_kept_fraction"], plan, air,
                      dict(res.energy_breakdown_j), peak)


def pareto_front(evals: Sequence[Evaluation]) -> list[Evaluation]:
    """Feasible candidates no other beats on accuracy (higher), latency and energy (lower) at once."""
    evals = [e for e in evals if e.feasible]
    pts = np.array([[-e.accuracy, e.latency_s, e.energy_j] for e in evals])
    keep = []
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts <= p, axis=1) & np.any(pts < p, axis=1))
        if not dominated:
            keep.append(evals[i])
    return sorted(keep, key=lambda e: e.latency_s)


def _budget(target: Target) -> tuple[str, float] | None:
    """(attribute, budget) of a latency or energy target; None for an accuracy target."""
    if target.max_latency_s is not None:
        return "latency_s", target.max_latency_s
    if target.max_energy_j is not None:
        return "energy_j", target.max_energy_j
    return None


def _objective(e: Evaluation, target: Target, original: float) -> tuple:
    """Smaller is better: feasible candidates first (the most accurate within a latency or energy
    budget, else the fastest within the accuracy drop), then the nearest to feasible."""
    budget = _budget(target)
    if budget is not None:
        value = getattr(e, budget[0])
        return (0, -e.accuracy, e.latency_s) if value <= budget[1] else (1, value - budget[1], -e.accuracy)
    drop = target.accuracy_drop
    if e.accuracy >= original - drop - 1e-12:
        return (0, e.latency_s, e.energy_j)
    return (1, -e.accuracy, e.latency_s)


def _choose(evals: Sequence[Evaluation], target: Target, original: float) -> Evaluation:
    evals = [e for e in evals if e.feasible]
    if not evals:
        raise DoesNotFit("optimiser: no candidate fits the workers' memory; use more workers, a smaller model "
                         "or batch, or devices with more memory")
    best = min(evals, key=lambda e: _objective(e, target, original))
    if _objective(best, target, original)[0] == 0:
        return best
    budget = _budget(target)
    if budget is not None:
        lowest = min(getattr(e, budget[0]) for e in evals)
        raise SpecError(f"target: no plan meets {budget[0]} <= {budget[1]:.4g}; the lowest is {lowest:.4g}")
    drop = target.accuracy_drop
    raise SpecError(f"target: no plan keeps accuracy >= {original - drop:.4f} (original {original:.4f} minus "
                    f"max_accuracy_drop {drop}); the best reaches {max(e.accuracy for e in evals):.4f}")


def _numbers(value: Any, what: str, *, lo: float = 0.0, hi: float | None = None, integer: bool = False) -> list:
    vals = list(value) if isinstance(value, (list, tuple)) else [value]
    if not vals:
        raise SpecError(f"optimiser: {what} must list at least one value")
    for v in vals:
        ok = is_int(v) if integer else is_number(v)
        if not ok or v < lo or (hi is not None and v > hi):
            rng = f"{lo:g}..{hi:g}" if hi is not None else f">= {lo:g}"
            raise SpecError(f"optimiser: {what} must be {'integers' if integer else 'numbers'} {rng}, got {v!r}")
    return [int(v) for v in vals] if integer else [float(v) for v in vals]


def _count(value: Any, what: str) -> int:
    if not is_int(value) or value < 0:
        raise SpecError(f"optimiser: {what} must be one non-negative integer, got {value!r}")
    return int(value)


def _configs(ctx: PartitionContext, cluster: Cluster,
             config: OptimiserConfig) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(repurpose keywords, table params) of every (lam_c, compute_workers) pair, duplicates removed."""
    lams, share = config.lam_c, config.share
    counts = None if config.compute_workers is None else _numbers(config.compute_workers, "compute_workers", lo=1,
                                                                  hi=ctx.workers, integer=True)
    explicit = None if isinstance(share, str) else list(share)
    if explicit is not None and (len(explicit) != ctx.workers or sum(explicit) <= 0):
        raise SpecError(f"optimiser: share must give one non-negative number per worker ({ctx.workers}), not all zero")
    activation_bits, batch, wireless = config.activation_bits, config.batch, config.wireless
    c = derive_link_cost(cluster, ctx.workers, activation_bits=activation_bits, batch=batch, wireless=wireless) \
        if any(lam > 0 for lam in lams) else None
    uniform = c is None or ctx.workers < 2 or np.ptp(c[~np.eye(ctx.workers, dtype=bool)]) <= 1e-9
    out, seen = [], set()
    for n in (counts or [None]):
        if explicit is not None:
            vec = np.asarray(explicit, dtype=float)
        else:
            vec = compute_share(cluster, ctx, n, by_speed=share == "speed")
        sh = None if np.all(vec == vec[0]) else [float(v) for v in vec]
        for lam in lams:
            lam_eff = 0.0 if uniform else lam
            key = (tuple(sh) if sh else None, lam_eff)
            if key in seen:
                continue
            seen.add(key)
            kw: dict[str, Any] = {}
            if lam_eff > 0:
                kw.update(link_cost=c, lam_c=lam_eff)
            if sh is not None:
                kw["share"] = sh
            shown = {"lam_c": lam_eff, "compute_workers": int(np.count_nonzero(vec)), "share": sh}
            out.append((kw, shown))
    return out


def optimise(model: nn.Module, ctx: PartitionContext, cluster: Cluster, x: torch.Tensor, y: torch.Tensor,
             config: OptimiserConfig | None = None) -> OptimiseResult:
    """Search RePurpose budgets ``config.keeps`` (and price the ``baselines``, the budgeted ones at
    every budget), link weights ``lam_c``, compute-worker counts ``compute_workers``, then per-layer
    budgets (at most ``refine`` more candidates); ``finetune``: epochs of distillation training of
    every RePurpose candidate's surviving weights (0: least squares only); accuracy is scored on
    (``x``, ``y``); see the module doc and :class:`OptimiserConfig` (its defaults without one)."""
    config = OptimiserConfig() if config is None else config
    keeps, target, spread = list(config.keeps), config.target, config.spread
    start = time.perf_counter()
    if ctx.memory_B is None:   # the assignment gives no worker more neurons than its memory holds
        ctx = dataclasses.replace(ctx, memory_B=[cluster.device(h).mem_capacity_B for h in cluster.hosts[:ctx.workers]])
    original = model_accuracy(model, x, y)
    configs = _configs(ctx, cluster, config)
    base = {"refit": config.refit, "alternate": config.alternate,
            **({"finetune": config.finetune} if config.finetune else {})}

    def job(keep: Any, cfg: int, search: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        kw, shown = configs[cfg]
        kwargs = {"keep": keep, **base, **kw, **({"spread": spread} if spread else {})}
        return "repurpose", kwargs, {"keep": keep, **base, **shown, "spread": spread, "search": search}

    jobs = [job(k, cfg, "grid") for cfg in range(len(configs)) for k in keeps]
    for b in config.baselines:
        if b in ("sparse", "graphcut"):
            jobs += [(b, {"keep": k}, {"keep": k}) for k in keeps if k < 1]
        else:
            jobs.append((b, {}, {}))

    def run_job(name: str, kwargs: dict[str, Any], shown: dict[str, Any]) -> Evaluation:
        try:
            plan = partition(name, model, ctx, **kwargs)
        except DoesNotFit as exc:   # no assignment fits the workers' memory: nothing to score or price
            nan = math.nan
            return Evaluation(name, shown, nan, nan, nan, nan, 0, nan, [], [], {}, nan, feasibility=f"infeasible: {exc}")
        return evaluate(plan, cluster, x, y, batch=config.batch, activation_bits=config.activation_bits,
                        mode=config.mode, params=shown, wireless=config.wireless, infeasible="mark")

    evals = [run_job(*j) for j in jobs]
    cfg_of = {id(e): j // len(keeps) for j, e in enumerate(evals[:len(configs) * len(keeps)])}
    if config.refine:
        evals += _per_layer(evals, cfg_of, keeps, config.refine, target, original, lambda kv, c: run_job(*job(kv, c, "per-layer")))
    chosen = _choose(evals, target, original)
    reasons: dict[str, int] = {}
    for e in evals:
        if not e.feasible:
            reasons["memory"] = reasons.get("memory", 0) + 1
    return OptimiseResult(original, evals, pareto_front(evals), chosen, time.perf_counter() - start, reasons)


def _per_layer(evals: list[Evaluation], cfg_of: dict[int, int], keeps: list[float], cap: int, target: Target,
               original: float, build: Any) -> list[Evaluation]:
    """Coordinate descent over per-layer budgets from the best RePurpose candidates (module doc)."""
    score = lambda e: _objective(e, target, original)  # noqa: E731
    grid = [e for e in evals if id(e) in cfg_of and e.feasible]
    if not grid:
        return []
    front = {id(e) for e in pareto_front(evals)}
    seeds = sorted(grid, key=score)[:1] + sorted((e for e in grid if id(e) in front), key=score)
    ladder = sorted(set(keeps) | {0.0, min(keeps) / 2})
    budget_target = _budget(target) is not None
    seen = {(cfg_of[id(e)], (float(e.params["keep"]),) * e.plan.num_layers) for e in grid}
    out: list[Evaluation] = []
    done_seeds: set[int] = set()
    for seed in seeds:
        if len(out) >= cap or id(seed) in done_seeds:
            continue
        done_seeds.add(id(seed))
        cfg, cur = cfg_of[id(seed)], seed
        vec = [float(seed.params["keep"])] * seed.plan.num_layers
        improved = True
        while improved and len(out) < cap:
            improved = False
            transfers = cur.transfers_per_layer[:len(vec)]
            tighter = [(l, -1) for l in sorted(range(len(vec)), key=lambda l: -transfers[l]) if transfers[l] > 0]
            looser = [(l, +1) for l in sorted(range(len(vec)), key=lambda l: transfers[l])]
            # towards the binding side first: cheaper plans when the accuracy target holds (or the
            # budget is broken), more accurate ones when the budget holds (or the accuracy is short)
            feasible = score(cur)[0] == 0
            moves = (looser + tighter) if budget_target == feasible else (tighter + looser)
            for l, step in moves:
                rung = ladder.index(vec[l]) + step if vec[l] in ladder else None
                if rung is None or not 0 <= rung < len(ladder):
                    continue
                new = vec[:l] + [ladder[rung]] + vec[l + 1:]
                if (cfg, tuple(new)) in seen:
                    continue
                seen.add((cfg, tuple(new)))
                ev = build(new, cfg)
                cfg_of[id(ev)] = cfg
                out.append(ev)
                if ev.feasible and score(ev) < score(cur):
                    cur, vec, improved = ev, new, True
                    break
                if len(out) >= cap:
                    break
    return out
