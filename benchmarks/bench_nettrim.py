"""Benchmark Net-Trim (Aghasi, Abdi, Nguyen, Romberg, NeurIPS 2017; SIAM J. Math. Data Sci. 2020)
on the nested-spirals 2-200-200-2 ReLU net of the paper.

    python benchmarks/bench_nettrim.py --json out.json
    python benchmarks/bench_nettrim.py --eps 0.0025 0.01 --samples 1000 2000 --json out.json

The net is trained here (seeded, full-batch Adam on 2,000 noisy spiral points, 1,000 more for the
test). ADMM runs to ``--tol`` 1e-4 here (between 1e-3 and 1e-4 the nonzero count moves by about
10 %, the L1 norm by < 0.1 %). Sections: ``protocol`` (the paper's setting: cascade,
eps = 0.01 ||Y_l||, gamma = 1.1, the first 1,000 training points; nonzeros, errors and ADMM
statistics per layer, discrepancy per layer and at the output on the calibration and test points,
test accuracy), ``sensitivity`` (only layer 1 trimmed at eps, plain and polished, against a random
perturbation of the same size: the L1 shrinkage error of plain Net-Trim is amplified about 15x
by the rest of the net, a random one about 2x; this, not the solver, sets the output discrepancy
of the protocol), ``fixed_rho`` (the same cascade with a large fixed ADMM penalty and
500 iterations, like the solver used before: not converged, an order of magnitude more nonzeros),
``lenet`` (the paper's CNN experiment in shape: the FC layers of LeNet-5 on the digits, since
MNIST cannot be downloaded), ``protocol_polished`` (the same with ``polish=True``: the L1 solution debiased by least squares on
its support; same nonzeros per layer, much smaller error), ``sweep`` (cascade and parallel, plain
and polished, over ``--eps`` and ``--samples``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time

import numpy as np
import torch

from simulator.data import load
from simulator.models import accuracy, trained
from simulator.partition import nettrim_cascade, nettrim_layer, nettrim_parallel
from simulator.partition.nettrim import trimmed_model


def spirals(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved Archimedean spirals (r = t and r = t + pi, 1.5 turns), scaled to about the
    unit disc, with Gaussian noise of 0.02."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    r = t + np.pi * label
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1) / (4 * np.pi) + 0.02 * rng.standard_normal((n, 2))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(label)


def train(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 200), torch.nn.ReLU(), torch.nn.Linear(200, 200), torch.nn.ReLU(),
                              torch.nn.Linear(200, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def _layer_outputs(net: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    outs, h = [], x
    with torch.no_grad():
        for m in net:
            h = m(h)
            if not isinstance(m, torch.nn.Linear) or m is net[-1]:
                outs.append(h)
    return outs  # after each ReLU, and the logits


def evaluate(net: torch.nn.Sequential, res: list, x_cal: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor) -> dict:
    trimmed = trimmed_model(net, res)
    out = {"nonzeros": [int((r.weight != 0).sum()) for r in res],
           "accuracy_after": accuracy(trimmed, xt, yt)}
    for name, xx in (("calibration", x_cal), ("test", xt)):
        a, b = _layer_outputs(trimmed, xx), _layer_outputs(net, xx)
        out[f"layer_discrepancy_{name}"] = [_rel(p, q) for p, q in zip(a, b)]
        out[f"output_discrepancy_{name}"] = out[f"layer_discrepancy_{name}"][-1]
    return out


def _admm_stats(res: list, net: torch.nn.Sequential, x_cal: torch.Tensor) -> list[dict]:
    ys = _layer_outputs(net, x_cal)
    return [{"eps_relative": r.eps / float(torch.linalg.norm(y)), "fit_error_over_eps": r.fit_error / r.eps,
             "iterations": r.iterations, "converged": r.converged, "rho": r.rho} for r, y in zip(res, ys)]


def run(net, x_cal, xt, yt, trim, **kw) -> dict:  # noqa: ANN001
    t0 = time.perf_counter()
    res = trim(net, x_cal, **kw)
    wall = time.perf_counter() - t0
    return {**evaluate(net, res, x_cal, xt, yt), "wall_s": wall, "layers": _admm_stats(res, net, x_cal)}


def sensitivity(net: torch.nn.Sequential, x_cal: torch.Tensor, eps: float, tol: float) -> dict:
    """Trim layer 1 only (Net-Trim at eps ||Y_1||, plain and polished), keep layers 2 and 3:
    relative discrepancy of the layer-1 output, the layer-2 output and the logits; against a random
    perturbation of the layer-1 output of the same relative size (on its active entries, 5 draws)."""
    with torch.no_grad():
        y1 = torch.relu(net[0](x_cal))
        y2 = torch.relu(net[2](y1))
        ref = net[4](y2)

    def through(h1: torch.Tensor) -> dict:
        with torch.no_grad():
            h2 = torch.relu(net[2](h1))
            return {"layer1": _rel(h1, y1), "layer2": _rel(h2, y2), "output": _rel(net[4](h2), ref)}

    out: dict = {"eps": eps}
    for polish in (False, True):
        r = nettrim_layer(x_cal.T, y1.T, eps * float(torch.linalg.norm(y1)), tol=tol, polish=polish)
        out["nettrim_polished" if polish else "nettrim"] = through(torch.relu(x_cal @ r.weight + r.bias))
    gen = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(5):
        noise = torch.randn(y1.shape, generator=gen) * (y1 > 0)
        draws.append(through(y1 + eps * float(torch.linalg.norm(y1)) * noise / torch.linalg.norm(noise)))
    out["random"] = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    return out


def lenet(tol: float, eps_values: tuple[float, ...] = (0.02, 0.05, 0.1)) -> dict:
    """The paper's CNN experiment in shape: Net-Trim (cascade, gamma 1.1) on the fully connected
    layers of LeNet-5 only, here on the digits (MNIST cannot be downloaded): the FC layers are an
    MLP on the flattened convolution features of the training images."""
    ds = load("digits", seed=0)
    net = trained("lenet5", "digits", seed=0, epochs=30)
    feats, fc = net[0], torch.nn.Sequential(*list(net.children())[2:])
    with torch.no_grad():
        f_train = torch.flatten(feats(ds.x_train), 1)
        f_test = torch.flatten(feats(ds.x_test), 1)
    dense = sum(int((m.weight != 0).sum()) for m in fc if isinstance(m, torch.nn.Linear))
    rows = []
    for eps, polish in itertools.product(eps_values, (False, True)):
        t0 = time.perf_counter()
        res = nettrim_cascade(fc, f_train, eps=eps, gamma=1.1, tol=tol, polish=polish)
        trimmed = trimmed_model(fc, res)
        kept = sum(int((r.weight != 0).sum()) for r in res)
        rows.append({"eps": eps, "polish": polish, "fc_weights_kept": kept / dense,
                     "nonzeros": [int((r.weight != 0).sum()) for r in res],
                     "accuracy_after": accuracy(trimmed, f_test, ds.y_test), "wall_s": time.perf_counter() - t0})
        print(f"lenet eps={eps} polish={polish}: FC kept {kept / dense:.3f}, accuracy {rows[-1]['accuracy_after']:.4f}",
              flush=True)
    return {"accuracy_before": accuracy(fc, f_test, ds.y_test), "fc_weights": dense, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--epochs", type=int, default=600, help="full-batch Adam epochs (lr 1e-2)")
    ap.add_argument("--samples", type=int, nargs="*", default=[1000], help="calibration samples for the sweep")
    ap.add_argument("--eps", type=float, nargs="*", default=[0.005, 0.01, 0.02, 0.04], help="relative eps sweep")
    ap.add_argument("--tol", type=float, default=1e-4, help="ADMM residual tolerance (library default 1e-3)")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--only-lenet", action="store_true", help="only the LeNet-5 FC section")
    args = ap.parse_args()
    out: dict = {"host": platform.machine(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                 "tol": args.tol}
    out["lenet"] = lenet(args.tol)
    if args.only_lenet:
        _write(out, args.json)
        return
    x, y = spirals(2000, 0)
    xt, yt = spirals(1000, 1)
    t0 = time.perf_counter()
    net = train(x, y, args.epochs)
    out["net"] = {"train_s": time.perf_counter() - t0, "epochs": args.epochs,
                  "accuracy_train": accuracy(net, x, y), "accuracy_test": accuracy(net, xt, yt),
                  "nonzeros": [int((m.weight != 0).sum()) for m in (net[0], net[2], net[4])],
                  "nonzeros_above_1e-4": [int((m.weight.abs() > 1e-4).sum()) for m in (net[0], net[2], net[4])]}
    print(f"net: {out['net']}", flush=True)
    x_cal = x[:1000]
    out["protocol"] = run(net, x_cal, xt, yt, nettrim_cascade, eps=0.01, gamma=1.1, tol=args.tol)
    print(f"protocol: {out['protocol']}", flush=True)
    out["protocol_polished"] = run(net, x_cal, xt, yt, nettrim_cascade, eps=0.01, gamma=1.1, tol=args.tol, polish=True)
    print(f"protocol_polished: {out['protocol_polished']}", flush=True)
    out["sensitivity"] = sensitivity(net, x_cal, 0.01, args.tol)
    print(f"sensitivity: {out['sensitivity']}", flush=True)
    out["fixed_rho"] = run(net, x_cal, xt, yt, nettrim_cascade, eps=0.01, gamma=1.1, rho=2000.0, adapt=False,
                           iterations=500)
    print(f"fixed_rho: {out['fixed_rho']}", flush=True)
    if not args.no_sweep:
        out["sweep"] = []
        for p in args.samples:
            for eps in args.eps:
                for (name, trim), polish in itertools.product(
                        (("cascade", nettrim_cascade), ("parallel", nettrim_parallel)), (False, True)):
                    kw = {"eps": eps, "tol": args.tol, "polish": polish}
                    kw.update({"gamma": 1.1} if name == "cascade" else {})
                    row = {"version": name, "polish": polish, "eps": eps, "samples": p,
                           **run(net, x[:p], xt, yt, trim, **kw)}
                    out["sweep"].append(row)
                    print(f"sweep {name} polish={polish} eps={eps} P={p}: nonzeros {row['nonzeros']}, "
                          f"output discrepancy {row['output_discrepancy_test']:.4f}, "
                          f"accuracy {row['accuracy_after']:.3f}, "
                          f"{row['wall_s']:.1f} s", flush=True)
    _write(out, args.json)


def _write(out: dict, path: str | None) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
