"""Net-Trim (Aghasi, Abdi, Nguyen, Romberg, NeurIPS 2017; SIAM J. Math. Data Sci. 2020): convex
pruning of a layer that keeps its response.

For a ReLU layer with inputs X (N x P) and outputs Y = ReLU(W^T X) (M x P), find a sparse U::

    minimise ||U||_1  s.t.  sum over the active set (Y > 0) of (U^T X - Y)^2 <= eps^2,
                            U^T X <= V on the inactive set (Y = 0)

Any feasible U keeps ||Y - ReLU(U^T X)||_F <= eps (with V <= 0). A linear layer keeps only the
ball constraint on every entry. Solved by the scaled ADMM of the paper (variables W1 ~ U^T X,
W2 ~ U carrying the L1 term, W3 = U; duals U1, U2), a row of ones appended for the bias, data
rescaled by c0 = 0.3 sqrt(max(X X^T)), and one Cholesky factor of X X^T + I. The penalty ``rho``
defaults to 20 over the mean magnitude of the ridge solution (only the speed depends on it). ``mask`` (N x M,
optional) restricts the support (used by restructuring). Weights are (in x out) here, as in the
paper; :func:`nettrim_layer` returns them (in x out) plus the bias.

``nettrim_parallel`` trims every layer against the original inputs; ``nettrim_cascade`` feeds
each layer the trimmed output of the one before, with eps_l^2 = gamma ||(W^T X_hat - Y)_active||^2
and V = W^T X_hat on the inactive set, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hwmodels import SpecError

from .common import forward_layer
from .plan import dense_layers

__all__ = ["NetTrimResult", "nettrim_layer", "nettrim_parallel", "nettrim_cascade", "trimmed_model"]


@dataclass
class NetTrimResult:
    weight: torch.Tensor  # (in x out), exactly sparse
    bias: torch.Tensor
    iterations: int
    eps: float


def nettrim_layer(x: torch.Tensor, y: torch.Tensor, eps: float, *, relu: bool = True, v: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, rho: float | None = None, iterations: int = 500, tol: float = 1e-5,
                  bias: bool = True) -> NetTrimResult:
    """Net-Trim of one layer: ``x`` (N x P) inputs, ``y`` (M x P) outputs to keep within ``eps``
    (Frobenius, absolute); ``v`` (M x P) caps the inactive set (default 0); ``mask`` (N x M)."""
    if eps < 0:
        raise SpecError(f"Net-Trim: eps must be >= 0, got {eps}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # hundreds of small products: one thread is fastest, and immune to a busy host
    try:
        return _admm(x, y, eps, relu, v, mask, rho, iterations, tol, bias)
    finally:
        torch.set_num_threads(threads)


def _admm(x: torch.Tensor, y: torch.Tensor, eps: float, relu: bool, v: torch.Tensor | None, mask: torch.Tensor | None,
          rho: float | None, iterations: int, tol: float, bias: bool) -> NetTrimResult:
    x = x.detach().double()
    y = y.detach().double()
    n, p = x.shape
    if y.shape[1] != p:
        raise SpecError(f"Net-Trim: x has {p} samples but y has {y.shape[1]}")
    if bias:
        x = torch.cat([x, torch.ones(1, p, dtype=torch.float64)], 0)
    c0 = 0.3 * float(torch.sqrt((x @ x.T).max()))
    c0 = c0 if c0 > 0 else 1.0
    x, y, eps = x / c0, y / c0, eps / c0
    m = y.shape[0]
    active = (y > 0) if relu else torch.ones_like(y, dtype=torch.bool)
    vv = torch.zeros_like(y) if v is None else v.double() / c0
    keep = None
    if mask is not None:
        keep = mask.double()
        if bias:
            keep = torch.cat([keep, torch.ones(1, m, dtype=torch.float64)], 0)
    chol = torch.linalg.cholesky(x @ x.T + torch.eye(x.shape[0], dtype=torch.float64))
    if rho is None:  # soft threshold 1/rho at 5 % of the typical (ridge) weight: scale-free convergence
        typical = float(torch.cholesky_solve(x @ y.T, chol).abs().mean())
        rho = 20.0 / typical if typical > 0 else 1.0
    w3 = torch.zeros(x.shape[0], m, dtype=torch.float64)
    w2 = torch.zeros_like(w3)
    u1 = torch.zeros(m, p, dtype=torch.float64)
    u2 = torch.zeros_like(w3)
    it = 0
    for it in range(1, iterations + 1):
        z = w3.T @ x - u1
        d = torch.where(active, z - y, 0.0)
        norm = float(torch.linalg.norm(d))
        w1 = torch.where(active, y + d * (min(1.0, eps / norm) if norm > 0 else 1.0), torch.minimum(z, vv))
        t = w3 - u2
        w2 = torch.sign(t) * torch.clamp(t.abs() - 1.0 / rho, min=0.0)
        if keep is not None:
            w2 = w2 * keep
        prev = w3
        w3 = torch.cholesky_solve(x @ (w1 + u1).T + w2 + u2, chol)
        u1 = u1 + w1 - w3.T @ x
        u2 = u2 + w2 - w3
        if float(torch.linalg.norm(w3 - prev)) <= tol * max(1.0, float(torch.linalg.norm(w3))):
            break
    w = w2.float()
    if bias:
        return NetTrimResult(w[:-1], w[-1], it, eps * c0)
    return NetTrimResult(w, torch.zeros(m), it, eps * c0)


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
    """Layer l trimmed on the trimmed output of layer l-1 (sparser at equal final error)."""
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
