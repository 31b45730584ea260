"""Benchmark the gradient compressors: encode + decode time on a ResNet-50-sized tensor, and
relative error against bits per element on Gaussian and heavy-tailed data with the bounds.

    python benchmarks/bench_compression.py                 # 25M elements, full sweep, plot
    python benchmarks/bench_compression.py --quick         # 1M elements, small sweep
    python benchmarks/bench_compression.py --plot docs/compression_rd.png --json out.json

Times are this host's wall clock with torch limited to ``--threads`` (default 2): the
best of ``--repeats`` runs after one warm-up (the least disturbed by other processes), each with a fresh compressor state (so
error-feedback schemes pay their feedback bookkeeping but start with empty memory).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from simulator.compression import State, create, schemes
from simulator.compression.bounds import gaussian_distortion, unbiased_bound
from simulator.compression.evaluate import measure, measure_factors, measure_workers, sample

# Settings swept for the error-vs-bits table: (scheme, params) with a label.
SWEEP = [
    ("fp16", {}), ("qsgd", {"levels": 1}), ("qsgd", {"levels": 4}), ("qsgd", {"levels": 16}),
    ("qsgd", {"levels": 4, "coding": "elias"}), ("terngrad", {}), ("signsgd", {}), ("ef-signsgd", {}),
    ("onebit", {}), ("topk", {"ratio": 0.01}), ("topk", {"ratio": 0.1}), ("randomk", {"ratio": 0.1}),
    ("randomk", {"ratio": 0.5}), ("dgc", {}), ("powersgd", {"rank": 1}), ("powersgd", {"rank": 8}),
    ("natural", {}), ("qcs", {}), ("qcs", {"k": 128}), ("qcs", {"levels": 3}), ("qcs", {"estimator": "mmse"}),
    ("qcs", {"k": 128, "estimator": "mmse"}), ("qcs", {"onebit": True}), ("dqsg", {}), ("dqsg", {"levels": 7}),
    ("dithered-ec", {"step": 1.1}), ("dithered-ec", {"step": 2.2}), ("dithered-ec", {"step": 1.1, "estimator": "mmse"}),
    ("dithered-ec", {"step": 2.2, "estimator": "mmse"}),
]


def throughput(elements: int, repeats: int) -> list[dict]:
    """Encode and decode seconds (best run) for every single-tensor scheme at its defaults."""
    side = int(elements**0.5)
    g = sample("gaussian", (side, elements // side), 0)
    rows = []
    for scheme in schemes("tensor"):
        compressor = create(scheme.name)
        enc, dec = [], []
        for run in range(repeats + 1):
            state = State(step=run)
            t0 = time.perf_counter()
            payload = compressor.compress(g, state)
            t1 = time.perf_counter()
            compressor.decompress(payload, state)
            t2 = time.perf_counter()
            if run:  # the first run warms up the allocator
                enc.append(t1 - t0)
                dec.append(t2 - t1)
        total = min(e + d for e, d in zip(enc, dec))
        rows.append({"scheme": scheme.name, "elements": g.numel(), "encode_s": min(enc),
                     "decode_s": min(dec), "total_s": total, "Melem_per_s": g.numel() / total / 1e6,
                     "bits_per_element": payload.bits_per_element})
        print(f"{scheme.name:11s} encode {rows[-1]['encode_s']:.3f} s  decode {rows[-1]['decode_s']:.3f} s", flush=True)
    return rows


def other_inputs(repeats: int, quick: bool) -> list[dict]:
    """NDQSG over 4 workers (server decodes all) and ISGQ on one fully connected layer."""
    elements = 2**20 if quick else 25_000_000 // 4
    batch, d_in, d_out = (32, 512, 256) if quick else (32, 2048, 1000)  # ResNet-50's classifier layer
    rows = [measure_workers("ndqsg", elements=elements, workers=4, noise=0.05, trials=repeats, seed=0),
            measure_factors("isgq", batch=batch, d_in=d_in, d_out=d_out, trials=repeats, seed=0),
            measure_factors("isgq", {"variant": "lloyd-max", "levels": 2}, batch=batch, d_in=d_in, d_out=d_out, trials=repeats, seed=0),
            measure_factors("isgq", {"variant": "lloyd-max", "levels": 2, "refit": False}, batch=batch, d_in=d_in, d_out=d_out,
                            trials=repeats, seed=0),
            measure_factors("isgq", {"coding": "ans"}, batch=batch, d_in=d_in, d_out=d_out, trials=repeats, seed=0),
            measure_factors("isgq", {"variant": "lloyd-max", "levels": 2, "coding": "ans"}, batch=batch, d_in=d_in,
                            d_out=d_out, trials=repeats, seed=0)]
    for row in rows:
        print(f"{row['scheme']:11s} encode {row['encode_s']:.3f} s  decode {row['decode_s']:.3f} s", flush=True)
    return rows


def _shown(params: dict) -> dict:
    """The parameters that tell the other-input rows apart: the variant, refit when off, coding when ans."""
    return {k: v for k, v in params.items() if k == "variant" or (k == "refit" and not v and params.get("variant") == "lloyd-max")
            or (k == "coding" and v == "ans")}


def _label(scheme: str, params: dict) -> str:
    return scheme + ("(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")


def error_sweep(elements: int, trials: int) -> list[dict]:
    """Relative error and bits per element of every SWEEP setting on both distributions."""
    rows = []
    for distribution in ("gaussian", "heavy-tailed"):
        for scheme, params in SWEEP:
            row = measure(scheme, params, elements=elements, rows=256, distribution=distribution, trials=trials, seed=1)
            row["label"] = _label(scheme, params)
            row["unbiased_bound"] = unbiased_bound(row["bits_per_element"])
            rows.append(row)
    return rows


def plot(rows: list[dict], path: str) -> None:
    """Relative error vs bits per element, one panel per distribution, bounds drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    rate = np.linspace(0.005, 17, 400)
    families = sorted({r["scheme"] for r in rows})
    markers = dict(zip(families, "o^sv<>DpP*Xhd8H"))
    for ax, distribution in zip(axes, ("gaussian", "heavy-tailed")):
        ax.plot(rate, [gaussian_distortion(r) for r in rate], "k-", lw=1.2, label="Gaussian D(R) = 2^-2R")
        ax.plot(rate, [unbiased_bound(r) for r in rate], "k--", lw=1.0, label="unbiased bound 1/(2^2R - 1)")
        for family in families:
            pts = [r for r in rows if r["distribution"] == distribution and r["scheme"] == family]
            ax.scatter([p["bits_per_element"] for p in pts], [max(p["relative_error"], 1e-12) for p in pts],
                       marker=markers[family], s=28, label=family)
        ax.set(xscale="log", yscale="log", xlim=(0.005, 20), ylim=(1e-9, 300), xlabel="bits per element",
               title=f"{distribution} data")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("relative error ||g_hat - g||^2 / ||g||^2")
    axes[1].legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M elements and a 16K-element sweep")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plot", default=None, help="write the error-vs-bits plot here (PNG)")
    parser.add_argument("--json", default=None, help="write all rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    speed = throughput(2**20 if args.quick else 25_000_000, args.repeats)
    others = other_inputs(args.repeats, args.quick)
    sweep = error_sweep(2**14 if args.quick else 2**16, 3 if args.quick else 5)
    print("\n| scheme | encode s | decode s | total s | M elem/s | bits/elem |\n|---|---|---|---|---|---|")
    for r in speed:
        print(f"| {r['scheme']} | {r['encode_s']:.3f} | {r['decode_s']:.3f} | {r['total_s']:.3f} | {r['Melem_per_s']:.1f} | {r['bits_per_element']:.4g} |")
    print("\n| scheme | input | encode s | decode s | bits/elem | relative error | D(R) |\n|---|---|---|---|---|---|---|")
    for r in others:
        shape = f"{r['workers']} workers x {r['elements']}" if "workers" in r else f"B={r['batch']}, {r['d_in']} x {r['d_out']}"
        print(f"| {_label(r['scheme'], _shown(r['params']))} | {shape} | {r['encode_s']:.3f} | "
              f"{r['decode_s']:.3f} | {r['bits_per_element']:.4g} | {r['relative_error']:.4g} | {r['rd_bound']:.3g} |")
    print("\n| setting | data | bits/elem | relative error | D(R) | unbiased bound | claims unbiased |\n|---|---|---|---|---|---|---|")
    for r in sweep:
        print(f"| {r['label']} | {r['distribution']} | {r['bits_per_element']:.4g} | {r['relative_error']:.4g} | "
              f"{r['rd_bound']:.3g} | {r['unbiased_bound']:.3g} | {'yes' if r['unbiased'] else 'no'} |")
    print(f"\nhost: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    if args.plot:
        plot(sweep, args.plot)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"throughput": speed, "other_inputs": others, "sweep": sweep}, handle, indent=1)


if __name__ == "__main__":
    main()
