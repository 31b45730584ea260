"""Ring algorithms (Patarasuk & Yuan 2009; Thakur et al. 2005).

Rank r sends to r+1 (mod p) in every step, so one pattern serves all steps.

- reducescatter: p-1 steps of n/p, each reduced: (p-1)(alpha + n/p beta + n/p gamma).
- allgather: p-1 steps of n/p: (p-1)(alpha + n/p beta).
- allreduce: reduce-scatter then all-gather: 2(p-1) alpha + 2(p-1)/p n beta + (p-1)/p n gamma.
- broadcast (van de Geijn): binomial scatter of n/p blocks from the root, then a ring
  all-gather: (ceil(log2 p) + p - 1) alpha + 2 (p-1)/p n beta. (The root's sends lie on
  the critical path of the scatter for any p, so this is exact for non-powers of two.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .analytic import NetParams
from .registry import ceil_log2, register
from .schedule import Pattern, StepProgram, concat
from .tree import binomial_scatter

__all__ = ["ring_pattern"]


def ring_pattern(p: int, m: float, reduce: bool) -> Pattern:
    """Every rank r sends ``m`` bytes to r+1 (mod p); reduced by the receiver if ``reduce``."""
    src = np.arange(p, dtype=np.int64)
    return Pattern(src, (src + 1) % p, m, m if reduce else 0.0, ranks=p)


def _ring_program(op: str, p: int, n: float, reduce: bool, steps: int) -> StepProgram:
    if p == 1:
        return StepProgram(op, "ring", p, n, p, [], np.empty(0, dtype=np.int64))
    return StepProgram(op, "ring", p, n, p, [ring_pattern(p, n / p, reduce)], np.zeros(steps, dtype=np.int64))


def _rs_time(p: int, n: float, net: NetParams) -> float:
    return (p - 1) * (net.step(n / p) + (n / p) * net.gamma_s_per_B)


def _ag_time(p: int, n: float, net: NetParams) -> float:
    return (p - 1) * net.step(n / p)


def _totals(phases: int) -> Callable[[int, float], tuple[int, int, float]]:
    """(steps, messages, bytes sent) of ``phases`` rounds of p-1 ring steps, each rank sending n/p:
    O(1), so the closed form answers any p without building the program."""
    def totals(p: int, n: float) -> tuple[int, int, float]:
        if p == 1:
            return 0, 0, 0.0
        return phases * (p - 1), phases * p * (p - 1), phases * (p - 1) * float(n)
    return totals


@register("reducescatter", "ring", time=_rs_time, summary="p-1 neighbour steps of n/p, reduced",
          totals=_totals(1))
def ring_reducescatter(p: int, n: float) -> StepProgram:
    """Ring reduce-scatter of ``n`` bytes: p - 1 steps of n/p to the next rank, reduced."""
    return _ring_program("reducescatter", p, n, True, p - 1)


@register("allgather", "ring", time=_ag_time, summary="p-1 neighbour steps of n/p", totals=_totals(1))
def ring_allgather(p: int, n: float) -> StepProgram:
    """Ring all-gather of ``n`` bytes: p - 1 steps of n/p to the next rank."""
    return _ring_program("allgather", p, n, False, p - 1)


@register("allreduce", "ring", time=lambda p, n, net: _rs_time(p, n, net) + _ag_time(p, n, net),
          summary="ring reduce-scatter then ring all-gather", totals=_totals(2))
def ring_allreduce(p: int, n: float) -> StepProgram:
    """Ring all-reduce of ``n`` bytes: the ring reduce-scatter, then the ring all-gather."""
    if p == 1:
        return _ring_program("allreduce", p, n, True, 0)
    return concat("allreduce", "ring", [ring_reducescatter(p, n), ring_allgather(p, n)])


def _bcast_time(p: int, n: float, net: NetParams, root: int = 0) -> float:
    if p == 1:
        return 0.0
    scatter = ceil_log2(p) * net.alpha_s + (p - 1) / p * n * net.beta_s_per_B
    return scatter + _ag_time(p, n, net)


@register("broadcast", "ring", time=_bcast_time,
          summary="binomial scatter then ring all-gather (van de Geijn)")
def ring_broadcast(p: int, n: float, root: int = 0) -> StepProgram:
    """Broadcast of ``n`` bytes from ``root`` (van de Geijn): binomial scatter of n/p blocks, then the ring all-gather."""
    if p == 1:
        return _ring_program("broadcast", p, n, False, 0)
    return concat("broadcast", "ring", [binomial_scatter(p, n, root), ring_allgather(p, n)], root=root)
