"""Measure the validation configurations for real on this host: gloo processes on 127.0.0.1.

    python benchmarks/bench_measured.py --quick                       # the quick set, ~1 min
    python benchmarks/bench_measured.py --out measured.parquet --markdown

Every configuration of ``experiments/measure/validation.yaml`` (calibration and held-out) runs
as a real multi-process job (:mod:`experiments.measure`): median of repeated timings after
warm-up, the interquartile range as the spread. The load average before and after is printed:
other programs on the machine slow every number down, so measure when it is idle.
``ddlsim --catalog host.yaml validate`` measures the same configurations and sets each beside
its simulation on the calibrated entries (docs/validation.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import pandas as pd

from experiments.measure.cases import load_cases, measure_cases, measured_table


def _markdown(table: pd.DataFrame) -> str:
    """Rows of the docs' table: split, kind, configuration, median and spread in ms."""
    def describe(row: pd.Series) -> str:
        if row["kind"] in ("p2p", "collective"):
            return f"{row['op']} p={row['world']:.0f} {row['size_B'] / 2**10:.0f} KiB"
        params = f"({row['compressor_params']})" if row["compressor_params"] else ""
        return (f"{row['model']}/{row['data']} K={row['workers']:.0f} b={row['batch_size']:.0f} "
                f"{row['compressor']}{params} overlap={'on' if row['overlap'] else 'off'}")

    lines = ["| split | kind | configuration | measured (ms) | IQR (ms) | repeats |", "| --- | --- | --- | ---: | ---: | ---: |"]
    for _, row in table.iterrows():
        lines.append(f"| {row['split']} | {row['kind']} | {describe(row)} | {1e3 * row['measured_s']:.3f} | "
                     f"{1e3 * row['spread_s']:.3f} | {row['repeats']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick configurations")
    parser.add_argument("--out", help="write the tidy table here (.parquet or .csv)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    cases = load_cases(args.quick)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    measurements = measure_cases(cases.all(), quick=args.quick,
                                 progress=lambda done, total: print(f"  group {done}/{total}", flush=True))
    wall = time.perf_counter() - t0
    table = pd.DataFrame(measured_table(cases, measurements))
    print(f"{platform.node()} ({os.cpu_count()} cores), {len(table)} measurements in {wall:.0f} s; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    if args.out:
        table.drop(columns=["bucket_sizes_B"], errors="ignore").assign(
            bucket_sizes_B=table.get("bucket_sizes_B", pd.Series(dtype=object)).map(
                lambda v: ",".join(map(str, v)) if isinstance(v, tuple) else "")
        ).pipe(lambda t: t.to_csv(args.out, index=False) if args.out.endswith(".csv") else t.to_parquet(args.out))
    if args.markdown:
        print(_markdown(table))


if __name__ == "__main__":
    main()
