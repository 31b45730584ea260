"""Benchmark federated learning over a wireless MAC (docs/benchmarks.md).

    python benchmarks/bench_fl.py --plot docs/fl_airtime.png --json out.json
    python benchmarks/bench_fl.py --rounds 20 --schemes ideal baa

1. Wall time of 100 clients, digits MLP (9,610 parameters), non-IID (Dirichlet 0.5), 5 local
   steps of batch 16, ``--rounds`` rounds, per scheme, on an LTE uplink in a UMi street canyon;
   final accuracy, simulated airtime and energy.
2. Airtime of one round against the number of devices (10 to 1,000), one update of d = 9,610
   entries per device: analog over the air (d + 1 channel uses, whatever K) against TDMA of
   the fp32 update and of its QSGD payload at each device's Shannon rate (grows with K); the
   median over 20 fading draws (under Rayleigh fading the expected TDMA time at the Shannon
   rate is infinite: E[1 / log2(1 + SNR |h|^2)] diverges at |h| -> 0).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from hwmodels import load_catalog
from hwmodels.channel import Channel
from hwmodels.placement import place
from simulator.compression import State, create
from simulator.engine import Simulation
from simulator.federated import FLConfig, run_federated
from simulator.network.wireless import create_mac

SCHEMES = {"ideal": ({}, {}), "digital-tdma": ({"compressor": "qsgd"}, {"access": "tdma"}),
           "digital-ofdma": ({"compressor": "qsgd"}, {"access": "ofdma"}), "baa": ({"threshold": 0.1}, {}),
           "cotaf": ({}, {}), "rlc": ({"channel_uses": 2400}, {})}
CHANNEL = Channel("umi-nlos")
D = 9610
ROUNDS = 20   # fading draws per point; airtime is their median (TDMA's mean is dominated by deep fades)


def run(scheme: str, rounds: int, clients: int = 100) -> dict:
    cat = load_catalog()
    params, mac = SCHEMES[scheme]
    cfg = FLConfig(clients=clients, rounds=rounds, local_steps=5, batch_size=16, lr=0.1, eval_every=max(rounds // 10, 1),
                   scheme=scheme.split("-")[0], scheme_params=params, mac_params=mac)
    d = place("disc", clients, np.random.default_rng(0), radius_m=200, min_distance_m=10)
    t0 = time.perf_counter()
    res = run_federated(cfg, cat.device("raspberry-pi-4b-4gb"), cat.radio("lte-20mhz-ue"), CHANNEL, d)
    s = res.summary
    return {"scheme": scheme, "wall_s": time.perf_counter() - t0, "accuracy": s["final_test_accuracy"],
            "airtime_s": s["airtime_s"], "energy_j": s["energy_j"], "tx_energy_j": s["tx_energy_j"],
            "rows": [r.__dict__ for r in res.rows]}


def airtime(devices: list[int]) -> list[dict]:
    radio = load_catalog().radio("lte-20mhz-ue")
    g = torch.randn(D, generator=torch.Generator().manual_seed(0))
    qsgd_bits = create("qsgd").compress(g, State()).nbits
    out = []
    for k in devices:
        d = place("disc", k, np.random.default_rng(k), radius_m=200, min_distance_m=10)
        sim = Simulation(k)
        analog = create_mac("analog", sim, radio, CHANNEL, d)
        tdma = create_mac("tdma", sim, radio, CHANNEL, d, key=1)
        a = [analog.superpose(torch.ones(k, D), r, "truncated", extra_uses=1).airtime_s for r in range(ROUNDS)]
        fp32 = [tdma.upload(np.full(k, 32.0 * D), r).airtime_s for r in range(ROUNDS)]
        qsgd = [tdma.upload(np.full(k, float(qsgd_bits)), r).airtime_s for r in range(ROUNDS)]
        out.append({"devices": k, "analog_s": float(np.median(a)), "tdma_fp32_s": float(np.median(fp32)),
                    "tdma_qsgd_s": float(np.median(qsgd)), "tdma_fp32_mean_s": float(np.mean(fp32)), "qsgd_bits": qsgd_bits})
    return out


def plot(rows: list[dict], path: str) -> None:
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    k = [r["devices"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(k, [r["tdma_fp32_s"] for r in rows], "o-", label="TDMA, fp32 update")
    ax.loglog(k, [r["tdma_qsgd_s"] for r in rows], "s-", label="TDMA, QSGD update")
    ax.loglog(k, [r["analog_s"] for r in rows], "^-", label="analog over the air (BAA)")
    ax.set_xlabel("devices K")
    ax.set_ylabel("airtime per round (s, median of 20 draws)")
    ax.set_title(f"one round, d = {D}, LTE 20 MHz uplink, UMi NLOS")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--schemes", nargs="*", default=list(SCHEMES))
    ap.add_argument("--devices", type=int, nargs="*", default=[10, 30, 100, 300, 1000])
    ap.add_argument("--plot")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"host: {platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    runs = []
    print(f"{'scheme':<14} {'wall s':>7} {'accuracy':>8} {'airtime s':>10} {'energy J':>9} {'tx J':>9}")
    for s in args.schemes:
        r = run(s, args.rounds)
        runs.append(r)
        print(f"{s:<14} {r['wall_s']:>7.1f} {r['accuracy']:>8.4f} {r['airtime_s']:>10.4g} {r['energy_j']:>9.4g} {r['tx_energy_j']:>9.4g}")
    rows = airtime(args.devices)
    print(f"{'devices':>7} {'analog s':>10} {'TDMA fp32 s':>12} {'TDMA qsgd s':>12} {'fp32 mean s':>12}")
    for r in rows:
        print(f"{r['devices']:>7} {r['analog_s']:>10.4g} {r['tdma_fp32_s']:>12.4g} {r['tdma_qsgd_s']:>12.4g} "
              f"{r['tdma_fp32_mean_s']:>12.4g}")
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"runs": runs, "airtime": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
