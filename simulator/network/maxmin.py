"""Max-min fair rates: a guessed bottleneck order, solved and certified, with progressive
filling to fall back on.

Given flows that each cross a set of resources (directed links) of known capacity, and an
optional rate cap per flow, the max-min fair rates are what progressive filling gives:
raise every flow's rate together; when a resource is full (or a flow reaches its cap) the
flows concerned are frozen at that level and the rest continue.

**Ordered solve.** If we knew the order in which resources saturate, each flow's bottleneck
would be the first resource of its path in that order, and the levels would follow from one
triangular linear system (resource r: its capacity = its own flows times its level + the
rates of the flows it carries that are bottlenecked earlier), one LAPACK call. A flow
simulation recomputes rates after every start or finish, and the order barely changes
between two recomputations, so the previous levels (``hint``) give the order to try.

**Certificate.** A guessed order can be wrong, so the solution is checked: (1) no resource
is over capacity and (2) no flow crossing a bottleneck resource gets more than that
resource's level. Let L be the smallest level at which the check fails (the bottleneck
level of a failing flow in (2), the water level of an overloaded resource in (1)). Every
flow whose rate is below L is final: holding those flows at their rates and all others at L
is feasible and gives each held flow a full resource on which it is the largest, which is
exactly progressive filling stopped at level L. So the flows below L are frozen, their
rates leave the capacities, and the rest is solved again in the order the failed solution
suggests. With a good hint one round does it; a round that freezes nothing falls back to
progressive filling (below), which is always exact.

**Progressive filling** freezes many levels per pass: the *fair share* of a resource is its
remaining capacity over its number of unfrozen flows; shares never decrease while filling,
so a resource whose share is no larger than the share of every other resource its flows
cross (and than their caps) saturates exactly at its current share. Every pass freezes all
such *locally minimal* resources at once (the global minimum is always one of them).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["max_min_rates", "progressive_filling", "LEVEL_RTOL"]

# Shares within this relative distance are treated as equal.
LEVEL_RTOL = 1e-12
# The ordered solve's dense system is at most this many bottleneck resources (beyond: filling).
_MAX_ORDERED = 1500
# Rounds of ordered solves before falling back to progressive filling.
_MAX_ROUNDS = 4


def max_min_rates(entry_flow: np.ndarray, entry_res: np.ndarray, n_flows: int, capacity: np.ndarray,
                  rate_cap: np.ndarray | None = None, hint: np.ndarray | None = None) -> np.ndarray:
    """Max-min fair rates of ``n_flows`` flows.

    Parameters
    ----------
    entry_flow, entry_res:
        The incidence as parallel arrays: flow ``entry_flow[k]`` crosses resource
        ``entry_res[k]`` (each pair at most once). Sorted by flow is fastest.
    capacity:
        Capacity of every resource (indexed by resource id), positive.
    rate_cap:
        Per-flow upper bound (``inf`` for none), or ``None``.
    hint:
        Optional, per resource: the level at which it saturated last time (``inf``: it did
        not; ``nan``: unknown). Used as the order to try first, and updated in place with the
        new levels of the resources these flows cross. Results do not depend on it, only speed.

    Returns the rate of every flow. A flow that crosses no resource gets its cap (``inf``
    without one).
    """
    ef = np.asarray(entry_flow, dtype=np.int64)
    er = np.asarray(entry_res, dtype=np.int64)
    cap = None
    if rate_cap is not None:
        cap = np.asarray(rate_cap, dtype=float)
        if not np.isfinite(cap).any():
            cap = None
    rate = np.full(n_flows, np.inf) if cap is None else cap.copy()
    if ef.size == 0:
        return rate
    capacity = np.asarray(capacity, dtype=float)
    n_res = capacity.shape[0]
    if cap is not None:  # a cap is one more resource, of the flow alone
        capped = np.flatnonzero(np.isfinite(cap) & (np.bincount(ef, minlength=n_flows) > 0))
        ef = np.concatenate((ef, capped))
        er = np.concatenate((er, n_res + np.arange(capped.size)))
        capacity = np.concatenate((capacity, cap[capped]))
        if hint is not None:
            hint_ext = np.concatenate((hint, cap[capped]))
    if ef.size > 1 and np.any(ef[1:] < ef[:-1]):
        order = np.argsort(ef, kind="stable")
        ef, er = ef[order], er[order]
    used = None
    if ef.size * 4 < capacity.shape[0]:  # few resources in use: number them compactly
        used, er = np.unique(er, return_inverse=True)
        capacity = capacity[used]
    key = None
    if hint is not None:
        full_hint = hint if cap is None else hint_ext
        key = (full_hint if used is None else full_hint[used]).astype(float, copy=True)
    flows, out, levels, count = _solve(ef, er, capacity, key)
    rate[flows] = out
    if hint is not None:   # the new levels of the resources these flows cross
        if used is None:
            crossed = np.flatnonzero(count)
            ids, values = crossed, levels[crossed]
        else:
            ids, values = used, levels
        keep = ids < n_res
        hint[ids[keep]] = values[keep]
    return rate


def _solve(ef: np.ndarray, er: np.ndarray, capacity: np.ndarray, key: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rates of the flows of a flow-sorted incidence: (flow ids, their rates, the level of
    every resource: where it saturated as a bottleneck, ``inf`` if it did not; how many of
    the flows cross each resource)."""
    flows, starts = _segments(ef)
    n_res = capacity.shape[0]
    hops = np.diff(np.append(starts, ef.size))
    local = np.repeat(np.arange(flows.size, dtype=np.int64), hops)
    rate = np.empty(flows.size)
    levels = np.full(n_res, np.inf)
    # the order to try: the hinted levels, never below a resource's current share (a lower
    # bound of its level), the share where nothing is known (nan)
    count = np.bincount(er, minlength=n_res)
    share = np.full(n_res, np.inf)
    np.divide(capacity, count, out=share, where=count > 0)
    if key is None:
        key = share
    else:
        key = np.where(np.isnan(key), share, np.maximum(key, share))
    remaining = capacity
    live = np.arange(flows.size)   # unfrozen flows (indices into flows), with their entries
    lo, lr = local, er
    for _ in range(_MAX_ROUNDS):
        got = _ordered_round(lo, lr, starts, live.size, remaining, key)
        if got is None:
            break
        r, frozen, key, lev = got
        if not frozen.any():
            continue   # nothing certain below the first break: try the order it suggests
        rate[live[frozen]] = r[frozen]
        np.minimum(levels, lev, out=levels)
        if frozen.all():
            return flows, rate, levels, count
        held = frozen[lo]
        remaining = remaining - np.bincount(lr[held], weights=r[lo[held]], minlength=n_res)
        np.maximum(remaining, 0.0, out=remaining)
        stay = ~frozen
        renumber = np.cumsum(stay) - 1
        live = live[stay]
        lo, lr = renumber[lo[~held]], lr[~held]
        hops = hops[stay]
        starts = np.zeros(hops.size, dtype=np.int64)
        np.cumsum(hops[:-1], out=starts[1:])
    rate[live] = progressive_filling(lo, lr, live.size, remaining)
    return flows, rate, np.minimum(levels, _saturation_levels(local, er, rate, capacity)), count


def _segments(ef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct flows, start of each one's entries) of a flow-sorted incidence."""
    new = np.empty(ef.size, dtype=bool)
    new[0] = True
    np.not_equal(ef[1:], ef[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return ef[starts], starts


def _per_flow_min(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Smallest of each flow's entries (flow ``i``'s from ``starts[i]``)."""
    n = starts.size
    k = values.size // n
    if k * n == values.size and k <= 8 and (k == 1 or (starts[1:] - starts[:-1] == k).all()):
        return values.reshape(n, k).min(axis=1) if k > 1 else values.copy()
    return np.minimum.reduceat(values, starts)


def _ordered_round(local: np.ndarray, res: np.ndarray, starts: np.ndarray, n: int, capacity: np.ndarray,
                   key: np.ndarray):
    """One ordered solve and its certificate. Returns (rates, frozen mask, next key, level
    per resource of the frozen part) or ``None`` when the system is too big."""
    n_res = capacity.shape[0]
    order = np.argsort(key, kind="stable")
    rank = np.empty(n_res, dtype=np.int64)
    rank[order] = np.arange(n_res)
    er = rank[res]
    fb = _per_flow_min(er, starts)                    # each flow's first resource in the order
    nb = np.bincount(fb, minlength=n_res)
    in_b = nb > 0
    b_ranks = np.flatnonzero(in_b)
    nB = b_ranks.size
    if nB > _MAX_ORDERED:
        return None
    pos = np.cumsum(in_b) - 1
    fbe = fb[local]
    off = in_b[er] & (er != fbe)
    a = np.zeros(nB * nB)
    np.add.at(a, pos[er[off]] * nB + pos[fbe[off]], 1.0)
    a = a.reshape(nB, nB)
    a[np.arange(nB), np.arange(nB)] = nb[b_ranks]
    b_res = order[b_ranks]
    lam = solve_triangular(a, capacity[b_res], lower=True, check_finite=False)
    by_rank = np.full(n_res, np.inf)
    by_rank[b_ranks] = lam
    rate = by_rank[fb]
    rate_e = rate[local]
    # certificate: the smallest level at which the solution breaks
    worst = np.inf
    lam_e = by_rank[er]
    bad = rate_e > lam_e * (1 + LEVEL_RTOL)
    if bad.any():
        worst = float(lam_e[bad].min())
    load = np.bincount(res, weights=rate_e, minlength=n_res)
    over = load > capacity * (1 + LEVEL_RTOL)
    water = None
    if over.any():
        water = _water_levels(res, rate_e, capacity, over)
        worst = min(worst, float(water[over].min()))
    lev = np.full(n_res, np.inf)
    if not (lam > 0).all() or not worst > 0:   # a wrong order can give nonsense: trust nothing
        return rate, np.zeros(n, dtype=bool), key, lev
    if worst == np.inf:
        lev[b_res] = lam
        return rate, np.ones(n, dtype=bool), key, lev
    frozen = rate < worst * (1 - 1e-9)
    below = lam < worst * (1 - 1e-9)
    lev[b_res[below]] = lam[below]
    nxt = key.copy()
    nxt[b_res] = lam
    if water is not None:
        nxt[over] = water[over]
    return rate, frozen, nxt, lev


def _water_levels(res: np.ndarray, rate_e: np.ndarray, capacity: np.ndarray, over: np.ndarray) -> np.ndarray:
    """For each resource in ``over``: the level x with sum(min(rate, x)) = capacity over its flows."""
    pick = over[res]
    r, v = res[pick], rate_e[pick]
    order = np.lexsort((v, r))
    r, v = r[order], v[order]
    first = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
    size = np.diff(np.append(first, r.size))
    seg = np.repeat(np.arange(first.size), size)
    before = np.cumsum(v) - v                               # sum of the smaller rates, over the whole array
    before -= np.repeat(before[first], size)                # ... within the resource
    left = (np.arange(r.size) - np.repeat(first, size)).astype(float)   # how many are smaller
    x = (capacity[r] - before) / (np.repeat(size, size) - left)
    ok = x <= v                                             # x fits below this rate (and above the smaller ones)
    out = np.full(capacity.shape[0], np.inf)
    hit = np.flatnonzero(ok)
    firsts = np.full(first.size, -1)
    seen = np.zeros(first.size, dtype=bool)
    seg_hit = seg[hit]
    uniq, idx = np.unique(seg_hit, return_index=True)
    firsts[uniq] = hit[idx]
    seen[uniq] = True
    out[r[first[seen]]] = x[firsts[seen]]
    return out


def _saturation_levels(local: np.ndarray, res: np.ndarray, rate: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Level of every resource: the largest rate on it if it is full, ``inf`` otherwise."""
    rate_e = rate[local]
    load = np.bincount(res, weights=rate_e, minlength=capacity.shape[0])
    full = load >= capacity * (1 - 1e-9)
    out = np.full(capacity.shape[0], np.inf)
    if full.any():
        pick = full[res]
        top = np.zeros(capacity.shape[0])
        np.maximum.at(top, res[pick], rate_e[pick])
        out[full] = top[full]
    return out


def progressive_filling(entry_flow: np.ndarray, entry_res: np.ndarray, n_flows: int, capacity: np.ndarray,
                        rate_cap: np.ndarray | None = None) -> np.ndarray:
    """Max-min fair rates by parallel progressive filling (arguments as :func:`max_min_rates`)."""
    ef = np.asarray(entry_flow, dtype=np.int64)
    er = np.asarray(entry_res, dtype=np.int64)
    cap = None
    if rate_cap is not None:
        cap = np.asarray(rate_cap, dtype=float)
        if not np.isfinite(cap).any():
            cap = None
    rate = np.full(n_flows, np.inf) if cap is None else cap.copy()
    if ef.size == 0:
        return rate
    if ef.size > 1 and np.any(ef[1:] < ef[:-1]):
        order = np.argsort(ef, kind="stable")
        ef, er = ef[order], er[order]
    n_res = capacity.shape[0]
    if ef.size * 4 < n_res:  # few resources in use: number them compactly
        used, er = np.unique(er, return_inverse=True)
        remaining = capacity[used].astype(float)
        n_res = used.size
    else:
        remaining = np.array(capacity, dtype=float)
    share = np.empty(n_res)
    lower = 1.0 - LEVEL_RTOL
    # Segment structure of the (flow-sorted) entries, updated as flows freeze.
    flows, starts = _segments(ef)
    hops = np.diff(np.append(starts, ef.size))
    seg = np.repeat(np.arange(flows.size), hops)
    while flows.size:
        count = np.bincount(er, minlength=n_res)
        share.fill(np.inf)
        np.divide(remaining, count, out=share, where=count > 0)
        entry_share = share[er]
        k = int(hops[0])
        if k <= 8 and k * flows.size == er.size and hops.min() == k:  # every flow has k hops (common)
            by_hop = entry_share.reshape(flows.size, k)
            level = by_hop[:, 0].copy()
            for j in range(1, k):
                np.minimum(level, by_hop[:, j], out=level)
        else:
            level = np.minimum.reduceat(entry_share, starts)  # each flow's smallest share
        if cap is not None:
            flow_cap = cap[flows]
            np.minimum(level, flow_cap, out=level)
        entry_level = level[seg]
        # A resource is not (yet) a bottleneck if one of its flows sees a smaller share elsewhere.
        blocked = np.zeros(n_res, dtype=bool)
        blocked[er[entry_level < entry_share * lower]] = True
        frozen = np.zeros(flows.size, dtype=bool)
        frozen[seg[~blocked[er]]] = True
        if cap is not None:
            frozen |= flow_cap <= level
        if not frozen.any():  # cannot happen in exact arithmetic; guarantees progress anyway
            frozen = level <= level.min() * (1.0 + LEVEL_RTOL)
        rate[flows[frozen]] = level[frozen]
        leaving = frozen[seg]
        if not leaving.all():
            remaining -= np.bincount(er[leaving], weights=entry_level[leaving], minlength=n_res)
            np.maximum(remaining, 0.0, out=remaining)
        keep = ~leaving
        er = er[keep]
        staying = ~frozen
        flows = flows[staying]
        hops = hops[staying]
        seg = (np.cumsum(staying) - 1)[seg[keep]]
        starts = np.zeros(flows.size, dtype=np.int64)
        np.cumsum(hops[:-1], out=starts[1:])
    return rate
