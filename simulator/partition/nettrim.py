"""Net-Trim (Aghasi, Abdi, Nguyen, Romberg, NeurIPS 2017; SIAM J. Math. Data Sci. 2020): convex
pruning of a layer that keeps its response.

For a ReLU layer with inputs X (N x P) and outputs Y = ReLU(W^T X) (M x P), find a sparse U::

    minimise ||U||_1  s.t.  sum over the active set (Y > 0) of (U^T X - Y)^2 <= eps^2,
                            U^T X <= V on the inactive set (Y = 0)

Any feasible U keeps ||Y - ReLU(U^T X)||_F <= eps (with V <= 0). A linear layer keeps only the
ball constraint on every entry. Solved by the scaled ADMM of the paper (variables W1 ~ U^T X,
W2 ~ U carrying the L1 term, W3 = U; duals U1, U2), a row of ones appended for the bias, data
rescaled by c0 = 0.3 sqrt(max(X X^T)), and one Cholesky factor of X X^T + I (both constraint
blocks carry the same penalty, so the factor does not depend on ``rho``). ``rho`` starts at 1 (the
public code's value on the rescaled data) and is adapted by residual balancing (Boyd et al. 2011,
3.4.1, with residuals relative to their tolerances as in Wohlberg 2017: rho doubled or halved
when one exceeds 10 times the other, scaled duals rescaled, every 10 iterations in the first half
of the budget). ADMM stops when the primal and dual residuals are below
``tol`` relative to the iterates and duals (Boyd et al. 3.3.1) *and* the returned sparse copy W2 meets
the constraints within ``feas_tol`` (relative to eps); :class:`NetTrimResult` reports whether that
happened, the residuals, the final rho and the achieved errors. (A large fixed rho, as used before,
leaves the dual residual about 70x above tolerance after 500 iterations: the weights are feasible but
their L1 norm, and the nonzero count, are an order of magnitude above the optimum.) ``polish=True``
(off by default, not in the paper) debiases the result by least squares on its support: the same
nonzeros with a much smaller error, which matters in a cascade because the L1 shrinkage is a
structured error that later layers can amplify. ``mask`` (N x M, optional) restricts the support
(used by restructuring). Weights are (in x out) here, as in the
paper; :func:`nettrim_layer` returns them (in x out) plus the bias.

:func:`nettrim_conv` trims a Conv1d/Conv2d layer: its input patches are unfolded (im2col,
``torch.nn.functional.unfold``) so that every output channel at every output position is one
column of the dense program, with X = the patches (in_channels x kernel offsets, one column per
sample and position) and Y = the layer's (activated, un-pooled) outputs; the same ADMM solves it
and the weights are folded back to (out, in, *kernel). The constraint is then on all the layer's
outputs on the calibration inputs, exactly as for a dense layer.

``nettrim_parallel`` trims every layer against the original inputs; ``nettrim_cascade`` feeds
each layer the trimmed output of the one before, with eps_l^2 = gamma ||(W^T X_hat - Y)_active||^2
and V = W^T X_hat on the inactive set, as in the paper (we take eps_l as at least eps ||Y_l||, so a
layer whose inputs are barely perturbed still gets the parallel budget). Neither is reliably
sparser at equal eps (``benchmarks/bench_nettrim_order.py``, spirals 2-200-200-2 net, three
training seeds, eps 0.01-0.04): the parallel form keeps 40-55 % fewer layer-2 weights on one net,
the cascade 14-45 % fewer on the other two, and the cascade's output discrepancy is the lower one
in 2 of 9 cases. The programs differ: the cascade fits the original outputs from the trimmed
inputs (layer 2 there: budget 2.3-4.6x eps ||Y_2||, while a dense refit on those inputs reaches
at most 0.21 % of ||Y_2||, so the budget is mostly room for pruning), the parallel form fits them
from the exact inputs within eps ||Y_l||; see docs/inference.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hwmodels import SpecError

from .common import forward_layer, one_thread
from .layers import LayerSpec, dense_layers, unfold

__all__ = ["NetTrimResult", "nettrim_layer", "nettrim_conv", "nettrim_parallel", "nettrim_cascade", "trimmed_model"]


@dataclass
class NetTrimResult:
    """One layer pruned by Net-Trim: its sparse ``weight`` (in x out) and ``bias``, the ADMM's
    ``iterations``, the error budget ``eps`` and how the solve ended (convergence, residuals, penalty)."""

    weight: torch.Tensor  # (in x out), exactly sparse
    bias: torch.Tensor
    iterations: int
    eps: float
    converged: bool = False  # residuals below tol and W2 feasible within feas_tol before the budget ran out
    primal_residual: float = float("nan")  # ||(W1 - W3^T X, W2 - W3)||_F at the end (rescaled data)
    dual_residual: float = float("nan")  # rho ||(dW3^T X, dW3)||_F at the end (rescaled data)
    rho: float = float("nan")  # final ADMM penalty (after residual balancing)
    fit_error: float = float("nan")  # ||(U^T X + b - Y)_active||_F of the returned weights; <= eps when solved
    discrepancy: float = float("nan")  # ||Y - act(U^T X + b)||_F of the returned weights on the fitted data


def nettrim_layer(x: torch.Tensor, y: torch.Tensor, eps: float, *, relu: bool = True, v: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, rho: float | None = None, iterations: int = 3000, tol: float = 1e-3,
                  bias: bool = True, adapt: bool = True, feas_tol: float = 1e-2,
                  polish: bool = False) -> NetTrimResult:
    """Net-Trim of one layer: ``x`` (N x P) inputs, ``y`` (M x P) outputs to keep within ``eps``
    (Frobenius, absolute); ``v`` (M x P) caps the inactive set (default 0); ``mask`` (N x M).

    ``rho``: initial ADMM penalty on the rescaled data (default 1), adapted by residual balancing
    unless ``adapt=False``; ``iterations``: budget; ``tol``: relative primal/dual residual tolerance;
    ``feas_tol``: allowed relative excess of the returned weights' constraint error over ``eps``;
    ``polish``: debias the L1 solution on its support (see :func:`_polish`; same nonzeros, smaller
    error, no longer L1-minimal)."""
    if eps < 0:
        raise SpecError(f"Net-Trim: eps must be >= 0, got {eps}")
    with one_thread():  # hundreds of small products per solve
        return _admm(x, y, eps, relu, v, mask, rho, iterations, tol, bias, adapt, feas_tol, polish)


def nettrim_conv(x: torch.Tensor, y: torch.Tensor, eps: float, kernel: tuple[int, ...], *, stride: int = 1,
                 padding: int = 0, relu: bool = True, mask: torch.Tensor | None = None,
                 **kw) -> NetTrimResult:  # noqa: ANN003
    """Net-Trim of a convolution: ``x`` (batch, in_channels, *spatial) its inputs, ``y`` (batch,
    out_channels, *output positions) the outputs to keep within ``eps`` (Frobenius over every
    sample, channel and position; after the activation, before any pool); ``kernel`` its size
    ((k,) for Conv1d, (kh, kw) for Conv2d); ``mask`` (out x in channels) restricts the support to
    whole input channels. Other keywords go to :func:`nettrim_layer`. The result's ``weight`` is in
    the convolution's layout (out, in, *kernel), not (in x out) as for a dense layer."""
    kind = {1: "conv1d", 2: "conv2d"}.get(len(kernel))
    if kind is None or x.dim() != len(kernel) + 2 or y.dim() != len(kernel) + 2:
        raise SpecError(f"Net-Trim conv: need a 1-D or 2-D kernel with inputs and outputs of matching rank, "
                        f"got kernel {tuple(kernel)}, x {tuple(x.shape)}, y {tuple(y.shape)}")
    spec = LayerSpec(kind, tuple(x.shape[1:]), stride=stride, padding=padding)
    cols = unfold(spec, x.detach().double(), kernel)  # (samples x positions, in x kernel)
    out = y.shape[1]
    rows = y.detach().double().reshape(len(y), out, -1).transpose(1, 2).reshape(-1, out)
    if len(rows) != len(cols):
        raise SpecError(f"Net-Trim conv: {len(cols)} input patches but {len(rows)} outputs; check stride and padding")
    k = len(cols[0]) // x.shape[1]
    res = nettrim_layer(cols.T, rows.T, eps, relu=relu, mask=None if mask is None else mask.repeat_interleave(k, 1).T,
                        **kw)
    res.weight = res.weight.T.reshape(out, x.shape[1], *kernel).contiguous()
    return res


def _admm(x: torch.Tensor, y: torch.Tensor, eps: float, relu: bool, v: torch.Tensor | None, mask: torch.Tensor | None,
          rho: float | None, iterations: int, tol: float, bias: bool, adapt: bool, feas_tol: float,
          polish: bool) -> NetTrimResult:
    x = x.detach().double()
    y = y.detach().double()
    n, p = x.shape
    if y.shape[1] != p:
        raise SpecError(f"Net-Trim: x has {p} samples but y has {y.shape[1]}")
    if iterations < 1 or not tol > 0 or not feas_tol >= 0:
        raise SpecError(f"Net-Trim: need iterations >= 1, tol > 0 and feas_tol >= 0, "
                        f"got {iterations}, {tol}, {feas_tol}")
    if bias:
        x = torch.cat([x, torch.ones(1, p, dtype=torch.float64)], 0)
    x_fit, y_fit = x, y
    c0 = 0.3 * float(torch.sqrt((x @ x.T).max()))
    c0 = c0 if c0 > 0 else 1.0
    x, y, eps = x / c0, y / c0, eps / c0  # the weights themselves are scale-free
    m = y.shape[0]
    active = (y > 0) if relu else torch.ones_like(y, dtype=torch.bool)
    vv = torch.zeros_like(y) if v is None else v.double() / c0
    keep = None
    if mask is not None:
        keep = mask.double()
        if bias:
            keep = torch.cat([keep, torch.ones(1, m, dtype=torch.float64)], 0)
    # W3 = argmin ||W1 + U1 - W3^T X||^2 + ||W2 + U2 - W3||^2: both blocks carry the same rho, so
    # the system X X^T + I (and its Cholesky factor) does not depend on rho.
    chol = torch.linalg.cholesky(x @ x.T + torch.eye(x.shape[0], dtype=torch.float64))
    rho = 1.0 if rho is None else float(rho)  # the public code's value on data rescaled by c0
    if not rho > 0:
        raise SpecError(f"Net-Trim: rho must be > 0, got {rho}")
    w3 = torch.zeros(x.shape[0], m, dtype=torch.float64)
    w2 = torch.zeros_like(w3)
    xw3 = torch.zeros(m, p, dtype=torch.float64)
    u1 = torch.zeros(m, p, dtype=torch.float64)
    u2 = torch.zeros_like(w3)
    # Boyd et al. (2011) 3.3.1: stop when both residuals are below tol (relative) plus a small floor
    # in the natural scale of each (Y for the primal, one subgradient per weight for the dual).
    floor_p = 1e-3 * tol * float(torch.linalg.norm(y))
    floor_d = 1e-3 * tol * (w3.numel() ** 0.5)
    it, r, s, converged = 0, float("inf"), float("inf"), False
    for it in range(1, iterations + 1):
        z = xw3 - u1
        d = torch.where(active, z - y, 0.0)
        norm = float(torch.linalg.norm(d))
        w1 = torch.where(active, y + d * (min(1.0, eps / norm) if norm > 0 else 1.0), torch.minimum(z, vv))
        t = w3 - u2
        w2 = torch.sign(t) * torch.clamp(t.abs() - 1.0 / rho, min=0.0)
        if keep is not None:
            w2 = w2 * keep
        prev, prev_x = w3, xw3
        w3 = torch.cholesky_solve(x @ (w1 + u1).T + w2 + u2, chol)
        xw3 = w3.T @ x
        r1, r2 = w1 - xw3, w2 - w3
        u1 = u1 + r1
        u2 = u2 + r2
        r = _norm2(r1, r2)
        s = rho * _norm2(xw3 - prev_x, w3 - prev)
        eps_pri = tol * max(_norm2(w1, w2), _norm2(xw3, w3)) + floor_p
        eps_dual = tol * rho * _norm2(u1, u2) + floor_d
        # W2 (what is returned) must also satisfy the constraints up to feas_tol: the residual rule
        # alone allows an error of about tol ||Y||, which is large next to eps when eps << ||Y||.
        if r <= eps_pri and s <= eps_dual and _violation(w2.T @ x, y, active, vv) <= (1 + feas_tol) * eps + floor_p:
            converged = True
            break
        # residual balancing (Boyd et al. 3.4.1; He, Yang, Wang 2000), on the residuals relative to
        # their tolerances (Wohlberg 2017), so that both reach the stopping rule together: keep them
        # within a factor mu of each other; the scaled duals U = Y / rho are rescaled with rho.
        # Adapted every 10 iterations and only in the first half of the budget, so that ADMM ends
        # with a fixed rho (which keeps its convergence guarantee).
        if adapt and it % 10 == 0 and it <= iterations // 2:
            # the primal side also counts W2's constraint excess over eps (relative to feas_tol eps):
            # when eps << ||Y||, r can meet its tolerance long before W2 is feasible
            excess = _violation(w2.T @ x, y, active, vv) - eps
            rel_p = max(_ratio(r, eps_pri), _ratio(excess, feas_tol * eps + floor_p))
            rel_d = _ratio(s, eps_dual)
            if rel_p > _MU * rel_d:
                rho, u1, u2 = rho * _TAU, u1 / _TAU, u2 / _TAU
            elif rel_d > _MU * rel_p:
                rho, u1, u2 = rho / _TAU, u1 * _TAU, u2 * _TAU
    if polish:
        w2 = _polish(w2, x, y, active, vv, relu)
    w = w2.float()
    out = w.double().T @ x_fit
    fit_error = float(torch.linalg.norm(torch.where(active, out - y_fit, 0.0)))
    discrepancy = float(torch.linalg.norm((torch.relu(out) if relu else out) - y_fit))
    info = dict(converged=converged, primal_residual=r, dual_residual=s, rho=rho, fit_error=fit_error,
                discrepancy=discrepancy)
    if bias:
        return NetTrimResult(w[:-1], w[-1], it, eps * c0, **info)
    return NetTrimResult(w, torch.zeros(m), it, eps * c0, **info)


_MU, _TAU = 10.0, 2.0


def _violation(out: torch.Tensor, y: torch.Tensor, active: torch.Tensor, v: torch.Tensor) -> float:
    """sqrt(||(out - y)_active||^2 + ||max(out - v, 0)_inactive||^2): at most eps when feasible."""
    return float(torch.linalg.norm(torch.where(active, out - y, (out - v).clamp(min=0.0))))


def _polish(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, active: torch.Tensor, v: torch.Tensor, relu: bool,
            rounds: int = 5) -> torch.Tensor:
    """Debias the L1 solution (as after a Lasso): per output neuron, least squares on the support of
    ``w`` fitting Y on the active set and, by a few active-set rounds, V on the inactive entries it
    would push above V. The L1 term shrinks every weight, and that shrinkage is a structured error
    (all outputs pulled towards the bias) that later layers can amplify far more than its size.
    A neuron keeps the refit only if it lowers that neuron's constraint error, so the constraint
    error of the layer never grows and the support (the nonzeros) is unchanged."""
    out = w.clone()
    for j in range(w.shape[1]):
        sup = torch.nonzero(w[:, j]).flatten()
        if len(sup) == 0:
            continue
        xs, act, vj = x[sup], active[j], v[j]
        rows, target = act.clone(), torch.where(act, y[j], vj)
        if not bool(act.any()):
            continue  # a dead neuron: nothing to refit
        for _ in range(rounds):
            sol = torch.linalg.lstsq(xs[:, rows].T, target[rows][:, None]).solution[:, 0]
            add = ~rows & (sol @ xs > vj) if relu else torch.zeros_like(rows)
            if not bool(add.any()):
                break
            rows = rows | add
        cand = torch.zeros_like(w[:, j])
        cand[sup] = sol
        if _violation((cand @ x)[None], y[j][None], act[None], vj[None]) < _violation(
                (w[:, j] @ x)[None], y[j][None], act[None], vj[None]):
            out[:, j] = cand
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else (float("inf") if a > 0 else 0.0)


def _norm2(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frobenius norm of the pair (a, b)."""
    return float(torch.sqrt((a * a).sum() + (b * b).sum()))


def _trim(layers, x0: torch.Tensor, eps_rel: float, gamma: float, cascade: bool, **kw) -> list[NetTrimResult]:  # noqa: ANN001
    if not eps_rel >= 0 or gamma < 1:
        raise SpecError(f"Net-Trim: need eps >= 0 and gamma >= 1, got {eps_rel}, {gamma}")
    x_orig = x_hat = x0.reshape(len(x0), -1).float()
    out = []
    for w, b, act in layers:
        y = forward_layer(x_orig, w, b, act)
        src = x_hat if cascade else x_orig
        relu = act == "relu"
        eps = eps_rel * float(torch.linalg.norm(y))
        v = None
        if cascade and out:
            pre = src @ w.T + b
            act_set = y > 0 if relu else torch.ones_like(y, dtype=torch.bool)
            eps = max(eps, (gamma * float((torch.where(act_set, pre - y, 0.0) ** 2).sum())) ** 0.5)
            v = torch.where(act_set, 0.0, pre).T if relu else None
        res = nettrim_layer(src.T, y.T, eps, relu=relu, v=v, **kw)
        out.append(res)
        x_hat = forward_layer(x_hat, res.weight.T, res.bias, act)
        x_orig = y
    return out


def nettrim_parallel(model, x: torch.Tensor, eps: float = 0.05, **kw) -> list[NetTrimResult]:  # noqa: ANN001
    """Every layer trimmed independently on the original activations; eps relative to ||Y_l||_F."""
    return _trim(dense_layers(model), x, eps, 1.0, False, **kw)


def nettrim_cascade(model, x: torch.Tensor, eps: float = 0.05, gamma: float = 1.1, **kw) -> list[NetTrimResult]:  # noqa: ANN001
    """Layer l trimmed on the trimmed output of layer l-1; eps relative to ||Y_l||_F, budget at least
    sqrt(gamma) times the error the original weights make on the trimmed inputs (not reliably
    sparser than :func:`nettrim_parallel`; see the module docstring)."""
    return _trim(dense_layers(model), x, eps, gamma, True, **kw)


def trimmed_model(model, results: list[NetTrimResult]):  # noqa: ANN001, ANN201
    """A copy of the MLP ``model`` with the trimmed weights of ``results`` (one per Linear layer)."""
    import copy  # noqa: PLC0415

    out = copy.deepcopy(model)
    linears = [m for m in out.modules() if isinstance(m, torch.nn.Linear)]
    if len(linears) != len(results):
        raise SpecError(f"Net-Trim: {len(results)} trimmed layers for a model with {len(linears)} Linear layers")
    with torch.no_grad():
        for m, r in zip(linears, results):
            m.weight.copy_(r.weight.T)
            if m.bias is not None:
                m.bias.copy_(r.bias)
    return out.eval()
