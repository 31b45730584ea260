"""Medium-access overhead tables and the Bianchi check for docs/wireless.md.

    python benchmarks/bench_mac.py --plot docs/dcf_bianchi.png

1. Goodput (payload bit/s the medium delivers) of every built-in MAC profile for 1, 5, 10
   and 20 saturated stations and a few message sizes, from ``hwmodels.mac.goodput_bps``.
2. Bianchi's saturated throughput (FHSS parameters of his Table II, W = 32, m = 3, basic
   access and RTS/CTS) against the slot-level simulation ``hwmodels.dcf.simulate_dcf``
   (200,000 transmissions per point, seed = N), with the relative error.
Everything is simulated time: no host timing enters a number, so the output is the same on
any machine.
"""

from __future__ import annotations

import argparse

import numpy as np

from hwmodels import mac
from hwmodels.dcf import BIANCHI_FHSS_BACKOFF, bianchi, bianchi_fhss_timing, saturation_throughput_bps, simulate_dcf

STATIONS = (1, 5, 10, 20)
SIZES_B = (64, 1500, 65_536, 4 << 20)


def _rate(bps: float) -> str:
    return f"{bps / 1e6:.2f} Mb/s" if bps >= 1e6 else f"{bps / 1e3:.1f} kb/s"


def goodput_table() -> str:
    head = "| profile | message | " + " | ".join(f"N = {n}" for n in STATIONS) + " |"
    lines = [head, "|" + " --- |" * (2 + len(STATIONS))]
    for name, profile in mac.MAC_PROFILES.items():
        for size in SIZES_B:
            cells = [_rate(mac.goodput_bps(profile, size, n)) for n in STATIONS]
            lines.append(f"| `{name}` | {size:,} B | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bianchi_rows(stations=(1, 2, 5, 10, 15, 20, 30, 50)) -> list[dict]:
    rows = []
    for rts in (False, True):
        timing = bianchi_fhss_timing(rts_cts=rts)
        for n in stations:
            model = saturation_throughput_bps(n, BIANCHI_FHSS_BACKOFF, timing)
            sim = simulate_dcf(n, BIANCHI_FHSS_BACKOFF, timing, np.random.default_rng(n), transmissions=200_000)
            rows.append({"access": "RTS/CTS" if rts else "basic", "stations": n, "model": model,
                         "simulated": sim.throughput_bps, "p_model": bianchi(n, BIANCHI_FHSS_BACKOFF).p,
                         "p_simulated": sim.collision_probability})
    return rows


def bianchi_table(rows: list[dict]) -> str:
    lines = ["| access | N | S, Bianchi | S, simulated | error | p, Bianchi | p, simulated |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        err = 100 * (r["simulated"] / r["model"] - 1)
        lines.append(f"| {r['access']} | {r['stations']} | {r['model'] / 1e6:.4f} | {r['simulated'] / 1e6:.4f} | "
                     f"{err:+.2f} % | {r['p_model']:.4f} | {r['p_simulated']:.4f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=150)
    for access, color in (("basic", "C0"), ("RTS/CTS", "C1")):
        sel = [r for r in rows if r["access"] == access]
        n = [r["stations"] for r in sel]
        ax.plot(n, [r["model"] / 1e6 for r in sel], color=color, label=f"{access}: Bianchi's model")
        ax.plot(n, [r["simulated"] / 1e6 for r in sel], "o", color=color, mfc="none",
                label=f"{access}: slot-level simulation")
    ax.set_xlabel("saturated stations N")
    ax.set_ylabel("throughput S (share of channel time\ncarrying payload)")
    ax.set_title("802.11 DCF, Bianchi (2000) FHSS parameters, W = 32, m = 3", fontsize=10)
    ax.set_ylim(0.5, 0.9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot", help="write the Bianchi-vs-simulation figure here (PNG)")
    args = parser.parse_args()
    print(goodput_table())
    rows = bianchi_rows()
    print()
    print(bianchi_table(rows))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
