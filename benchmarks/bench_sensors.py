"""Distributed inference where it is needed: sensor nodes on low-power radios (docs/inference.md).

    python benchmarks/bench_sensors.py --plot docs/inference_sensors.png --json out.json

The setting of ``experiments/examples/infer_digits_sensors_zigbee.yaml``: a digits MLP (64-256-256-10)
on four nRF52840 nodes (256 KiB RAM), one 4x4 quadrant of the 8x8 image each.

1. Memory per worker against the hidden width (64 to 512, two hidden layers, untrained nets of
   the same shapes: memory depends on the shapes and the kept connections, not on the values):
   the central plan's fusion node, the direct split's and RePurpose's (keep 0.05) busiest node,
   against the nRF52840's and the ESP32-S3's RAM.
2. The trained width-256 model: the direct split and RePurpose at keep 0.25 to 0.02, each priced on
   IEEE 802.15.4, BLE 1M and BLE 2M under the radio's medium access (access: mac, relayed by the
   coordinator), a batch of 8 readings: accuracy, latency and energy (all nodes; the radio's
   share) per inference = per batch / 8; the same at batch 1.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from experiments.infer_spec import load_spec
from hwmodels import load_catalog
from simulator.memory import plan_memory
from simulator.models import accuracy, build
from simulator.partition import PartitionContext, evaluate, partition

SPEC = Path(__file__).resolve().parents[1] / "experiments" / "examples" / "infer_digits_sensors_zigbee.yaml"
RADIOS = {"zigbee-2.4ghz": "802.15.4, 250 kb/s", "ble-1m": "BLE 1M", "ble-2m": "BLE 2M"}
KEEPS = (0.25, 0.1, 0.05, 0.02)
WIDTHS = (64, 128, 192, 256, 384, 512)


def memory_by_width(ctx: PartitionContext, batch: int) -> list[dict]:
    out = []
    for width in WIDTHS:
        net = build("mlp", ctx.input_shape, 10, seed=0, hidden=[width, width]).eval()
        row = {"width": width}
        for name, kw in (("central", {}), ("direct", {}), ("repurpose", {"keep": 0.05, "spread": 8})):
            need = plan_memory(partition(name, net, ctx, **kw), batch)
            row[name] = max(n.total_B for n in need)
        out.append(row)
        print(f"width {width}: " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in row.items() if k != "width"))
    return out


def priced(spec, model, data, ctx, batch: int) -> list[dict]:
    cat = load_catalog()
    plans = [("direct", None, partition("direct", model, ctx))]
    plans += [("repurpose", k, partition("repurpose", model, ctx, keep=k, spread=8)) for k in KEEPS]
    rows = []
    for radio in RADIOS:
        s = spec.model_copy(update={"wireless": spec.wireless.model_copy(update={"radio": radio}), "batch": batch})
        cluster = s.cluster(cat)
        for name, keep, plan in plans:
            ev = evaluate(plan, cluster, data.x_test, data.y_test, batch=batch)
            rows.append({"radio": radio, "batch": batch, "plan": name, "keep": keep, "accuracy": ev.accuracy,
                         "latency_s": ev.latency_s / batch, "energy_j": ev.energy_j / batch,
                         "radio_j": ev.energy_breakdown_j.get("radio", 0.0) / batch,
                         "transfers": ev.transfers_per_sample, "memory_B": max(ev.peak_memory_B_per_worker)})
            r = rows[-1]
            print(f"{radio:>14} batch {batch} {name:>9} {keep!s:>5}: acc {r['accuracy']:.4f}  "
                  f"{r['latency_s'] * 1e3:8.2f} ms  {r['energy_j'] * 1e3:7.3f} mJ (radio {r['radio_j'] * 1e3:.3f})"
                  f"  {r['transfers']:5d} transfers  {r['memory_B'] / 1024:.1f} KiB")
    return rows


def plot(memory: list[dict], rows: list[dict], original: float, path: Path) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415

    from experiments.plots import save  # noqa: PLC0415
    from experiments.style import PALETTE, log_ticks, styled  # noqa: PLC0415

    cat = load_catalog()
    with styled():
        fig, axes = plt.subplots(1, 3, figsize=(10.8, 3.2), constrained_layout=True)
        ax = axes[0]
        widths = [m["width"] for m in memory]
        for i, (name, label) in enumerate((("central", "central (fusion node)"), ("direct", "direct split"),
                                           ("repurpose", "RePurpose, keep 0.05"))):
            ax.plot(widths, [m[name] / 1024 for m in memory], marker="osD"[i], color=PALETTE[i], label=label)
        for dev, style in (("nrf52840", ":"), ("esp32-s3", "--")):
            cap = cat.device(dev).mem_capacity_B / 1024
            ax.axhline(cap, color="0.3", linestyle=style, linewidth=1)
            ax.text(widths[0], cap * 1.08, f"{dev} RAM, {cap:.0f} KiB", fontsize=7.5, color="0.25")
        ax.axvline(256, color="0.6", linewidth=0.8)
        ax.text(262, 1500, "this scenario", fontsize=7.5, color="0.35")
        ax.set_yscale("log")
        ax.set_ylim(1.2, 2500)
        ax.set_xticks(widths)
        ax.set_xlabel("hidden width w (64-w-w-10 MLP)")
        ax.set_ylabel("peak memory, busiest node (KiB)")
        ax.set_title("(a) memory against model width (batch 8)")
        ax.legend(loc="lower right")
        batch8 = [r for r in rows if r["batch"] == 8]
        for ax, key, label in ((axes[1], "latency_s", "latency per inference (ms)"),
                               (axes[2], "radio_j", "radio energy per inference, all nodes (mJ)")):
            ax.axhspan(100 * (original - 0.02), 100 * original, color="0.9", linewidth=0, zorder=0)
            ax.axhline(100 * original, color="0.35", linestyle="--", linewidth=1, zorder=1)
            for i, radio in enumerate(RADIOS):
                rp = [r for r in batch8 if r["radio"] == radio and r["plan"] == "repurpose"]
                d = next(r for r in batch8 if r["radio"] == radio and r["plan"] == "direct")
                ax.plot([r[key] * 1e3 for r in rp], [100 * r["accuracy"] for r in rp], marker="o", color=PALETTE[i])
                ax.plot([d[key] * 1e3], [100 * d["accuracy"]], marker="s", markersize=7, linestyle="none",
                        markerfacecolor="white", markeredgewidth=1.5, color=PALETTE[i])
                if radio == "zigbee-2.4ghz" and key == "latency_s":
                    for r in rp:
                        up = r["accuracy"] > original - 0.01
                        ax.annotate(f"{r['keep']:g}", (r[key] * 1e3, 100 * r["accuracy"]), textcoords="offset points",
                                    xytext=(0, 6) if up else (6, -2), ha="center" if up else "left", fontsize=7,
                                    color=PALETTE[i])
            ax.set_xscale("log")
            log_ticks(ax, "x", [r[key] * 1e3 for r in batch8])
            ax.set_ylim(95.6, 99.0)
            ax.set_xlabel(label)
            ax.set_ylabel("test accuracy (%)")
        axes[1].set_title("(b) accuracy against latency")
        axes[2].set_title("(c) accuracy against radio energy")
        handles = [Line2D([], [], color=PALETTE[i], label=RADIOS[r]) for i, r in enumerate(RADIOS)]
        handles += [Line2D([], [], color="0.2", marker="o", linestyle="none", label="RePurpose (keep)"),
                    Line2D([], [], color="0.2", marker="s", markerfacecolor="white", markersize=7, linestyle="none",
                           label="direct split"),
                    Line2D([], [], color="0.35", linestyle="--", label="unsplit model")]
        axes[1].legend(handles=handles, loc="lower right", fontsize=7)
        save(fig, path.with_suffix(""), (path.suffix.lstrip(".") or "png",))
        plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plot", type=Path, help="write the figure here (PNG)")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    spec = load_spec(SPEC)
    model, data, ctx = spec.setup()
    original = accuracy(model, data.x_test, data.y_test)
    print(f"original accuracy {original:.4f}")
    memory = memory_by_width(ctx, batch=8)
    rows = priced(spec, model, data, ctx, 8) + priced(spec, model, data, ctx, 1)
    print(f"wall {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"original_accuracy": original, "memory": memory, "rows": rows}, indent=2))
    if args.plot:
        plot(memory, rows, original, args.plot)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
