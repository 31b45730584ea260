"""Max-min fair rates: hand cases, the defining property, and an independent reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netref import progressive_filling
from simulator.network.maxmin import max_min_rates


def rates(paths, capacity, caps=None):
    ef = np.array([f for f, p in enumerate(paths) for _ in p], dtype=np.int64)
    er = np.array([r for p in paths for r in p], dtype=np.int64)
    return max_min_rates(ef, er, len(paths), np.asarray(capacity, dtype=float),
                         None if caps is None else np.asarray(caps, dtype=float))


def test_two_flows_share_one_link_equally():
    assert rates([[0], [0]], [10.0]).tolist() == [5.0, 5.0]


def test_classic_parking_lot():
    # Links 0 and 1 of capacity 1; flow 0 crosses both, flows 1 and 2 one each: all get 1/2.
    assert rates([[0, 1], [0], [1]], [1.0, 1.0]) == pytest.approx([0.5, 0.5, 0.5])


def test_bottleneck_elsewhere_frees_capacity():
    # Link 0 (cap 10) carries flows 0 and 1; flow 1 also crosses link 1 (cap 2) and is held
    # to 2 there, so flow 0 takes the other 8.
    assert rates([[0], [0, 1]], [10.0, 2.0]) == pytest.approx([8.0, 2.0])


def test_rate_cap_joins_the_sharing():
    # Three flows on a link of 9; one is capped at 1: the other two share the rest.
    assert rates([[0], [0], [0]], [9.0], caps=[1.0, math.inf, math.inf]) == pytest.approx([1.0, 4.0, 4.0])


def test_flow_without_links_gets_its_cap_or_infinity():
    out = rates([[], [], [0]], [3.0], caps=[2.0, math.inf, math.inf])
    assert out[0] == 2.0 and math.isinf(out[1]) and out[2] == 3.0


def test_unsorted_incidence_gives_the_same_rates():
    ef = np.array([1, 0, 2, 1], dtype=np.int64)
    er = np.array([1, 0, 1, 0], dtype=np.int64)
    out = max_min_rates(ef, er, 3, np.array([1.0, 1.0]))
    assert out == pytest.approx([0.5, 0.5, 0.5])


@st.composite
def instances(draw):
    n_res = draw(st.integers(1, 8))
    capacity = draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 0.5, 7.5]) | st.floats(0.1, 100.0),
                             min_size=n_res, max_size=n_res))
    n_flows = draw(st.integers(1, 12))
    paths = [draw(st.lists(st.integers(0, n_res - 1), min_size=1, max_size=4, unique=True)) for _ in range(n_flows)]
    caps = None
    if draw(st.booleans()):
        caps = [draw(st.sampled_from([math.inf, 0.3, 1.0]) | st.floats(0.05, 50.0)) for _ in range(n_flows)]
    return paths, capacity, caps


@settings(max_examples=300, deadline=None)
@given(instances())
def test_result_is_feasible_and_every_flow_is_bottlenecked(case):
    """The definition of max-min fairness: feasible, and every flow either hits its cap or
    crosses a saturated link on which no flow gets more than it."""
    paths, capacity, caps = case
    r = rates(paths, capacity, caps)
    load = np.zeros(len(capacity))
    for f, p in enumerate(paths):
        for res in p:
            load[res] += r[f]
    assert np.all(load <= np.asarray(capacity) * (1 + 1e-9))
    for f, p in enumerate(paths):
        if caps is not None and r[f] >= caps[f] * (1 - 1e-9):
            assert r[f] <= caps[f] * (1 + 1e-9)
            continue
        ok = False
        for res in p:
            saturated = load[res] >= capacity[res] * (1 - 1e-9)
            largest = all(r[g] <= r[f] * (1 + 1e-9) for g, q in enumerate(paths) if res in q)
            ok = ok or (saturated and largest)
        assert ok, (f, r.tolist())


@settings(max_examples=300, deadline=None)
@given(instances())
def test_matches_sequential_progressive_filling(case):
    paths, capacity, caps = case
    ours = rates(paths, capacity, caps)
    ref = progressive_filling(paths, dict(enumerate(capacity)), caps)
    assert ours == pytest.approx(ref, rel=1e-9)
