"""Direct algorithms: every message goes straight to its destination.

- alltoall (one port, pairwise shifts): in step k = 1..p-1 rank r sends n/p to r+k mod p:
  (p-1) (alpha + n/p beta).
- reducescatter / allgather: one step, every rank sends n/p to each of the p-1 others
  at once; a rank's port carries p-1 flows:
  alpha + n/p max(beta, (p-1) port_beta) (+ (p-1)/p n gamma for reduce-scatter).
  On a switch that is alpha + (p-1)/p n beta (max-min sharing of the host link); fully
  connected, alpha + n/p beta (a link per peer).
- allreduce: direct reduce-scatter then direct all-gather:
  2 alpha + 2 n/p max(beta, (p-1) port_beta) + (p-1)/p n gamma.
- broadcast: the root sends n to each other rank at once: alpha + n max(beta, (p-1) port_beta).
- reduce: every rank sends n to the root at once, which reduces p-1 vectors:
  alpha + n max(beta, (p-1) port_beta) + (p-1) n gamma.
- gather: every rank sends its n/p to the root at once: alpha + n/p max(beta, (p-1) port_beta).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .analytic import NetParams
from .registry import register
from .schedule import LazyPatterns, Pattern, StepProgram

__all__ = ["all_pairs"]


def all_pairs(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) of every ordered pair of distinct ranks, grouped by source."""
    src = np.repeat(np.arange(p, dtype=np.int64), p - 1)
    offs = np.tile(np.arange(1, p, dtype=np.int64), p)
    return src, (src + offs) % p


def _one(op: str, p: int, n: float, pattern: Pattern | None, **params: object) -> StepProgram:
    if pattern is None or p == 1:
        return StepProgram(op, "direct", p, n, p, [], np.empty(0, dtype=np.int64), dict(params))
    return StepProgram(op, "direct", p, n, p, [pattern], np.zeros(1, dtype=np.int64), dict(params))


def _conc(p: int, m: float, net: NetParams) -> float:
    return net.step(m, p - 1) if p > 1 else 0.0


def _totals(steps: Any, phases: int) -> Any:
    """(steps, messages, bytes) of a direct program: ``phases`` times p(p-1) messages of
    n/p; ``steps(p)`` steps."""
    def totals(p: int, n: float, **_: Any) -> tuple[int, int, float]:
        if p == 1:
            return 0, 0, 0.0
        return steps(p), phases * p * (p - 1), phases * (p - 1) * float(n)
    return totals


@register("alltoall", "direct", time=lambda p, n, net: (p - 1) * net.step(n / p),
          summary="p-1 shift steps, n/p to one peer per step (one port)",
          totals=_totals(lambda p: p - 1, 1))
def direct_alltoall(p: int, n: float) -> StepProgram:
    """All-to-all of ``n`` bytes per rank over ``p`` ranks: p - 1 steps, rank r sends n/p to r + i + 1."""
    if p == 1:
        return _one("alltoall", p, n, None)
    src = np.arange(p, dtype=np.int64)
    src.flags.writeable = False
    m = n / p
    patterns = LazyPatterns(p - 1, lambda i: Pattern(src, (src + i + 1) % p, m, None, ranks=p))
    return StepProgram("alltoall", "direct", p, n, p, patterns, np.arange(p - 1))


def _rs_time(p: int, n: float, net: NetParams) -> float:
    return _conc(p, n / p, net) + (p - 1) / p * n * net.gamma_s_per_B


@register("reducescatter", "direct", time=_rs_time, summary="one step: n/p to every other rank at once, reduced",
          totals=_totals(lambda p: 1, 1))
def direct_reducescatter(p: int, n: float) -> StepProgram:
    """Reduce-scatter of ``n`` bytes in one step: n/p to every other rank at once, reduced."""
    if p == 1:
        return _one("reducescatter", p, n, None)
    src, dst = all_pairs(p)
    return _one("reducescatter", p, n, Pattern(src, dst, n / p, n / p, ranks=p))


@register("allgather", "direct", time=lambda p, n, net: _conc(p, n / p, net),
          summary="one step: n/p to every other rank at once",
          totals=_totals(lambda p: 1, 1))
def direct_allgather(p: int, n: float) -> StepProgram:
    """All-gather of ``n`` bytes in one step: each rank's n/p to every other rank at once."""
    if p == 1:
        return _one("allgather", p, n, None)
    src, dst = all_pairs(p)
    return _one("allgather", p, n, Pattern(src, dst, n / p, None, ranks=p))


@register("allreduce", "direct", time=lambda p, n, net: _rs_time(p, n, net) + _conc(p, n / p, net),
          summary="direct reduce-scatter then direct all-gather (two steps)",
          totals=_totals(lambda p: 2, 2))
def direct_allreduce(p: int, n: float) -> StepProgram:
    """All-reduce of ``n`` bytes: the direct reduce-scatter, then the direct all-gather."""
    if p == 1:
        return _one("allreduce", p, n, None)
    src, dst = all_pairs(p)
    rs = Pattern(src, dst, n / p, n / p, ranks=p)
    ag = Pattern(src, dst, n / p, None, ranks=p)
    return StepProgram("allreduce", "direct", p, n, p, [rs, ag], np.arange(2))


def _others(p: int, root: int) -> np.ndarray:
    r = np.arange(p, dtype=np.int64)
    return r[r != root]


@register("broadcast", "direct", time=lambda p, n, net, root=0: _conc(p, n, net),
          summary="the root sends n to every rank at once")
def direct_broadcast(p: int, n: float, root: int = 0) -> StepProgram:
    """Broadcast of ``n`` bytes: the root sends them to every rank at once."""
    others = _others(p, root)
    pat = Pattern(np.full(p - 1, root), others, n, None, ranks=p) if p > 1 else None
    return _one("broadcast", p, n, pat, root=root)


@register("reduce", "direct", time=lambda p, n, net, root=0: _conc(p, n, net) + (p - 1) * n * net.gamma_s_per_B,
          summary="every rank sends n to the root at once; the root reduces")
def direct_reduce(p: int, n: float, root: int = 0) -> StepProgram:
    """Reduce of ``n`` bytes: every rank sends them to the root at once; the root reduces."""
    others = _others(p, root)
    pat = Pattern(others, np.full(p - 1, root), n, n, ranks=p) if p > 1 else None
    return _one("reduce", p, n, pat, root=root)


@register("gather", "direct", time=lambda p, n, net, root=0: _conc(p, n / p, net),
          summary="every rank sends its n/p to the root at once")
def direct_gather(p: int, n: float, root: int = 0) -> StepProgram:
    """Gather of ``n`` bytes in all: every rank sends its n/p to the root at once."""
    others = _others(p, root)
    pat = Pattern(others, np.full(p - 1, root), n / p, None, ranks=p) if p > 1 else None
    return _one("gather", p, n, pat, root=root)
