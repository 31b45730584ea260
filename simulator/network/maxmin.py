"""Max-min fair rates by progressive filling, vectorised over a flow x resource incidence.

Given flows that each cross a set of resources (directed links) of known capacity, and an
optional rate cap per flow, progressive filling raises every flow's rate together; when a
resource is full (or a flow reaches its cap) the flows concerned are frozen at that level and
the rest continue.

This implementation freezes many levels per pass. The *fair share* of a resource is its
remaining capacity over its number of unfrozen flows. Shares never decrease while filling
(freezing a flow at a level no higher than a resource's share leaves that share as high or
higher), so a resource whose share is no larger than the share of every other resource its
flows cross (and than their caps) saturates exactly at its current share, whatever happens
elsewhere first. Every pass freezes all such *locally minimal* resources at once (the global
minimum is always one of them), together with the flows whose cap is below all their shares.
The number of passes is the length of the longest chain of dependent bottlenecks, usually a
handful, instead of the number of distinct rate levels (hundreds for random traffic); each
pass is a few ``bincount``/``reduceat`` sweeps over the incidence.
"""

from __future__ import annotations

import numpy as np

__all__ = ["max_min_rates", "LEVEL_RTOL"]

# Shares within this relative distance are treated as equal.
LEVEL_RTOL = 1e-12


def max_min_rates(entry_flow: np.ndarray, entry_res: np.ndarray, n_flows: int, capacity: np.ndarray,
                  rate_cap: np.ndarray | None = None) -> np.ndarray:
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
    new_flow = np.empty(ef.size, dtype=bool)
    new_flow[0] = True
    np.not_equal(ef[1:], ef[:-1], out=new_flow[1:])
    starts = np.flatnonzero(new_flow)
    flows = ef[starts]
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
