"""Munkres with capacities (memory-bounded ones too) and balanced pipeline stages against brute force."""

import itertools

import numpy as np
import pytest

from hwmodels import SpecError
from simulator.partition.common import assign, capacities
from simulator.partition.pipeline import balanced_stages


def brute_force(cost: np.ndarray, cap: np.ndarray) -> float:
    """The cheapest assignment of every row (neuron) to a column (worker) within the capacities."""
    n, k = cost.shape
    return min(cost[np.arange(n), list(a)].sum() for a in itertools.product(range(k), repeat=n)
               if np.all(np.bincount(a, minlength=k) <= cap))


@pytest.mark.parametrize("seed", range(8))
def test_assignment_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(3, 7), rng.integers(2, 4)
    cost = rng.random((n, k))
    cap = rng.integers(1, n, size=k)
    while cap.sum() < n:
        cap[rng.integers(k)] += 1
    owner = assign(cost, cap)
    assert np.all(np.bincount(owner, minlength=k) <= cap)
    assert cost[np.arange(n), owner].sum() == pytest.approx(brute_force(cost, cap))


@pytest.mark.parametrize("seed", range(10))
def test_capacities_with_memory_slots_never_exceeded_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    slots = rng.integers(0, n + 1, size=k)
    while slots.sum() < n:
        slots[rng.integers(k)] += 1
    share = rng.random(k) + 0.1
    cap = capacities(n, k, share, slots)
    assert np.all(cap <= slots) and cap.sum() >= n
    cost = rng.random((n, k))
    owner = assign(cost, cap)
    assert np.all(np.bincount(owner, minlength=k) <= slots)
    assert cost[np.arange(n), owner].sum() == pytest.approx(brute_force(cost, cap))


def test_assignment_rejects_too_small_capacities():
    with pytest.raises(SpecError, match="capacities hold 3 neurons, the layer has 4"):
        assign(np.zeros((4, 2)), np.array([2, 1]))
    assert capacities(10, 4).tolist() == [3, 3, 3, 3]
    assert capacities(10, 2, [3, 1]).tolist() == [8, 3]


@pytest.mark.parametrize("seed", range(5))
def test_pipeline_stages_are_balanced_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    costs = rng.random(rng.integers(2, 7)).tolist()
    stages = rng.integers(1, 5)
    got = balanced_stages(costs, stages)
    assert got == sorted(got) and got[0] == 0 and max(got) < stages
    worst = max(sum(c for c, s in zip(costs, got) if s == t) for t in set(got))
    best = np.inf
    n = len(costs)
    for cuts in itertools.chain.from_iterable(itertools.combinations(range(1, n), r) for r in range(min(stages, n))):
        edges = [0, *cuts, n]
        best = min(best, max(sum(costs[a:b]) for a, b in zip(edges[:-1], edges[1:])))
    assert worst == pytest.approx(best)
