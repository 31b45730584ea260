"""Net-Trim cascade against parallel at equal eps on the nested-spirals 2-200-200-2 ReLU net,
over several seeds (net and data) and eps values.

    python benchmarks/bench_nettrim_order.py --json out.json
    python benchmarks/bench_nettrim_order.py --seeds 0 1 2 --eps 0.01 0.02 0.04

The net and data come from ``bench_nettrim.py`` (seeded spirals, full-batch Adam); the first
1,000 training points calibrate, 1,000 fresh points test. Per run: nonzeros per layer, each
layer's budget eps_l relative to ||Y_l||_F, and for the cascade the error the *original* weights
make on the trimmed inputs (``propagated``, relative to ||Y_l||): the cascade's budget is
max(eps ||Y_l||, sqrt(gamma) propagated), so ``budget / propagated`` is the slack left for pruning
once the original weights have used most of it, and ``floor`` (relative) the least error any
dense refit of the layer reaches on those inputs (per neuron least squares on its active
samples): ``budget^2 - floor^2`` is the room the L1 minimisation has. ADMM at the library defaults (tol 1e-3).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from bench_nettrim import spirals, train
from simulator.models import accuracy
from simulator.partition import nettrim_cascade, nettrim_parallel
from simulator.partition.nettrim import trimmed_model


def _linears(net: torch.nn.Sequential) -> list[torch.nn.Linear]:
    return [m for m in net if isinstance(m, torch.nn.Linear)]


def _outputs(net: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every Linear layer after its activation (none after the last)."""
    outs, h = [], x
    with torch.no_grad():
        for i, m in enumerate(net):
            h = m(h)
            if (isinstance(m, torch.nn.ReLU)) or i == len(net) - 1:
                outs.append(h)
    return outs


def _floor(x: torch.Tensor, y: torch.Tensor, act: torch.Tensor) -> float:
    """The smallest active-set error any dense weights and bias reach on inputs ``x``: per output
    neuron, least squares on its active samples (a lower bound on what the layer's program can reach)."""
    xb = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], 1)
    total = 0.0
    for j in range(y.shape[1]):
        rows = act[:, j]
        if bool(rows.any()):
            # gelsd: dead units make xb rank-deficient, and the default driver then returns garbage here
            sol = torch.linalg.lstsq(xb[rows], y[rows, j].double()[:, None], driver="gelsd").solution
            total += float(((xb[rows] @ sol)[:, 0] - y[rows, j].double()).pow(2).sum())
    return total ** 0.5


def measure(net: torch.nn.Sequential, x_cal: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor, form: str,
            eps: float, gamma: float) -> dict:
    t0 = time.perf_counter()
    res = (nettrim_cascade(net, x_cal, eps=eps, gamma=gamma) if form == "cascade"
           else nettrim_parallel(net, x_cal, eps=eps))
    wall = time.perf_counter() - t0
    trimmed = trimmed_model(net, res)
    ys, hats = _outputs(net, x_cal), _outputs(trimmed, x_cal)
    layers = []
    for l, (r, y, lin) in enumerate(zip(res, ys, _linears(net))):
        norm_y = float(torch.linalg.norm(y))
        row = {"nonzeros": int((r.weight != 0).sum()), "budget_rel": r.eps / norm_y, "converged": r.converged}
        if form == "cascade" and l > 0:  # what the original weights miss on the trimmed inputs
            with torch.no_grad():
                pre = lin(hats[l - 1])
            act = y > 0 if l < len(res) - 1 else torch.ones_like(y, dtype=torch.bool)
            row["propagated_rel"] = float(torch.linalg.norm(torch.where(act, pre - y, 0.0))) / norm_y
            row["floor_rel"] = _floor(hats[l - 1], y, act) / norm_y
        layers.append(row)
    out_t, ref_t = trimmed(xt).detach(), net(xt).detach()
    return {"form": form, "eps": eps, "layers": layers, "nonzeros": [r["nonzeros"] for r in layers],
            "output_discrepancy_test": float(torch.linalg.norm(out_t - ref_t) / torch.linalg.norm(ref_t)),
            "accuracy_after": accuracy(trimmed, xt, yt), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="net and data seeds")
    ap.add_argument("--eps", type=float, nargs="*", default=[0.01, 0.02, 0.04], help="relative eps")
    ap.add_argument("--gamma", type=float, default=1.1, help="cascade inflation of the propagated error")
    ap.add_argument("--epochs", type=int, default=600, help="full-batch Adam epochs (lr 1e-2)")
    args = ap.parse_args()
    out: dict = {"host": platform.machine(), "torch": torch.__version__, "gamma": args.gamma, "runs": []}
    for seed in args.seeds:
        x, y = spirals(2000, seed)
        xt, yt = spirals(1000, 1000 + seed)
        net = train(x, y, args.epochs, seed)
        acc = accuracy(net, xt, yt)
        for eps in args.eps:
            for form in ("parallel", "cascade"):
                row = {"seed": seed, "accuracy_before": acc, **measure(net, x[:1000], xt, yt, form, eps, args.gamma)}
                out["runs"].append(row)
                extra = [f"{r['budget_rel']:.4f}/{r.get('propagated_rel', float('nan')):.4f}/"
                         f"{r.get('floor_rel', float('nan')):.4f}" for r in row["layers"]]
                print(f"seed {seed} eps {eps} {form:8s}: nonzeros {row['nonzeros']}, budget/propagated/floor {extra}, "
                      f"out disc {row['output_discrepancy_test']:.4f}, acc {row['accuracy_after']:.3f} "
                      f"(before {acc:.3f}), {row['wall_s']:.1f} s", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
