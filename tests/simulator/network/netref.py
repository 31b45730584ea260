"""Independent pure-Python references for the flow model (used by the tests in this folder).

Written from the spec, sharing no code with ``simulator.network``: a sequential progressive
filling (one bottleneck level at a time, lists and dicts only) and a fluid event loop that
recomputes every rate from scratch at every event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def progressive_filling(paths: list[list[int]], capacity: dict[int, float], caps: list[float] | None = None) -> list[float]:
    """Max-min fair rates: raise all unfrozen rates together, freeze at each saturation."""
    n = len(paths)
    caps = caps if caps is not None else [math.inf] * n
    rate = [0.0] * n
    frozen = [False] * n
    for i in range(n):
        if not paths[i]:
            rate[i] = caps[i]
            frozen[i] = True
    remaining = dict(capacity)
    level = 0.0
    while not all(frozen):
        users: dict[int, int] = {}
        for i in range(n):
            if not frozen[i]:
                for r in paths[i]:
                    users[r] = users.get(r, 0) + 1
        # the smallest increment that saturates a resource or reaches a cap
        step = min(remaining[r] / k for r, k in users.items())
        step = min([step] + [caps[i] - level for i in range(n) if not frozen[i]])
        level += step
        for r, k in users.items():
            remaining[r] -= step * k
        for i in range(n):
            if frozen[i]:
                continue
            rate[i] = level
        newly = [i for i in range(n) if not frozen[i] and (
            caps[i] - level <= 1e-12 * level or any(remaining[r] <= 1e-12 * capacity[r] for r in paths[i]))]
        for i in newly:
            frozen[i] = True
    return rate


@dataclass
class RefFlow:
    start: float
    latency: float
    path: list[int]
    nbytes: float
    cap: float = math.inf


def simulate(flows: list[RefFlow], capacity: dict[int, float]) -> list[float]:
    """Finish time of every flow under the spec's semantics, recomputing all rates each event."""
    n = len(flows)
    finish = [math.nan] * n
    remaining = [f.nbytes for f in flows]
    active: list[int] = []
    waiting = sorted(range(n), key=lambda i: flows[i].start + flows[i].latency)
    now = 0.0
    rates: dict[int, float] = {}
    while waiting or active:
        next_act = flows[waiting[0]].start + flows[waiting[0]].latency if waiting else math.inf
        next_fin = min((now + remaining[i] / rates[i] for i in active), default=math.inf)
        t = min(next_act, next_fin)
        for i in active:
            remaining[i] -= rates[i] * (t - now)
        now = t
        tol = 1e-11 * max(now, 1e-300)
        still = []
        for i in active:
            if remaining[i] <= 1e-9 * flows[i].nbytes or now + remaining[i] / rates[i] <= now + tol:
                finish[i] = now
            else:
                still.append(i)
        active = still
        while waiting and flows[waiting[0]].start + flows[waiting[0]].latency <= now + tol:
            i = waiting.pop(0)
            if flows[i].nbytes == 0 or not flows[i].path:
                finish[i] = now
            else:
                active.append(i)
        if active:
            r = progressive_filling([flows[i].path for i in active], capacity, [flows[i].cap for i in active])
            rates = dict(zip(active, r))
    return finish
