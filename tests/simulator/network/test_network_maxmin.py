"""Max-min fair rates: hand cases, the defining property, and an independent reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netref import progressive_filling as sequential_filling
from simulator.network.maxmin import max_min_rates, progressive_filling


def rates(paths, capacity, caps=None, hint=None):
    ef = np.array([f for f, p in enumerate(paths) for _ in p], dtype=np.int64)
    er = np.array([r for p in paths for r in p], dtype=np.int64)
    return max_min_rates(ef, er, len(paths), np.asarray(capacity, dtype=float),
                         None if caps is None else np.asarray(caps, dtype=float), hint=hint)


def filling(paths, capacity, caps=None):
    """The parallel progressive filling (the previous algorithm, now the fallback)."""
    ef = np.array([f for f, p in enumerate(paths) for _ in p], dtype=np.int64)
    er = np.array([r for p in paths for r in p], dtype=np.int64)
    return progressive_filling(ef, er, len(paths), np.asarray(capacity, dtype=float),
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
    ref = sequential_filling(paths, dict(enumerate(capacity)), caps)
    assert ours == pytest.approx(ref, rel=1e-9)


@st.composite
def hinted(draw):
    """An instance and a hint of any quality: none, garbage, or the levels of a perturbed instance."""
    paths, capacity, caps = draw(instances())
    kind = draw(st.sampled_from(["garbage", "stale", "nan"]))
    n_res = len(capacity)
    if kind == "garbage":
        hint = np.array(draw(st.lists(st.sampled_from([np.inf, np.nan, 0.0]) | st.floats(1e-3, 1e3),
                                      min_size=n_res, max_size=n_res)))
    elif kind == "nan":
        hint = np.full(n_res, np.nan)
    else:  # the levels before one flow left (what a flow simulation passes)
        extra = draw(st.lists(st.integers(0, n_res - 1), min_size=1, max_size=4, unique=True))
        hint = np.full(n_res, np.nan)
        rates(paths + [extra], capacity, None if caps is None else caps + [np.inf], hint=hint)
    return paths, capacity, caps, hint


@settings(max_examples=200, deadline=None)
@given(hinted())
def test_any_hint_gives_the_progressive_filling_rates(case):
    """The ordered solve with its certificate equals progressive filling (the previous
    algorithm) and the sequential reference to 1e-12, whatever order the hint suggests."""
    paths, capacity, caps, hint = case
    ours = rates(paths, capacity, caps, hint=hint.copy())
    np.testing.assert_allclose(ours, filling(paths, capacity, caps), rtol=1e-12, atol=0)
    ref = sequential_filling(paths, dict(enumerate(capacity)), caps)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


@st.composite
def big_instances(draw):
    """Hundreds of flows over tens of resources, some of them shared by many: long chains
    of dependent bottlenecks, a big triangular system, several certificate rounds."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_res = int(rng.integers(5, 60))
    n_flows = int(rng.integers(20, 400))
    capacity = rng.choice([1.0, 2.0, 10.0, 100.0], n_res) * rng.uniform(0.5, 2.0, n_res)
    hops = rng.integers(1, 6, n_flows)
    paths = [sorted(set(rng.integers(0, n_res, h).tolist())) for h in hops]
    return paths, capacity.tolist()


@settings(max_examples=40, deadline=None)
@given(big_instances(), st.floats(0.0, 0.3))
def test_big_instances_and_a_perturbed_hint_give_the_filling_rates(case, noise):
    paths, capacity = case
    hint = np.full(len(capacity), np.nan)
    rates(paths, capacity, hint=hint)
    expected = filling(paths, capacity)
    np.testing.assert_allclose(rates(paths, capacity, hint=hint.copy()), expected, rtol=1e-12, atol=0)
    rng = np.random.default_rng(len(paths))
    shaken = hint * (1 + noise * rng.standard_normal(hint.size))
    np.testing.assert_allclose(rates(paths, capacity, hint=shaken), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(rates(paths[1:], capacity, hint=hint.copy()), filling(paths[1:], capacity),
                               rtol=1e-12, atol=0)


def test_the_hint_learns_each_bottleneck_level():
    # links 0 (cap 1, flows a, b) and 1 (cap 10, flows b, c): a = b = 0.5 at link 0, c = 9.5 at link 1
    hint = np.full(3, np.nan)
    out = rates([[0], [0, 1], [1]], [1.0, 10.0, 5.0], hint=hint)
    assert out.tolist() == [0.5, 0.5, 9.5]
    assert hint[0] == 0.5 and hint[1] == 9.5 and np.isnan(hint[2])
