"""Benchmark data-parallel training: digits MLP, 4 workers, 20 epochs, every compressor.

    python benchmarks/bench_training.py --plot docs/training_tradeoff.png --json out.json
    python benchmarks/bench_training.py --schemes none qcs --epochs 5

For each scheme (at its defaults, plus the issue's settings for QSGD, top-k and QCS): wall
time of the whole run, final test accuracy, bits per worker, simulated time and energy on 4
Jetson AGX Orin workers behind one 10 GbE switch. Codec times are measured once per scheme on
this host (cached; the first run of a scheme includes that measurement in its wall time).
signSGD's majority vote moves every weight by lr, so it runs at lr 0.003; random-k's d/k
scaling multiplies the gradient's variance by 100, so lr 0.01; DGC applies its own momentum
correction, so plain SGD; every other scheme SGD with momentum 0.9 at lr 0.1; batch 32 per worker.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from hwmodels import load_catalog
from simulator.cluster import Cluster
from simulator.compression import schemes
from simulator.learning import TrainConfig, train
from simulator.network import Topology

SETTINGS = {"qsgd": {"levels": 4}, "topk": {"ratio": 0.01}, "qcs": {"bucket": 256, "levels": 1}}
LR = {"signsgd": 0.003, "randomk": 0.01}
OPTIMIZER = {"dgc": "sgd"}   # DGC applies its own momentum correction


def run(scheme: str, epochs: int, seed: int) -> dict:
    catalog = load_catalog()
    cluster = Cluster(Topology.switch(4, catalog.link("eth-10g")), catalog.device("jetson-agx-orin-64gb"))
    config = TrainConfig(model="mlp", data="digits", workers=4, batch_size=32, compressor=scheme,
                         compressor_params=SETTINGS.get(scheme, {}), optimizer=OPTIMIZER.get(scheme, "momentum"), lr=LR.get(scheme, 0.1),
                         epochs=epochs, eval_every=11, seed=seed)
    t0 = time.perf_counter()
    result = train(config, cluster)
    wall = time.perf_counter() - t0
    s = result.summary
    return {"scheme": scheme, "params": SETTINGS.get(scheme, {}), "wall_s": wall, "accuracy": s["final_test_accuracy"],
            "bits_per_worker": s["bits_per_worker"], "bits_per_element": s["bits_per_element"],
            "sim_time_s": s["sim_time_s"], "energy_j": s["energy_j"], "sync": s["sync"],
            "rows": [r.__dict__ for r in result.rows]}


def plot(results: list[dict], path: str) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    colours = plt.cm.tab20.colors
    for i, r in enumerate(results):
        style = {"color": colours[i % len(colours)], "marker": "os^Dv<>"[i % 7], "markersize": 3}
        bits = [row["bits_up_total"] / 4 for row in r["rows"]]
        t = [row["sim_time_s"] for row in r["rows"]]
        acc = [row["test_accuracy"] for row in r["rows"]]
        a.plot(bits, acc, label=r["scheme"], **style)
        b.plot(t, acc, label=r["scheme"], **style)
    a.set(xscale="log", xlabel="bits sent per worker", ylabel="test accuracy", ylim=(0.5, 1.0))
    b.set(xscale="log", xlabel="simulated time (s)", ylabel="test accuracy", ylim=(0.5, 1.0))
    a.legend(fontsize=7, ncol=2)
    fig.suptitle("digits MLP, 4 x Jetson AGX Orin, 10 GbE switch, 20 epochs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemes", nargs="*", default=[s.name for s in schemes()])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plot", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    print(f"# {platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    print("| scheme | sync | bits/element | bits per worker | sim time s | energy J | accuracy | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for scheme in args.schemes:
        r = run(scheme, args.epochs, args.seed)
        results.append(r)
        print(f"| {scheme} | {r['sync']} | {r['bits_per_element']:.3g} | {r['bits_per_worker']:.3g} | "
              f"{r['sim_time_s']:.4g} | {r['energy_j']:.4g} | {r['accuracy']:.4f} | {r['wall_s']:.1f} |", flush=True)
    if args.plot:
        plot(results, args.plot)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
