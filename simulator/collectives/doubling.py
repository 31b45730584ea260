"""Recursive doubling and recursive halving-doubling (Thakur, Rabenseifner & Gropp 2005).
Power-of-two worker counts only; every step is a pairwise exchange r <-> r xor d.

- allreduce, recursive-doubling: d = 1, 2, 4, ...; the whole vector each step:
  log2(p) (alpha + n beta + n gamma).
- reducescatter, halving-doubling (recursive halving): d = 1, 2, ...; n/2, n/4, ..., n/p,
  reduced: log2(p) alpha + (p-1)/p n (beta + gamma).
- allgather, recursive-doubling: d = 1, 2, ...; n/p, 2n/p, ..., n/2:
  log2(p) alpha + (p-1)/p n beta.
- allreduce, halving-doubling (Rabenseifner): recursive-halving reduce-scatter, then
  recursive-doubling all-gather in mirror order (d = p/2, ..., 1; n/p, ..., n/2):
  2 log2(p) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .analytic import NetParams
from .registry import check_power_of_two, register
from .schedule import Pattern, StepProgram, concat

__all__ = ["exchange_pattern"]


def exchange_pattern(p: int, distance: int, m: float, reduce: bool) -> Pattern:
    """Every rank r exchanges ``m`` bytes with r xor ``distance``."""
    r = np.arange(p, dtype=np.int64)
    return Pattern(r, r ^ distance, m, m if reduce else 0.0, ranks=p)


def _program(op: str, alg: str, p: int, n: float, steps: list[tuple[int, float, bool]]) -> StepProgram:
    patterns = [exchange_pattern(p, d, m, red) for d, m, red in steps]
    return StepProgram(op, alg, p, n, p, patterns, np.arange(len(patterns)))


def _log2(p: int) -> int:
    return p.bit_length() - 1


def _rd_allreduce_time(p: int, n: float, net: NetParams) -> float:
    return _log2(p) * (net.step(n) + n * net.gamma_s_per_B)


def _rh_rs_time(p: int, n: float, net: NetParams) -> float:
    return _log2(p) * net.alpha_s + (p - 1) / p * n * (net.beta_s_per_B + net.gamma_s_per_B) if p > 1 else 0.0


def _rd_ag_time(p: int, n: float, net: NetParams) -> float:
    return _log2(p) * net.alpha_s + (p - 1) / p * n * net.beta_s_per_B if p > 1 else 0.0


_check_rd = partial(check_power_of_two, who="recursive-doubling")
_check_hd = partial(check_power_of_two, who="halving-doubling")


@register("allreduce", "recursive-doubling", time=_rd_allreduce_time, check=_check_rd,
          summary="log2 p pairwise exchanges of the whole vector (power of two)")
def rd_allreduce(p: int, n: float) -> StepProgram:
    """Recursive-doubling all-reduce of ``n`` bytes: log2 p pairwise exchanges of all n (p a power of two)."""
    return _program("allreduce", "recursive-doubling", p, n, [(1 << k, n, True) for k in range(_log2(p))])


@register("reducescatter", "halving-doubling", time=_rh_rs_time, check=_check_hd,
          summary="recursive halving: log2 p exchanges of n/2, n/4, ..., reduced (power of two)")
def rh_reducescatter(p: int, n: float) -> StepProgram:
    """Recursive-halving reduce-scatter of ``n`` bytes: exchanges of n/2, n/4, ..., reduced (p a power of two)."""
    return _program("reducescatter", "halving-doubling", p, n,
                    [(1 << k, n / (2 << k), True) for k in range(_log2(p))])


@register("allgather", "recursive-doubling", time=_rd_ag_time, check=_check_rd,
          summary="log2 p exchanges of n/p, 2n/p, ..., n/2 (power of two)")
def rd_allgather(p: int, n: float) -> StepProgram:
    """Recursive-doubling all-gather of ``n`` bytes: exchanges of n/p, 2n/p, ..., n/2 (p a power of two)."""
    return _program("allgather", "recursive-doubling", p, n,
                    [(1 << k, n * (1 << k) / p, False) for k in range(_log2(p))])


@register("allreduce", "halving-doubling", time=lambda p, n, net: _rh_rs_time(p, n, net) + _rd_ag_time(p, n, net),
          check=_check_hd, summary="Rabenseifner: recursive-halving reduce-scatter + recursive-doubling all-gather")
def hd_allreduce(p: int, n: float) -> StepProgram:
    """Rabenseifner all-reduce of ``n`` bytes: recursive-halving reduce-scatter, recursive-doubling all-gather."""
    L = _log2(p)
    rs = rh_reducescatter(p, n)
    ag = _program("allgather", "halving-doubling", p, n, [(1 << (L - 1 - k), n * (1 << k) / p, False) for k in range(L)])
    return concat("allreduce", "halving-doubling", [rs, ag])
