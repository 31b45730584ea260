"""Net-Trim's ADMM against cvxpy on tiny problems, and its response guarantee."""

import numpy as np
import pytest
import torch

from simulator.partition import nettrim_cascade, nettrim_layer, nettrim_parallel
from simulator.partition.nettrim import trimmed_model

cp = pytest.importorskip("cvxpy")


def problem(seed, n=5, m=3, p=40):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=gen, dtype=torch.float64)
    w = torch.randn(n, m, generator=gen, dtype=torch.float64)
    return x, w, torch.relu(w.T @ x)


@pytest.mark.parametrize("seed", range(3))
def test_admm_matches_cvxpy(seed):
    x, _, y = problem(seed)
    eps = 0.1 * float(torch.linalg.norm(y))
    res = nettrim_layer(x, y, eps, bias=False, iterations=5000, tol=1e-9)
    xn, yn = x.numpy(), y.numpy()
    u = cp.Variable((x.shape[0], y.shape[0]))
    act = yn > 0
    z = u.T @ xn
    cons = [cp.sum_squares(cp.multiply(act, z - yn)) <= eps ** 2, cp.multiply(~act, z) <= 0]
    cp.Problem(cp.Minimize(cp.sum(cp.abs(u))), cons).solve()
    assert float(res.weight.abs().sum()) == pytest.approx(float(np.abs(u.value).sum()), rel=2e-2)
    assert np.allclose(res.weight.numpy(), u.value, atol=0.05 * np.abs(u.value).max())


@pytest.mark.parametrize("seed", range(3))
def test_response_stays_within_eps(seed):
    x, _, y = problem(seed, n=10, m=6, p=80)
    eps = 0.05 * float(torch.linalg.norm(y))
    res = nettrim_layer(x, y, eps, iterations=3000, tol=1e-9)
    err = float(torch.linalg.norm(y - torch.relu(res.weight.double().T @ x + res.bias.double()[:, None])))
    assert err <= 1.02 * eps
    assert int((res.weight == 0).sum()) > 0


def test_parallel_and_cascade_trim_a_network():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 30), torch.nn.ReLU(), torch.nn.Linear(30, 30), torch.nn.ReLU(),
                                torch.nn.Linear(30, 2))
    x = torch.randn(200, 4)
    for trim in (nettrim_parallel, nettrim_cascade):
        layers = trim(model, x, eps=0.05, iterations=800)
        h = x
        for r, act in zip(layers, ["relu", "relu", "none"]):
            h = h @ r.weight + r.bias
            h = torch.relu(h) if act == "relu" else h
        with torch.no_grad():
            ref = model(x)
        assert float(torch.linalg.norm(h - ref) / torch.linalg.norm(ref)) < 0.2
        assert sum(int((r.weight != 0).sum()) for r in layers) < 4 * 30 + 30 * 30 + 30 * 2
        with torch.no_grad():
            assert torch.allclose(trimmed_model(model, layers)(x), h, atol=1e-5)
