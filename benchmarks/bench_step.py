"""Benchmark one training step's simulated time and energy: LeNet-5 and ResNet-8 on 8 Jetson Orin
Nano over 1 GbE (a switch) and over a Wi-Fi 6 cell, for none, qsgd, topk, powersgd and qcs, with
DDP-style overlap and without.

    python benchmarks/bench_step.py --json out.json
    python benchmarks/bench_step.py --models lenet5 --links eth-1g --steps 2

Each configuration trains ``--steps`` real steps on the digits (batch 32 per worker, seed 0) and
reports the mean simulated time per step and the energy per step by kind (compute, idle, link,
radio), as the executor priced them from the catalog. ``--bucket-cap`` sets DDP's bucket size:
the default 25 MiB (first bucket 1 MiB) gives these small models one or two buckets; a smaller
cap shows more overlap.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from hwmodels import ENERGY_KINDS, load_catalog, units
from simulator.cluster import Cluster
from simulator.learning import TrainConfig, train
from simulator.network import Topology
from simulator.network.media import MacCell

SCHEMES = {"none": {}, "qsgd": {"levels": 4}, "topk": {"ratio": 0.01}, "powersgd": {"rank": 2},
           "qcs": {"bucket": 256, "levels": 1}}
DEVICE = "jetson-orin-nano-8gb"
WORKERS = 8


def cluster(link: str) -> Cluster:
    catalog = load_catalog()
    device = catalog.device(DEVICE)
    if link.startswith("wifi"):
        hosts = tuple(f"h{k}" for k in range(WORKERS))
        return Cluster(None, device, hosts_=hosts, medium=MacCell(catalog.radio(link), WORKERS))
    return Cluster(Topology.switch(WORKERS, catalog.link(link)), device)


def run(model: str, link: str, scheme: str, overlap: str, steps: int, cap_B: float, first_B: float) -> dict:
    config = TrainConfig(model=model, data="digits", workers=WORKERS, batch_size=32, compressor=scheme,
                         compressor_params=SCHEMES[scheme], steps=steps, seed=0, overlap=overlap,
                         bucket_cap_B=cap_B, first_bucket_B=first_B)
    t0 = time.perf_counter()
    s = train(config, cluster(link)).summary
    per_step = {k: v / steps for k, v in s["energy_breakdown_j"].items()}
    return {"model": model, "link": link, "compressor": scheme, "overlap": overlap, "buckets": s["buckets"],
            "step_time_s": s["step_time_s"], "energy_j_per_step": s["energy_j"] / steps, **{f"{k}_j": per_step[k]
                                                                                           for k in ENERGY_KINDS},
            "wire_bits_per_worker_per_step": s["wire_bits_per_worker"] / steps, "sync": s["sync"],
            "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet5", "resnet8"])
    ap.add_argument("--links", nargs="+", default=["eth-1g", "wifi6-80mhz"])
    ap.add_argument("--schemes", nargs="+", default=list(SCHEMES))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--bucket-cap", default="25MiB")
    ap.add_argument("--first-bucket", default="1MiB")
    ap.add_argument("--json")
    args = ap.parse_args()
    cap, first = units.parse(args.bucket_cap, "size"), units.parse(args.first_bucket, "size")
    rows = [run(m, link, s, o, args.steps, cap, first) for m in args.models for link in args.links
            for s in args.schemes for o in ("ddp", "none")]
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{WORKERS} x {DEVICE}, buckets {args.bucket_cap} (first {args.first_bucket})")
    print("| model | link | compressor | overlap | buckets | step (ms) | energy/step (mJ) | compute | idle | link | "
          "radio | wire kbit/worker |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['link']} | {r['compressor']} | {r['overlap']} | {r['buckets']} | "
              f"{1e3 * r['step_time_s']:.3f} | {1e3 * r['energy_j_per_step']:.3f} | {1e3 * r['compute_j']:.3f} | "
              f"{1e3 * r['idle_j']:.3f} | {1e3 * r['link_j']:.3f} | {1e3 * r['radio_j']:.3f} | "
              f"{r['wire_bits_per_worker_per_step'] / 1e3:.1f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
