"""Net-Trim's sample complexity on planted sparse layers (Aghasi, Abdi, Nguyen, Romberg, NeurIPS
2017, claim C20 of docs/reproduce.md): with Gaussian inputs of length N and at most s non-zero
weights per node, a ReLU layer's weights are recovered from O(s log N) samples.

A planted layer W (N x M, s non-zeros per column at random places, N(0, 1) values), P inputs
X ~ N(0, 1) (N x P), outputs Y = ReLU(W^T X); Net-Trim (no bias, eps = 1e-3 ||Y||) from (X, Y)
alone. A column counts as recovered when ||u - w|| <= 0.01 ||w||. The curve is the recovered
fraction against P / (s log N) for several N, which should collapse onto one transition.

    python benchmarks/bench_nettrim_recovery.py --plot docs/reproduce_nettrim_recovery.png --json out.json
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from simulator.partition import nettrim_layer

RATIOS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def planted(n: int, m: int, s: int, p: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A planted layer W (n x m, s non-zeros per column), inputs X (n x p) and Y = ReLU(W^T X)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(n, m, dtype=torch.float64)
    for j in range(m):
        rows = torch.randperm(n, generator=gen)[:s]
        w[rows, j] = torch.randn(s, generator=gen, dtype=torch.float64)
    x = torch.randn(n, p, generator=gen, dtype=torch.float64)
    return w, x, torch.relu(w.T @ x)


def recovery(n: int, s: int, ratio: float, *, m: int = 4, seeds: int = 5, tol: float = 0.01) -> dict[str, float]:
    """Fraction of the m x seeds planted columns Net-Trim recovers at P = ratio s ln N samples."""
    p = max(1, round(ratio * s * math.log(n)))
    hits, errors = 0, []
    for seed in range(seeds):
        w, x, y = planted(n, m, s, p, seed)
        u = nettrim_layer(x.float(), y.float(), 1e-3 * float(y.norm()), bias=False, tol=1e-4).weight.double()
        err = ((u - w).norm(dim=0) / w.norm(dim=0)).tolist()
        errors += err
        hits += sum(e <= tol for e in err)
    return {"N": n, "s": s, "P": p, "ratio": ratio, "recovered": hits / (m * seeds),
            "median_error": sorted(errors)[len(errors) // 2]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--s", type=int, default=4)
    ap.add_argument("--json")
    ap.add_argument("--plot")
    args = ap.parse_args()
    rows = [recovery(n, args.s, r) for n in args.n for r in RATIOS]
    for row in rows:
        print(f"N={row['N']:4d} s={row['s']} P={row['P']:4d} P/(s ln N)={row['ratio']:.1f} "
              f"recovered={row['recovered']:.2f} median error={row['median_error']:.3g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.plot:
        import matplotlib.pyplot as plt

        from experiments.style import series_style, styled

        with styled():
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            for i, n in enumerate(args.n):
                pts = [r for r in rows if r["N"] == n]
                ax.plot([r["ratio"] for r in pts], [r["recovered"] for r in pts], label=f"N = {n}, s = {args.s}",
                        **series_style(i))
            ax.set_xlabel("samples P / (s ln N)")
            ax.set_ylabel("fraction of nodes recovered (error <= 1 %)")
            ax.set_title("Net-Trim on planted sparse ReLU layers (4 nodes x 5 seeds)")
            ax.set_ylim(-0.03, 1.03)
            ax.legend()
            fig.tight_layout()
            fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
