"""Benchmark partitioned inference, RePurpose-style restructuring and the optimiser
(Net-Trim has its own: ``benchmarks/bench_nettrim.py``).

    python benchmarks/bench_partition.py --json out.json            # every section
    python benchmarks/bench_partition.py --only digits bits

Sections: ``digits`` (MLP 64-128-128-10, 4 workers owning the image quadrants, every partitioner
at every budget: accuracy against transfers per sample), ``mnist1d`` (the 1-D CNN on 4 and 8
workers owning signal segments), ``resnet`` (ResNet-8 on the digits: residual blocks, coupled
assignments), ``bits`` (accuracy against activation bits, values quantised in transit),
``optimiser`` (wall time of the optimiser for a 784-1024-1024-10 MLP on the digits upsampled to
28 x 28, 8 workers). The digits, MNIST-1D and ResNet models are trained once and cached
(``simulator.models.trained``); the 784-wide net is trained here (seeded).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from hwmodels import load_catalog
from simulator.cluster import Cluster
from simulator.data import load
from simulator.models import accuracy, build, trained
from simulator.network import Topology
from simulator.partition import OptimiserConfig, PartitionContext, Target, optimise, partition, sensor_owner

KEEPS = (1.0, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05)


def _sweep(net, ds, ctx, names, keeps) -> list[dict]:
    rows = []
    for name in names:
        grid = [dict(keep=k) for k in keeps] if name in ("sparse", "graphcut", "repurpose") else [{}]
        if name == "sparse":
            grid += [dict(keep=k, refit="none") for k in keeps]
        if name == "repurpose":  # both support rules, whichever is the default
            grid = [dict(keep=k, support=sup) for sup in ("ls", "score") for k in keeps]
        if name == "distill":  # students' hidden widths: the last one sets the transfers
            grid = [dict(hidden=h) for h in ([32, 4], [32, 8], [32, 16], [64, 32], [128, 64])]
        for params in grid:
            t0 = time.perf_counter()
            plan = partition(name, net, ctx, **params)
            rows.append({"partitioner": name, **params, "transfers": plan.transfers_per_sample(),
                         "values": plan.values_per_sample(), "accuracy": accuracy(plan.to_torch(), ds.x_test, ds.y_test),
                         "plan_s": time.perf_counter() - t0})
    return rows


def digits() -> dict:
    ds = load("digits", seed=0)
    net = trained("mlp", "digits", seed=0, epochs=30, model_params={"hidden": [128, 128]})
    ctx = PartitionContext(4, sensor_owner("quadrants", ds.input_shape, 4), ds.x_train)
    rows = _sweep(net, ds, ctx, ["central", "direct", "pipeline", "graphcut", "sparse", "repurpose", "distill"], KEEPS)
    for keep in ([0, 0, 0.125], [0, 0, 0.25], [0, 0, 0.5], 0.05, 0.1, 0.25):  # per-layer budgets, then distillation
        for finetune in (0, 20):
            t0 = time.perf_counter()
            plan = partition("repurpose", net, ctx, keep=keep, finetune=finetune)
            rows.append({"partitioner": "repurpose", "keep": keep, "finetune": finetune,
                         "transfers": plan.transfers_per_sample(), "values": plan.values_per_sample(),
                         "accuracy": accuracy(plan.to_torch(), ds.x_test, ds.y_test),
                         "plan_s": time.perf_counter() - t0})
    return {"original_accuracy": accuracy(net, ds.x_test, ds.y_test), "rows": rows}


def mnist1d() -> dict:
    ds = load("mnist1d", seed=0)
    net = trained("cnn1d", "mnist1d", seed=0, epochs=20)
    out = {"original_accuracy": accuracy(net, ds.x_test, ds.y_test)}
    for k in (4, 8):
        ctx = PartitionContext(k, sensor_owner("segments", ds.input_shape, k), ds.x_train[:2000])
        out[f"workers_{k}"] = _sweep(net, ds, ctx, ["central", "direct", "pipeline", "graphcut", "sparse", "repurpose",
                                                    "distill"], (1.0, 0.5, 0.25, 0.1))
    return out


def resnet() -> dict:
    """ResNet-8 (width 16, BatchNorm folded, identity and 1x1 shortcuts) on the digits, 4 quadrant workers."""
    ds = load("digits", seed=0)
    t0 = time.perf_counter()
    net = trained("resnet8", "digits", seed=0, epochs=15)
    ctx = PartitionContext(4, sensor_owner("quadrants", ds.input_shape, 4), ds.x_train)
    return {"original_accuracy": accuracy(net, ds.x_test, ds.y_test), "train_or_load_s": time.perf_counter() - t0,
            "rows": _sweep(net, ds, ctx, ["central", "direct", "pipeline", "graphcut", "sparse", "repurpose", "distill"],
                           (1.0, 0.5, 0.25, 0.1))}


def bits() -> dict:
    """Accuracy against activation bits (values crossing workers quantised in transit), digits MLP, 4 workers."""
    ds = load("digits", seed=0)
    net = trained("mlp", "digits", seed=0, epochs=30, model_params={"hidden": [128, 128]})
    ctx = PartitionContext(4, sensor_owner("quadrants", ds.input_shape, 4), ds.x_train)
    rows = []
    for name, params in (("central", {}), ("direct", {}), ("repurpose", {"keep": 0.25}), ("repurpose", {"keep": 0.1})):
        plan = partition(name, net, ctx, **params)
        for b in (32, 16, 8, 6, 4, 3, 2):
            rows.append({"partitioner": name, **params, "activation_bits": b, "transfers": plan.transfers_per_sample(),
                         "bits_per_sample": plan.values_per_sample() * b,
                         "accuracy": accuracy(plan.to_torch(b), ds.x_test, ds.y_test)})
    return {"rows": rows}


def optimiser_wall() -> dict:
    """784-1024-1024-10 MLP on the digits upsampled to 28 x 28, 8 workers owning a 2 x 4 grid of tiles."""
    ds = load("digits", seed=0)
    up = lambda x: torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)  # noqa: E731
    x, xt = up(ds.x_train), up(ds.x_test)
    net = build("mlp", (1, 28, 28), 10, seed=0, hidden=[1024, 1024])
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(8):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), ds.y_train[idx]).backward()
            opt.step()
    train_s = time.perf_counter() - t0
    cat = load_catalog()
    cluster = Cluster(Topology.switch(8, cat.link("eth-1g")), cat.device("jetson-orin-nano-8gb"))
    ctx = PartitionContext(8, sensor_owner("quadrants", (1, 28, 28), 8), x)
    res = optimise(net, ctx, cluster, xt, ds.y_test, OptimiserConfig(target=Target(max_accuracy_drop=0.02),
                   baselines=("central", "direct", "pipeline", "sparse"), batch=32))
    return {"train_s": train_s, "wall_s": res.wall_s, "candidates": len(res.candidates),
            "original_accuracy": res.original_accuracy, "chosen": res.chosen.row(),
            "rows": [(e.partitioner, e.params.get("keep"), e.accuracy, e.transfers_per_sample, e.latency_s)
                     for e in res.candidates],
            "pareto": [(e.partitioner, e.params.get("keep"), e.accuracy, e.latency_s) for e in res.pareto]}


SECTIONS = {"digits": digits, "mnist1d": mnist1d, "resnet": resnet, "bits": bits, "optimiser": optimiser_wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(SECTIONS), default=list(SECTIONS))
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    out = {"host": platform.machine(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.only:
        t0 = time.perf_counter()
        out[name] = SECTIONS[name]()
        out[name]["section_s"] = time.perf_counter() - t0
        print(f"{name}: done in {out[name]['section_s']:.1f} s", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
