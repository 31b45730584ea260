"""Collectives: step programs for seven ops, run analytically (closed forms) or as a DES.

Ops and what ``size_B`` (n) means:

============== =================================================================
allreduce       the vector every rank holds and ends with reduced
reducescatter   the full vector; each rank ends with its reduced n/p
allgather       the gathered result; each rank contributes n/p
broadcast       the root's message
reduce          the vector, reduced at the root
gather          the gathered result at the root; each rank contributes n/p
alltoall        each rank's send buffer: n/p to every rank
============== =================================================================

Algorithms (see :func:`pairs` for which op each implements): ``ring``,
``halving-doubling``, ``recursive-doubling`` (both: powers of two), ``binomial-tree``,
``double-binary-tree`` (``chunks``), ``direct``, ``parameter-server`` (``shards``;
servers are extra, dedicated ranks p..p+S-1). Rooted ops take ``root`` (default 0).

Three calls cover it::

    prog = build_program("allreduce", "ring", 8, 2**30)          # StepProgram
    analytic_time("allreduce", "ring", 8, 2**30, NetParams(500e-9, 1 / (50 * 2**30)))
    simulate(prog, Topology.ring(8, link))                          # CollectiveResult (DES)

and :func:`run` does either mode on a topology in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hwmodels import Device, SpecError
from hwmodels.checks import is_int, is_number

from . import direct, doubling, parameter_server, ring, tree  # noqa: F401  (registration by import)
from .analytic import NetParams, reduction_gamma
from .des import CollectiveResult, CollectiveRun
from .registry import ALGORITHMS, OPS, Algorithm, algorithms, get, pairs
from .schedule import LazyPatterns, Pattern, StepProgram, concat
from .shared import shared_time

__all__ = ["ALGORITHMS", "OPS", "Algorithm", "CollectiveResult", "CollectiveRun", "LazyPatterns", "NetParams", "Pattern",
           "StepProgram", "algorithms", "analytic_time", "build_program", "concat", "get", "pairs",
           "reduction_gamma", "run", "simulate", "net_params", "ranks_needed", "shared_time", "totals"]


def _check_workers(workers: Any) -> int:
    if not is_int(workers) or workers < 1:
        raise SpecError(f"--workers must be a positive integer, got {workers!r}")
    return int(workers)


def _check_size(size_B: Any) -> float:
    if not is_number(size_B) or size_B < 0:
        raise SpecError(f"--size must be a finite non-negative number of bytes, got {size_B!r}")
    return float(size_B)


def ranks_needed(op: str, algorithm: str, workers: int, **params: Any) -> int:
    """Hosts the collective occupies: the workers, plus a parameter server's servers."""
    workers = _check_workers(workers)
    alg = get(op, algorithm)
    return alg.ranks(workers, alg.resolve(workers, params))


def build_program(op: str, algorithm: str, workers: int, size_B: float, **params: Any) -> StepProgram:
    """The step program of ``op`` by ``algorithm`` over ``workers`` ranks and ``size_B`` bytes.

    Raises SpecError for an unknown op or algorithm, an unsupported pair, a count the
    algorithm cannot take (halving-doubling with p = 6) or a bad parameter.
    """
    workers = _check_workers(workers)
    size = _check_size(size_B)
    alg = get(op, algorithm)
    resolved = alg.resolve(workers, params)
    program = alg.build(workers, size, **resolved)
    program.params.update(resolved)
    return program


def analytic_time(op: str, algorithm: str, workers: int, size_B: float, net: NetParams, **params: Any) -> float:
    """The closed-form time in seconds (O(1) or O(log p): no program is built). On a shared
    capacity (``net.bus_beta_s_per_B``, a host's loopback) the program is built and priced
    step by step (:func:`.shared.shared_time`)."""
    workers = _check_workers(workers)
    size = _check_size(size_B)
    alg = get(op, algorithm)
    resolved = alg.resolve(workers, params)
    if workers == 1 and alg.extra_ranks is None:
        return 0.0
    if net.bus_beta_s_per_B is not None:
        program = alg.build(workers, size, **resolved)
        return shared_time(program, net)
    return float(alg.time(workers, size, net, **resolved))


def totals(op: str, algorithm: str, workers: int, size_B: float, **params: Any) -> tuple[int, int, float]:
    """(steps, messages, bytes sent) of the collective, without building quadratic programs."""
    workers = _check_workers(workers)
    size = _check_size(size_B)
    alg = get(op, algorithm)
    resolved = alg.resolve(workers, params)
    if alg.totals is not None:
        return alg.totals(workers, size, **resolved)
    program = alg.build(workers, size, **resolved)
    return program.num_steps, program.messages, program.bytes_sent_total


def net_params(program: StepProgram, topology: Any, hosts: Sequence[Any] | np.ndarray | None = None, *,
               how: str = "worst", gamma_s_per_B: float = 0.0) -> NetParams:
    """Closed-form inputs for ``program`` placed on ``hosts`` of ``topology`` (see
    :meth:`NetParams.from_topology`)."""
    hosts_idx = topology.host_indices(np.arange(program.ranks) if hosts is None else hosts)
    srcs, dsts = [], []
    seen: set[int] = set()
    budget = 200_000
    for i in program.order.tolist():
        if i in seen:
            continue
        seen.add(i)
        pat = program.patterns[i]
        srcs.append(hosts_idx[pat.src[:budget]])
        dsts.append(hosts_idx[pat.dst[:budget]])
        budget -= min(budget, len(pat))
        if budget <= 0:
            break
    src = np.concatenate(srcs) if srcs else np.empty(0, dtype=np.int64)
    dst = np.concatenate(dsts) if dsts else np.empty(0, dtype=np.int64)
    return NetParams.from_topology(topology, src, dst, how=how, gamma_s_per_B=gamma_s_per_B)


def _gamma_of(device: Device | None, gamma_s_per_B: Any, dtype: str) -> Any:
    if gamma_s_per_B is not None:
        return gamma_s_per_B
    return reduction_gamma(device, dtype) if device is not None else 0.0


def simulate(program: StepProgram, topology: Any, *, hosts: Sequence[Any] | np.ndarray | None = None,
             gamma_s_per_B: float | Sequence[float] | np.ndarray = 0.0,
             start_offset_s: float | Sequence[float] | np.ndarray = 0.0, seed: int = 0, trace: bool = False,
             record_flows: bool | None = None, on_progress: Callable[[int, int], Any] | None = None) -> CollectiveResult:
    """Run ``program`` as a DES on a fresh simulation of ``topology``.

    ``gamma_s_per_B``: reduction seconds per byte, one or per rank; ``start_offset_s``: when
    each rank joins after the start (s). ``trace`` records spans (one per flow unless
    ``record_flows=False``, plus per-rank ``collective`` and ``reduce`` spans) into the
    returned result's ``timeline``.
    """
    from ..engine import Simulation  # noqa: PLC0415
    from ..network import FlowNetwork  # noqa: PLC0415

    sim = Simulation(seed, trace=trace)
    network = FlowNetwork(sim, topology, record_flows=trace if record_flows is None else record_flows)
    run_ = CollectiveRun(network, program, hosts, gamma_s_per_B=gamma_s_per_B, start_offset_s=start_offset_s,
                         on_progress=on_progress)
    run_.start()
    sim.run()
    if not run_.done.triggered:  # pragma: no cover - would be a bug in the runner
        raise RuntimeError(f"{program!r} did not finish: ranks stuck at steps {np.unique(run_._step)}")
    return CollectiveResult(program.op, program.algorithm, program.workers, program.ranks, program.size_B, "des",
                            run_.time_s, run_.messages_started, run_.bytes_started, program.num_steps,
                            dict(program.params), run_.start_s, run_.rank_finish_s,
                            timeline=network.timeline() if trace else None, reduce_busy_s=run_.reduce_busy_s.copy(),
                            link_energy_J=network.energy_J)


def run(op: str, algorithm: str, workers: int, size_B: float, topology: Any, *, mode: str = "des",
        hosts: Sequence[Any] | np.ndarray | None = None, device: Device | None = None,
        gamma_s_per_B: float | Sequence[float] | np.ndarray | None = None, dtype: str = "fp32", how: str = "worst",
        seed: int = 0, trace: bool = False, on_progress: Callable[[int, int], Any] | None = None,
        **params: Any) -> CollectiveResult:
    """One collective on ``topology`` in ``mode`` "des" or "analytic".

    Reduction cost in seconds per byte: ``gamma_s_per_B`` if given (one, or one per rank: a
    straggler's larger), else from ``device`` (roofline, see :func:`reduction_gamma`), else 0;
    the closed form takes the largest. ``how`` picks the paths of the closed form's inputs
    (:func:`net_params`). The result carries the time (s), the step, message and byte counts;
    in DES mode also the closed form (``analytic_time_s``) for comparison, the per-rank
    reduction seconds (``reduce_busy_s``), the links' energy (J), and with ``trace`` the
    timeline; ``on_progress(step, steps)`` follows the DES.
    """
    if mode not in ("des", "analytic"):
        raise SpecError(f"mode must be 'des' or 'analytic', got {mode!r}")
    program = build_program(op, algorithm, workers, size_B, **params)
    gamma = _gamma_of(device, gamma_s_per_B, dtype)
    net = net_params(program, topology, hosts, how=how, gamma_s_per_B=float(np.max(gamma)) if np.size(gamma) else 0.0)
    analytic = analytic_time(op, algorithm, workers, size_B, net, **program.params)
    if mode == "analytic":
        return CollectiveResult(op, algorithm, program.workers, program.ranks, program.size_B, "analytic", analytic,
                                program.messages, program.bytes_sent_total, program.num_steps, dict(program.params))
    result = simulate(program, topology, hosts=hosts, gamma_s_per_B=gamma, seed=seed, trace=trace,
                      on_progress=on_progress)
    result.analytic_time_s = analytic
    return result
