"""Net-Trim's ADMM against cvxpy on tiny problems, and its response guarantee."""

import numpy as np
import pytest
import torch

from simulator.partition import nettrim_cascade, nettrim_layer, nettrim_parallel
from simulator.partition.nettrim import nettrim_conv, trimmed_model

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


def cvxpy_nettrim(x, y, eps, *, relu=True, bias=True, mask=None):
    """The Net-Trim program stated directly (independent reference); returns (weights with the bias
    as last row, optimal L1 norm)."""
    xn = np.vstack([x.numpy(), np.ones((1, x.shape[1]))]) if bias else x.numpy()
    yn = y.numpy()
    u = cp.Variable((xn.shape[0], yn.shape[0]))
    if mask is not None:  # weights outside the support are not variables at all
        keep = np.vstack([mask.numpy(), np.ones((1, yn.shape[0]), bool)]) if bias else mask.numpy()
        u = cp.multiply(keep.astype(float), u)
    z = u.T @ xn
    if relu:
        act = yn > 0
        cons = [cp.sum_squares(cp.multiply(act, z - yn)) <= eps ** 2, cp.multiply(~act, z) <= 0]
    else:
        cons = [cp.sum_squares(z - yn) <= eps ** 2]
    prob = cp.Problem(cp.Minimize(cp.sum(cp.abs(u))), cons)
    prob.solve()
    return u.value, prob.value


def stacked(res, bias=True):
    w = res.weight.double()
    return torch.cat([w, res.bias.double()[None]]).numpy() if bias else w.numpy()


@pytest.mark.parametrize("seed", range(3))
def test_default_stopping_rule_converges_to_a_feasible_near_optimal_point(seed):
    x, _, y = problem(seed, n=10, m=6, p=80)
    eps = 0.05 * float(torch.linalg.norm(y))
    res = nettrim_layer(x, y, eps)  # default tolerances and budget
    assert res.converged and res.iterations < 3000
    out = res.weight.double().T @ x + res.bias.double()[:, None]
    err = float(torch.linalg.norm(y - torch.relu(out)))
    assert err <= 1.01 * eps  # the returned (exactly sparse) weights keep the response within eps
    assert res.discrepancy == pytest.approx(err, rel=1e-9)
    assert res.fit_error == pytest.approx(float(torch.linalg.norm(torch.where(y > 0, out - y, 0.0))), rel=1e-9)
    _, best = cvxpy_nettrim(x, y, eps)
    assert float(np.abs(stacked(res)).sum()) == pytest.approx(best, rel=2e-2)


def test_residual_balancing_rescues_a_bad_penalty():
    """A penalty far too large leaves ADMM primal-feasible but far from the L1 optimum (the dual
    residual stays large); residual balancing (duals rescaled with rho) reaches the optimum."""
    x, _, y = problem(5, n=10, m=6, p=80)
    eps = 0.05 * float(torch.linalg.norm(y))
    _, best = cvxpy_nettrim(x, y, eps)
    fixed = nettrim_layer(x, y, eps, rho=1e3, adapt=False, iterations=400)
    assert not fixed.converged
    assert fixed.dual_residual > 10 * fixed.primal_residual
    assert float(np.abs(stacked(fixed)).sum()) > 1.05 * best
    balanced = nettrim_layer(x, y, eps, rho=1e3, iterations=3000)
    assert balanced.converged and balanced.rho < 1e2
    assert float(np.abs(stacked(balanced)).sum()) == pytest.approx(best, rel=2e-2)
    assert balanced.fit_error <= 1.01 * eps


@pytest.mark.parametrize("rho", [0.05, 1.0, 20.0])
def test_solution_does_not_depend_on_the_initial_penalty(rho):
    x, _, y = problem(7, n=8, m=4, p=60)
    eps = 0.1 * float(torch.linalg.norm(y))
    ref, best = cvxpy_nettrim(x, y, eps)
    res = nettrim_layer(x, y, eps, rho=rho, tol=1e-6, iterations=6000)
    assert float(np.abs(stacked(res)).sum()) == pytest.approx(best, rel=5e-3)
    assert np.allclose(stacked(res), ref, atol=0.03 * np.abs(ref).max())


def test_linear_layer_and_mask_match_cvxpy():
    x, w, _ = problem(11, n=8, m=4, p=60)
    y = w.T @ x  # linear layer: the ball constraint on every entry
    gen = torch.Generator().manual_seed(3)
    mask = torch.rand(8, 4, generator=gen) < 0.6
    xb = torch.cat([x, torch.ones(1, x.shape[1], dtype=torch.float64)])
    floor = 0.0  # the smallest error any weights on the mask can reach: least squares per output
    for j in range(4):
        rows = torch.cat([mask[:, j], torch.tensor([True])])
        sol = torch.linalg.lstsq(xb[rows].T, y[j][:, None]).solution
        floor += float(((xb[rows].T @ sol)[:, 0] - y[j]).pow(2).sum())
    eps = 1.3 * floor ** 0.5
    ref, best = cvxpy_nettrim(x, y, eps, relu=False, mask=mask)
    res = nettrim_layer(x, y, eps, relu=False, mask=mask, tol=1e-6, iterations=6000)
    assert bool((res.weight[~mask] == 0).all())
    assert float(np.abs(stacked(res)).sum()) == pytest.approx(best, rel=5e-3)
    assert np.allclose(stacked(res), ref, atol=0.03 * np.abs(ref).max())
    assert res.fit_error == pytest.approx(res.discrepancy) and res.fit_error <= 1.01 * eps


def test_cascade_layers_meet_their_own_budgets():
    """Cascade: layer l sees the trimmed output of layer l-1; eps_l^2 >= gamma times the error
    propagated by the original weights, and each returned layer keeps its active-set error within it."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 20), torch.nn.ReLU(), torch.nn.Linear(20, 20), torch.nn.ReLU(),
                                torch.nn.Linear(20, 2))
    x = torch.randn(150, 3)
    layers = nettrim_cascade(model, x, eps=0.02, gamma=1.1)
    lin = [m for m in model if isinstance(m, torch.nn.Linear)]
    h_hat, h = x.double(), x.double()
    for i, (r, m) in enumerate(zip(layers, lin)):
        assert r.converged
        w, b = m.weight.detach().double(), m.bias.detach().double()
        pre_orig, pre_prop = h @ w.T + b, h_hat @ w.T + b
        relu = i < 2
        y = torch.relu(pre_orig) if relu else pre_orig
        act = y > 0 if relu else torch.ones_like(y, dtype=torch.bool)
        propagated = float(torch.linalg.norm(torch.where(act, pre_prop - y, 0.0)))
        assert r.eps == pytest.approx(max(0.02 * float(torch.linalg.norm(y)), 1.1 ** 0.5 * propagated), rel=1e-5)
        out = h_hat @ r.weight.double() + r.bias.double()
        # inactive set: capped by what the original weights give on the trimmed input (0 for layer 1)
        v = torch.zeros_like(pre_prop) if i == 0 else pre_prop
        violation = torch.where(act, out - y, (out - v).clamp(min=0.0))
        assert float(torch.linalg.norm(violation)) <= 1.01 * r.eps + 1e-6
        h_hat = torch.relu(out) if relu else out
        h = y


def test_degenerate_layers_stop_at_once():
    x, _, y = problem(2)
    dead = nettrim_layer(x, torch.zeros_like(y), 0.0)  # a dead layer: zero weights, at once
    assert dead.converged and dead.iterations <= 2 and bool((dead.weight == 0).all())
    loose = nettrim_layer(x, y, 2.0 * float(torch.linalg.norm(y)))  # eps above ||Y||: U = 0 is optimal
    assert loose.converged and bool((loose.weight == 0).all()) and bool((loose.bias == 0).all())


def test_polish_is_least_squares_on_the_support_of_a_linear_layer():
    x, w, _ = problem(4, n=8, m=4, p=60)
    y = w.T @ x
    eps = 0.2 * float(torch.linalg.norm(y))
    plain = nettrim_layer(x, y, eps, relu=False)
    pol = nettrim_layer(x, y, eps, relu=False, polish=True)
    assert torch.equal(plain.weight != 0, pol.weight != 0)  # same nonzeros
    xb = np.vstack([x.numpy(), np.ones((1, x.shape[1]))])
    ref = np.zeros((9, 4))
    for j in range(4):  # independent reference: numpy least squares per output on its support
        sup = np.flatnonzero(stacked(plain)[:, j])
        ref[sup, j] = np.linalg.lstsq(xb[sup].T, y[j].numpy(), rcond=None)[0]
    assert np.allclose(stacked(pol), ref, atol=1e-5 * np.abs(ref).max())
    assert pol.fit_error < plain.fit_error <= 1.01 * eps


@pytest.mark.parametrize("seed", range(3))
def test_polish_keeps_the_support_and_lowers_the_relu_response_error(seed):
    x, _, y = problem(seed, n=10, m=6, p=80)
    eps = 0.1 * float(torch.linalg.norm(y))
    plain = nettrim_layer(x, y, eps)
    pol = nettrim_layer(x, y, eps, polish=True)
    assert torch.equal(plain.weight != 0, pol.weight != 0)
    err = float(torch.linalg.norm(y - torch.relu(pol.weight.double().T @ x + pol.bias.double()[:, None])))
    assert err == pytest.approx(pol.discrepancy, rel=1e-9)
    assert err < 0.9 * plain.discrepancy and err <= eps


def conv_problem(seed, dims, cin=3, cout=4, k=3, batch=12, size=8, sparse=0.0):
    """Random inputs and a conv layer; ``sparse``: fraction of its weights made small (x 0.05), as
    in a trained layer, so that larger eps can drop more of them."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cin, *[size] * dims, generator=gen, dtype=torch.float64)
    w = torch.randn(cout, cin, *[k] * dims, generator=gen, dtype=torch.float64)
    w = torch.where(torch.rand(w.shape, generator=gen) < sparse, 0.05 * w, w)
    b = 0.1 * torch.randn(cout, generator=gen, dtype=torch.float64)
    return x, w, b


def conv(x, w, b, padding=1, stride=1):
    return (torch.nn.functional.conv1d if x.dim() == 3 else torch.nn.functional.conv2d)(
        x, w, b, padding=padding, stride=stride)


@pytest.mark.parametrize("dims,stride", [(1, 1), (2, 1), (2, 2)])
def test_conv_refit_keeps_the_response_within_eps(dims, stride):
    """The convex program's constraint checked independently: the trimmed weights, run through
    F.conv1d/conv2d on the calibration inputs, stay within eps of the original ReLU outputs."""
    x, w, b = conv_problem(dims, dims, sparse=0.5)
    y = torch.relu(conv(x, w, b, stride=stride))
    eps = 0.05 * float(torch.linalg.norm(y))
    res = nettrim_conv(x, y, eps, tuple(w.shape[2:]), stride=stride, padding=1)
    assert res.converged and res.weight.shape == w.shape
    out = torch.relu(conv(x, res.weight.double(), res.bias.double(), stride=stride))
    assert float(torch.linalg.norm(out - y)) <= 1.01 * eps
    assert res.discrepancy == pytest.approx(float(torch.linalg.norm(out - y)), rel=1e-5)
    assert int((res.weight != 0).sum()) < w.numel()


def test_conv_sparsity_grows_with_eps():
    x, w, b = conv_problem(3, 2, sparse=0.6)
    y = torch.relu(conv(x, w, b))
    kept = [int((nettrim_conv(x, y, e * float(torch.linalg.norm(y)), (3, 3), padding=1).weight != 0).sum())
            for e in (0.01, 0.05, 0.2)]
    assert kept[0] > kept[1] > kept[2] > 0


@pytest.mark.parametrize("relu", [False, True])
def test_planted_sparse_kernel_is_recovered(relu):
    """A 1-channel 3x3 conv with two planted weights (out = x shifted right minus half of x shifted
    up-left, no bias): with a small eps the unique L1-minimal fit is the planted kernel itself."""
    x = torch.randn(6, 1, 9, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    w = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    w[0, 0, 1, 2], w[0, 0, 0, 0] = 1.0, -0.5
    y = conv(x, w, None)
    y = torch.relu(y) if relu else y
    res = nettrim_conv(x, y, 1e-3 * float(torch.linalg.norm(y)), (3, 3), padding=1, relu=relu, tol=1e-6)
    assert torch.equal(res.weight != 0, w != 0)
    assert torch.allclose(res.weight.double(), w, atol=2e-3) and abs(float(res.bias)) < 2e-3


def test_conv_channel_mask_drops_whole_input_channels():
    x, w, b = conv_problem(5, 1, cin=3, cout=2)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    y = torch.relu(conv(x, w * mask[:, :, None], b))  # reachable on the mask
    eps = 0.05 * float(torch.linalg.norm(y))
    res = nettrim_conv(x, y, eps, (3,), padding=1, mask=mask)
    assert bool((res.weight[~mask] == 0).all()) and bool((res.weight[mask] != 0).any(1).all())
    out = torch.relu(conv(x, res.weight.double(), res.bias.double()))
    assert float(torch.linalg.norm(out - y)) <= 1.01 * eps


def test_conv_rejects_mismatched_shapes():
    from hwmodels import SpecError

    x, w, b = conv_problem(0, 1)
    y = torch.relu(conv(x, w, b))
    with pytest.raises(SpecError, match="kernel"):
        nettrim_conv(x, y, 1.0, (3, 3))  # a 2-D kernel on 1-D inputs
    with pytest.raises(SpecError, match="stride and padding"):
        nettrim_conv(x, y, 1.0, (3,), padding=0)  # outputs were computed with padding 1
