"""Sweep runner speed: a 200-point analytic collective sweep in process, on 1 and on 2 local
Dask workers, and the runner's overhead per point.

    python benchmarks/bench_sweep.py [--json]

Cluster start-up is timed apart from the sweep (the cluster is opened first). Each point is an
analytic all-reduce on a 2-D torus (the closed form needs the topology built, a few ms of work).
Overhead per point = (sweep wall time x workers - sum of the points' own wall_s) / points.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from experiments.spec import parse_experiment
from experiments.sweep import open_client, run_sweep

SPEC = {
    "name": "bench", "workload": "collective",
    "base": {"op": "allreduce", "size": "16MiB", "bandwidth": "10Gbps", "latency": "5us", "mode": "analytic",
             "topology": "torus2d"},
    "sweep": {"grid": {"workers": [16, 25, 36, 49, 64, 81, 100, 121, 144, 169],
                       "algorithm": ["ring", "direct", "binomial-tree", "double-binary-tree",
                                     "parameter-server"]}},
    "repeats": 4,
}


def run(workers: int) -> dict[str, float]:
    spec = parse_experiment(SPEC)
    t0 = time.perf_counter()
    with open_client(workers=workers) as client:
        startup = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as out:
            t1 = time.perf_counter()
            result = run_sweep(spec, out, client=client, workers=0, plots=False)
            wall = time.perf_counter() - t1
    ok = result.table
    assert result.total == 200 and result.errors == 0, ok[ok["status"] == "error"]["error"].head()
    work = float(ok["wall_s"].sum())
    return {"workers": workers, "points": result.total, "startup_s": startup, "sweep_s": wall, "point_work_s": work,
            "overhead_ms_per_point": 1e3 * (wall * max(workers, 1) - work) / result.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [run(w) for w in (0, 1, 2)]
    rows[2]["speedup_vs_1"] = rows[1]["sweep_s"] / rows[2]["sweep_s"]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| workers | points | cluster start s | sweep s | points' own s | overhead ms/point |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers'] or 'in process'} | {r['points']} | {r['startup_s']:.2f} | {r['sweep_s']:.2f} | "
              f"{r['point_work_s']:.2f} | {r['overhead_ms_per_point']:.1f} |")
    print(f"speed-up of 2 workers over 1: {rows[2]['speedup_vs_1']:.2f}x")


if __name__ == "__main__":
    main()
