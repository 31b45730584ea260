"""Support selection by least-squares fit gain (``support="ls"`` in the cascade).

:func:`~.common.select_support` picks each destination worker's shared set of foreign inputs by
summed affinity score; that ignores what the refit can recover (two strongly weighted but
redundant inputs both score high, an input the local ones already explain scores high).
:func:`ls_support` picks the same number of foreign inputs per worker (``round(keep * n_foreign)``)
to minimise the summed least-squares residual of all the worker's neurons after the refit:

1. group forward selection (group OMP / forward stepwise regression on the Gram matrix): start
   from the worker's local inputs and a bias, repeatedly add the foreign unit (an input, or a
   convolution's input channel = its kernel-size patch columns) with the largest exact residual
   reduction; ``ceil(budget / ROUNDS)`` units per round, so exact greedy for budgets up to ROUNDS;
2. the set :func:`select_support` would choose replaces it if it fits better (so the ls set never
   fits the calibration worse than the score set);
3. single-swap passes (remove a chosen unit, add the best candidate, keep the swap if the fit
   improves), smallest-loss units first, at most ``min(budget, SWAPS)`` attempts per worker.

With the regularised Gram G = [X 1]^T [X 1] + lam I and C = [X 1]^T Z (Z: target pre-activations),
the ridge residual of neuron j on support S is z_j^T z_j - c_Sj^T G_SS^-1 c_Sj. After sweeping in
the base (local inputs, bias) by one Cholesky solve, the state is the sweep operator restricted to
the foreign columns: for unswept candidates the Schur complement H = G_FF - G_FS G_SS^-1 G_SF and
the residual correlation R = C_F - G_FS G_SS^-1 C_S (candidates orthogonalised against S); adding
unit g explains exactly tr(R_g^T H_gg^-1 R_g) more, removing a swept unit loses the analogous
amount, and adding or removing is one rank-m sweep (O(N (N + neurons) m), no re-solve). lam is
the ridge of :func:`~.common.refit` (1e-6 of the mean Gram diagonal), so the tracked residual is
the one the refit attains.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .common import destinations, one_thread
from .layers import LayerSpec, unfold

__all__ = ["ls_support", "gram_problem", "greedy_foreign", "explained", "ROUNDS", "SWAPS"]

ROUNDS = 32  # at most this many selection rounds per worker (a round adds ceil(budget / ROUNDS) units)
SWAPS = 64  # at most this many single-swap attempts per worker


def gram_problem(spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, kernel: tuple[int, ...],
                 ridge: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(regularised Gram (p+1 x p+1), cross moments (p+1 x out), target energies (out)) of the layer's
    least-squares problem: columns = unfolded inputs (input unit major, kernel offset minor) and a
    bias last, rows = (sample, output position); the ridge as in :func:`~.common.refit`."""
    cols = unfold(spec, x, kernel).double()
    xd = torch.cat([cols, torch.ones(len(cols), 1, dtype=torch.float64)], 1)
    rows = z.reshape(len(z), z.shape[1], -1).transpose(1, 2).reshape(-1, z.shape[1]).double()
    gram = xd.T @ xd
    scale = ridge * float(torch.diagonal(gram).mean())
    gram.diagonal().add_(scale)
    return gram, xd.T @ rows, (rows ** 2).sum(0)


class _Sweep:
    """Sweep-operator state of one worker's problem restricted to its candidate columns (the local
    inputs and the bias already swept in): ``h`` (N x N) over the candidate columns, ``r`` (N x
    neurons) against the targets. Unswept rows: the Schur complement and residual correlation given
    the swept set; swept rows: minus the inverse Gram and the regression coefficients. Sweeping a
    unit in or out is one rank-m update; the order does not matter."""

    def __init__(self, h: torch.Tensor, r: torch.Tensor, m: int) -> None:
        self.h, self.r, self.m = h, r, m
        self.n = h.shape[0] // m
        self.swept = torch.zeros(self.n, dtype=torch.bool)
        self._ar = torch.arange(self.n)

    def cols(self, units: torch.Tensor) -> torch.Tensor:
        return (units[:, None] * self.m + torch.arange(self.m)[None, :]).reshape(-1)

    def toggle(self, units: torch.Tensor) -> None:
        """Sweep ``units`` in (all unswept) or out (all swept)."""
        k = self.cols(units)
        sign = -1.0 if bool(self.swept[units[0]]) else 1.0
        akk = self.h[k][:, k]
        inv, bad = torch.linalg.inv_ex(akk)
        if int(bad):  # a dead input unit with no ridge (all-zero calibration): pseudo-inverse
            inv = torch.linalg.pinv(akk, hermitian=True)
        inv = (inv + inv.T) / 2
        hk = self.h[:, k].clone()
        x = inv @ torch.cat([hk.T, self.r[k]], 1)
        n = self.h.shape[0]
        self.h.addmm_(hk, x[:, :n], alpha=-1.0)
        self.r.addmm_(hk, x[:, n:], alpha=-1.0)
        self.h[k, :] = sign * x[:, :n]
        self.h[:, k] = sign * x[:, :n].T
        self.h[k[:, None], k[None, :]] = -inv
        self.r[k] = sign * x[:, n:]
        self.swept[units] = ~self.swept[units]

    def quad(self) -> torch.Tensor:
        """Per unit: the explained energy it would add (unswept, > 0) or minus the one its removal
        would lose (swept, < 0)."""
        if self.m == 1:
            d = torch.diagonal(self.h)
            d = torch.where(d == 0, torch.full_like(d, math.inf), d)
            return (self.r ** 2).sum(1) / d
        blocks = self.h.reshape(self.n, self.m, self.n, self.m)[self._ar, :, self._ar, :]
        rb = self.r.reshape(self.n, self.m, -1)
        sol, info = torch.linalg.solve_ex(blocks, rb)
        return torch.where(info == 0, (rb * sol).sum((1, 2)), torch.zeros(self.n, dtype=torch.float64))


def explained(h0: torch.Tensor, r0: torch.Tensor, m: int, units: torch.Tensor) -> float:
    """Energy of the worker's targets explained by adding ``units`` to the base support (from the
    base state h0, r0): tr(R_S^T H_SS^-1 R_S)."""
    if units.numel() == 0:
        return 0.0
    k = (units[:, None] * m + torch.arange(m)[None, :]).reshape(-1)
    rk = r0[k]
    return float((rk * torch.linalg.solve(h0[k][:, k], rk)).sum())


def greedy_foreign(gram: torch.Tensor, cross: torch.Tensor, base: torch.Tensor, cand: torch.Tensor, m: int,
                   budget: int, batch: int = 1, start: torch.Tensor | None = None,
                   swaps: int = 0) -> tuple[torch.Tensor, dict]:
    """Forward selection of ``budget`` of the candidate units ``cand`` (unit indices; unit u = columns
    u*m .. u*m+m-1 of ``gram``) on top of the always-kept columns ``base``; ``cross`` holds the
    targets' columns (the worker's neurons only). ``batch`` units are added per round (the round's
    top gains, then one exact block sweep). ``start``: another candidate set (positions in ``cand``,
    e.g. the score choice) kept instead if it explains more. ``swaps``: at most this many single
    swap attempts (remove a chosen unit, add the best candidate, keep it if it explains more),
    smallest-loss units first, passes until none improves. Returns (chosen units, info: explained
    energy of the base columns and, on top of it, of the forward set, of ``start`` and of the result;
    swaps accepted); only the chosen units when the budget is 0 or covers every candidate."""
    nc = cand.numel()
    info = {"base": 0.0, "forward": 0.0, "start": None, "final": 0.0, "swapped": 0}
    if budget <= 0 or nc == 0:
        return cand[:0], info
    if budget >= nc:
        return cand.clone(), info
    fcols = (cand[:, None] * m + torch.arange(m)[None, :]).reshape(-1)
    g_ff = gram[fcols][:, fcols]
    c_f = cross[fcols]
    if base.numel():
        g_bb = gram[base][:, base]
        chol, bad = torch.linalg.cholesky_ex(g_bb)
        if int(bad) == 0:
            t = torch.linalg.solve_triangular(chol, gram[base][:, fcols], upper=False)
            ty = torch.linalg.solve_triangular(chol, cross[base], upper=False)
            h0 = g_ff - t.T @ t
            r0 = c_f - t.T @ ty
            info["base"] = float((ty ** 2).sum())
        else:  # singular local block (not expected with the ridge): pseudo-inverse
            pinv = torch.linalg.pinv(g_bb)
            g_bf = gram[base][:, fcols]
            h0 = g_ff - g_bf.T @ pinv @ g_bf
            r0 = c_f - g_bf.T @ pinv @ cross[base]
            info["base"] = float((cross[base] * (pinv @ cross[base])).sum())
    else:
        h0, r0 = g_ff, c_f
    st = _Sweep(h0.clone(), r0.clone(), m)
    while int(st.swept.sum()) < budget:
        gain = torch.where(st.swept, torch.full((nc,), -math.inf, dtype=torch.float64), st.quad())
        take = min(batch, budget - int(st.swept.sum()))
        st.toggle(torch.topk(gain, take).indices)
    info["forward"] = info["final"] = explained(h0, r0, m, torch.nonzero(st.swept).flatten())
    if start is not None and start.numel() == budget:
        info["start"] = explained(h0, r0, m, start)
        if info["start"] > info["forward"]:
            st = _Sweep(h0.clone(), r0.clone(), m)
            st.toggle(start)
            info["final"] = info["start"]
    attempts = 0
    while attempts < swaps:
        improved = False
        q = st.quad()
        chosen = torch.nonzero(st.swept).flatten()
        for u in chosen[torch.argsort(-q[chosen])].tolist():  # smallest loss first
            if attempts >= swaps:
                break
            attempts += 1
            one = torch.tensor([u])
            st.toggle(one)
            gain = torch.where(st.swept, torch.full((nc,), -math.inf, dtype=torch.float64), st.quad())
            v = int(torch.argmax(gain))
            if v != u and float(gain[v]) > float(gain[u]) * (1 + 1e-9):
                st.toggle(torch.tensor([v]))
                info["swapped"] += 1
                improved = True
            else:
                st.toggle(one)
        if not improved:
            break
    if info["swapped"]:
        info["final"] = explained(h0, r0, m, torch.nonzero(st.swept).flatten())
    return cand[st.swept], info


def ls_support(spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, kernel: tuple[int, ...], owner: np.ndarray,
               in_owner: np.ndarray, workers: int, keep: float, scores: torch.Tensor, *, batch: int | None = None,
               swaps: int | None = None, against_score: bool = True, log: list | None = None) -> torch.Tensor:
    """Mask (out x in) like :func:`~.common.select_support` (each neuron: its worker's local inputs plus
    that worker's shared foreign set, ``round(keep * n_foreign)`` of them per worker) with the foreign
    set chosen to minimise the summed ridge least-squares residual of the worker's neurons, refitted
    on the restructured inputs ``x`` against the target pre-activations ``z`` (samples, out,
    positions...). ``kernel``: a convolution's kernel shape (a unit = an input channel, its
    kernel-size patch columns), () for Linear.

    Per worker: forward selection (``batch`` units per round; default ceil(budget / ROUNDS), so exact
    greedy for budgets up to ROUNDS); then, if ``against_score``, the set :func:`select_support` would
    pick from ``scores`` replaces it when that one fits the calibration better; then up to ``swaps``
    single-swap attempts (default ``min(budget, SWAPS)``). ``log``: per worker with a partial budget,
    the dict of :func:`greedy_foreign` plus its target energy is appended (relative residual:
    1 - (base + final) / energy)."""
    with one_thread():
        return _ls_support(spec, x, z, kernel, owner, in_owner, workers, keep, scores, batch, swaps, against_score, log)


def _ls_support(spec: LayerSpec, x: torch.Tensor, z: torch.Tensor, kernel: tuple[int, ...], owner: np.ndarray,
                in_owner: np.ndarray, workers: int, keep: float, scores: torch.Tensor, batch: int | None,
                swaps: int | None, against_score: bool, log: list | None) -> torch.Tensor:
    out, inp = scores.shape
    m = math.prod(kernel) if spec.conv else 1
    mask = torch.zeros(out, inp, dtype=torch.bool)
    gram = cross = energy = None
    for k, rows, local, foreign, budget in destinations(owner, in_owner, workers, keep):
        allowed = local.clone()
        if budget >= foreign.numel():
            allowed[foreign] = True
        elif budget:
            if gram is None:
                gram, cross, energy = gram_problem(spec, x, z, kernel)
            lu = torch.nonzero(local).flatten()
            base = torch.cat([(lu[:, None] * m + torch.arange(m)[None, :]).reshape(-1), torch.tensor([inp * m])])
            step = batch if batch is not None else math.ceil(budget / ROUNDS)
            start = torch.topk(scores[rows][:, foreign].double().sum(0), budget).indices if against_score else None
            chosen, info = greedy_foreign(gram, cross[:, rows], base, foreign, m, budget, step, start,
                                          min(budget, SWAPS) if swaps is None else swaps)
            allowed[chosen] = True
            if log is not None:
                log.append({"worker": k, "budget": budget, "energy": float(energy[rows].sum()), **info})
        mask[rows] = allowed
    return mask
