"""Least-squares support selection (``support="ls"``): exact greedy first step, never worse than the
score choice where they differ, the same per-worker budgets as ``select_support``, convolutions."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from simulator.partition import PartitionContext, partition, sensor_owner
from simulator.partition.common import affinity, refit_layer, select_support
from simulator.partition.layers import LayerSpec, preact
from simulator.partition.support import ls_support

LIN = LayerSpec("linear", (8,), (4,))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (seconds on a loaded host)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def residual(spec, x, z, mask, kernel=()):
    """Squared error of the least-squares refit on ``mask``, per neuron."""
    u, c = refit_layer(spec, x, z, mask, kernel)
    return ((z - preact(spec, x, u, c)) ** 2).transpose(0, 1).reshape(z.shape[1], -1).sum(1).double()


def linear_problem(seed, n=80, inp=8, out=4):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(inp, inp, generator=g)
    x = torch.randn(n, inp, generator=g) @ mix  # correlated inputs
    w = torch.randn(out, inp, generator=g)
    z = x @ w.T + 0.1 * torch.randn(n, out, generator=g)
    return x, z, w


IN_OWNER = np.array([0, 0, 0, 0, 1, 1, 1, 1])
OWNER = np.array([0, 0, 1, 1])


@pytest.mark.parametrize("seed", range(5))
def test_budget_one_is_the_brute_force_best_single_input(seed):
    x, z, w = linear_problem(seed)
    mask = ls_support(LIN, x, z, (), OWNER, IN_OWNER, 2, 0.25, affinity(w, x))  # round(0.25 * 4) = 1 per worker
    for k in range(2):
        rows = np.flatnonzero(OWNER == k)
        foreign = np.flatnonzero(IN_OWNER != k)
        errs = []
        for f in foreign:
            m = torch.as_tensor(IN_OWNER == k).clone()
            m[f] = True
            errs.append(float(residual(LIN, x, z, m.expand(4, -1))[rows].sum()))
        best = foreign[int(np.argmin(errs))]
        for j in rows:
            assert mask[j].tolist() == [(IN_OWNER[i] == k) or i == best for i in range(8)]


def test_ls_support_never_fits_worse_than_the_score_support_where_they_differ():
    differ = 0
    for seed in range(20):
        x, z, w = linear_problem(100 + seed, inp=12, out=6)
        in_owner = np.repeat([0, 1, 2], 4)
        owner = np.array([0, 0, 1, 1, 2, 2])
        scores = affinity(w, x)
        for keep in (0.25, 0.5):  # 2 or 4 of the 8 foreign inputs
            ls = ls_support(LayerSpec("linear", (12,), (6,)), x, z, (), owner, in_owner, 3, keep, scores)
            sc = select_support(scores, owner, in_owner, 3, keep)
            if torch.equal(ls, sc):
                continue
            differ += 1
            spec = LayerSpec("linear", (12,), (6,))
            assert residual(spec, x, z, ls).sum() <= residual(spec, x, z, sc).sum() * (1 + 1e-6)
    assert differ >= 10


def test_a_redundant_copy_is_skipped():
    """Two copies of a strong foreign input both top the affinity; least squares needs only one."""
    g = torch.Generator().manual_seed(3)
    base = torch.randn(200, 8, generator=g)
    x = base.clone()
    x[:, 5] = x[:, 4] * 1.001
    w = torch.tensor([[0.1, 0.1, 0.1, 0.1, 3.0, 3.0, 1.0, 0.5]])
    z = x @ w.T
    spec = LayerSpec("linear", (8,), (1,))
    owner, in_owner = np.array([0]), IN_OWNER
    scores = affinity(w, x)
    sc = select_support(scores, owner, in_owner, 2, 0.5)
    ls = ls_support(spec, x, z, (), owner, in_owner, 2, 0.5, scores)
    assert sc[0, 4:].tolist() == [True, True, False, False]
    assert int(ls[0, 4:6].sum()) == 1 and bool(ls[0, 6])
    assert residual(spec, x, z, ls).sum() < 0.3 * residual(spec, x, z, sc).sum()


@pytest.mark.parametrize("keep", [0.0, 0.05, 0.1, 0.3, 0.5, 0.77, 1.0])
def test_per_worker_budgets_match_select_support(keep):
    g = torch.Generator().manual_seed(7)
    n, inp, out, workers = 60, 30, 12, 3
    x = torch.randn(n, inp, generator=g)
    w = torch.randn(out, inp, generator=g)
    z = x @ w.T
    in_owner = np.array([0] * 5 + [1] * 10 + [2] * 15)  # unequal foreign counts: 25, 20, 15
    owner = np.array([0, 1, 2, 2, 1, 0, 2, 2, 1, 1, 2, 2])
    scores = affinity(w, x)
    ls = ls_support(LayerSpec("linear", (inp,), (out,)), x, z, (), owner, in_owner, workers, keep, scores)
    sc = select_support(scores, owner, in_owner, workers, keep)
    assert ls.shape == sc.shape == (out, inp)
    for k in range(workers):
        rows = torch.as_tensor(owner == k)
        local = torch.as_tensor(in_owner == k)
        assert (ls[rows] == ls[rows][0]).all()  # one shared set per destination worker
        assert ls[rows][:, local].all()  # local inputs are free
        assert int(ls[rows][0][~local].sum()) == int(sc[rows][0][~local].sum()) == round(keep * int((~local).sum()))


def test_conv_units_are_channels_with_exact_first_step():
    g = torch.Generator().manual_seed(5)
    spec = LayerSpec("conv1d", (6, 16), (4, 16), stride=1, padding=1, act="relu")
    x = torch.randn(30, 6, 16, generator=g)
    x[:, 3] = x[:, 2] + 0.05 * torch.randn(30, 16, generator=g)
    w = torch.randn(4, 6, 3, generator=g)
    z = preact(spec, x, w, torch.zeros(4))
    in_owner = np.array([0, 0, 1, 1, 1, 1])
    owner = np.array([1, 0, 1, 0])
    scores = affinity(w, x)
    # worker 0: 4 foreign channels, budget 1; worker 1: 2 foreign channels, budget round(0.5) = 0
    mask = ls_support(spec, x, z, (3,), owner, in_owner, 2, 0.25, scores)
    assert mask.shape == (4, 6) and mask.dtype == torch.bool
    assert mask[[0, 2]].tolist() == [[False, False, True, True, True, True]] * 2
    errs = {}
    for f in (2, 3, 4, 5):
        m = torch.as_tensor(in_owner == 0).clone()
        m[f] = True
        errs[f] = float(residual(spec, x, z, m.expand(4, -1), (3,))[[1, 3]].sum())
    best = min(errs, key=errs.get)
    assert mask[[1, 3]].tolist() == [[i < 2 or i == best for i in range(6)]] * 2
    # larger budget: still the select_support counts, and no worse than the score choice
    mask = ls_support(spec, x, z, (3,), owner, in_owner, 2, 0.5, scores)
    sc = select_support(scores, owner, in_owner, 2, 0.5)
    assert mask.sum(1).tolist() == sc.sum(1).tolist() == [5, 4, 5, 4]
    assert residual(spec, x, z, mask, (3,)).sum() <= residual(spec, x, z, sc, (3,)).sum() * (1 + 1e-6)


def test_repurpose_with_ls_support_builds_conv_plans_with_equal_transfers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 8, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8, 3)).eval()
    x = torch.randn(50, 2, 16, generator=torch.Generator().manual_seed(1))
    ctx = PartitionContext(2, sensor_owner("segments", (2, 16), 2), x)
    ls = partition("repurpose", net, ctx, keep=0.25, support="ls")
    sc = partition("repurpose", net, ctx, keep=0.25, support="score")
    assert ls.transfers_per_sample() == sc.transfers_per_sample()
    assert [a.shape for a in ls.mask] == [b.shape for b in sc.mask]
    assert [a.sum(1).tolist() for a in ls.mask] == [b.sum(1).tolist() for b in sc.mask]
    with torch.no_grad():
        assert torch.isfinite(ls.to_torch()(x)).all()


def test_swaps_and_the_score_start_only_improve_on_forward_selection():
    """Budget 2 of 6: forward selection alone is not exact; the score start and the swap passes never
    fit worse than it and reach the best pair on most random problems (measured: 95 % of 200)."""
    in_owner = np.array([0] * 4 + [1] * 6)
    owner = np.array([0, 0, 0])
    spec = LayerSpec("linear", (10,), (3,))
    ratios = []
    for seed in range(20):
        x, z, w = linear_problem(200 + seed, inp=10, out=3)
        log = []
        full = ls_support(spec, x, z, (), owner, in_owner, 2, 2 / 6, affinity(w, x), log=log)
        fwd = ls_support(spec, x, z, (), owner, in_owner, 2, 2 / 6, affinity(w, x), swaps=0, against_score=False)
        (info,) = log
        assert info["budget"] == 2 and info["final"] >= max(info["forward"], info["start"]) - 1e-9
        got = float(residual(spec, x, z, full).sum())
        assert got <= float(residual(spec, x, z, fwd).sum()) * (1 + 1e-6)
        rel = 1 - (info["base"] + info["final"]) / info["energy"]  # the logged residual is the refit's
        assert rel == pytest.approx(got / float((z.double() ** 2).sum()), rel=1e-3)
        best = min(float(residual(spec, x, z, torch.as_tensor(np.isin(np.arange(10), [0, 1, 2, 3, *p])).expand(3, -1)).sum())
                   for p in itertools.combinations(range(4, 10), 2))
        ratios.append(got / best)
    assert min(ratios) >= 1 - 1e-6
    assert np.mean(np.array(ratios) < 1 + 1e-6) >= 0.8
