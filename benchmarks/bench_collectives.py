"""Benchmark the collectives: DES of a 1 GiB ring all-reduce on a switch (uniform and with
one straggler), and the closed forms at 100,000 workers.

    python benchmarks/bench_collectives.py                    # 1,024, 4,096 and 16,384 workers
    python benchmarks/bench_collectives.py --quick            # 256 and 1,024 workers
    python benchmarks/bench_collectives.py --straggler 10     # also: one rank reducing 10x slower
    python benchmarks/bench_collectives.py --events ...       # force the event-driven path
    python benchmarks/bench_collectives.py --repeat 3 ...     # medians of 3 runs

Each DES run is a fresh subprocess, so its peak memory (ru_maxrss, the whole process:
interpreter, numpy, scipy, networkx, simulation) is its own. The uniform run prices no
reduction (gamma = 0), as ASTRA-sim's "clean" configuration; the straggler pair prices
every rank's reduction on an A100's memory roofline and makes rank 0 that many times
slower, and compares it with the same run without the straggler. For reference,
ASTRA-sim's analytical backend takes 2.8 s (1,024 NPUs) and 71 s / 5.5 GB (4,096 NPUs)
for the uniform all-reduce without bandwidth sharing (spec, network.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

GiB = 2**30


def des_point(p: int, slowdown: float = 0.0, fast: bool = True) -> dict:
    """One DES run in this process: wall time, peak RSS, and the check against the closed form.

    ``slowdown`` 0: no reduction cost; otherwise every rank reduces at an A100's roofline
    and rank 0 ``slowdown`` times slower (1: no straggler).
    """
    import numpy as np

    from hwmodels import LinkSpec, load_catalog
    from simulator.collectives import NetParams, analytic_time, build_program, reduction_gamma
    from simulator.collectives.des import CollectiveRun
    from simulator.engine import Simulation
    from simulator.network import FlowNetwork, Topology

    link = LinkSpec("bench", bandwidth_Bps=50 * GiB, latency_s=500e-9)
    gamma = np.zeros(p)
    if slowdown:
        gamma[:] = reduction_gamma(load_catalog().device("a100-sxm4-80gb"))
        gamma[0] *= slowdown
    t0 = time.perf_counter()
    topo = Topology.switch(p, link)
    program = build_program("allreduce", "ring", p, GiB)
    sim = Simulation(trace=False)
    net = FlowNetwork(sim, topo, record_flows=False)
    run = CollectiveRun(net, program, gamma_s_per_B=gamma, fast=fast)
    t1 = time.perf_counter()
    run.start()
    sim.run()
    t2 = time.perf_counter()
    net_params = NetParams.for_link(link, hops=2, gamma_s_per_B=float(gamma.max()))
    analytic = analytic_time("allreduce", "ring", p, GiB, net_params)
    return {"workers": p, "slowdown": slowdown, "replayed": run.replayed, "steps": program.num_steps,
            "messages": run.messages_started, "setup_s": t1 - t0, "des_wall_s": t2 - t1, "simulated_s": run.time_s,
            "analytic_s": analytic, "rel_diff": abs(run.time_s - analytic) / analytic,
            "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def analytic_point(p: int = 100_000, reps: int = 2000) -> list[dict]:
    """Time per closed-form call for every registered pair at ``p`` workers."""
    from simulator.collectives import NetParams, analytic_time, pairs

    net = NetParams(500e-9, 1 / (50 * GiB))
    rows = []
    for op, alg in pairs():
        q = 131_072 if "doubling" in alg else p
        kw = {"chunks": 64} if alg == "double-binary-tree" else {}
        analytic_time(op, alg, q, GiB, net, **kw)
        t0 = time.perf_counter()
        for _ in range(reps):
            analytic_time(op, alg, q, GiB, net, **kw)
        rows.append({"op": op, "algorithm": alg, "workers": q, "us_per_call": (time.perf_counter() - t0) / reps * 1e6})
    return rows


def run_point(p: int, slowdown: float, fast: bool, repeat: int) -> dict:
    """``repeat`` fresh-process runs; the row of the median wall time (and the max RSS)."""
    rows = []
    for _ in range(repeat):
        cmd = [sys.executable, __file__, "--point", str(p), "--slowdown", str(slowdown)] + ([] if fast else ["--events"])
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    walls = [r["des_wall_s"] for r in rows]
    row = sorted(rows, key=lambda r: r["des_wall_s"])[len(rows) // 2]
    row.update(walls_s=walls, median_wall_s=statistics.median(walls), peak_rss_MB=max(r["peak_rss_MB"] for r in rows))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 and 1,024 workers")
    parser.add_argument("--sizes", type=int, nargs="+", help="worker counts (default 1,024 4,096 16,384)")
    parser.add_argument("--straggler", type=float, metavar="FACTOR", help="also run rank 0 FACTOR times slower")
    parser.add_argument("--events", action="store_true", help="force the event-driven path (no max-plus replay)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per point; medians are reported")
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--slowdown", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        print(json.dumps(des_point(args.point, args.slowdown, fast=not args.events)))
        return
    sizes = args.sizes or ((256, 1024) if args.quick else (1024, 4096, 16384))
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}, {'event-driven' if args.events else 'default'} path, "
          f"median of {args.repeat}")
    print("workers  reduce     steps  messages     DES wall (s)  runs (s)             peak RSS (MB)  simulated (s)  "
          "|DES-analytic|/analytic")
    cases = [(p, 0.0) for p in sizes]
    if args.straggler:
        cases = [(p, s) for p in sizes for s in (0.0, 1.0, args.straggler)]
    for p, s in cases:
        row = run_point(p, s, not args.events, args.repeat)
        label = "free" if not s else ("uniform" if s == 1 else f"rank0 x{s:g}")
        runs = " ".join(f"{w:.2f}" for w in row["walls_s"])
        print(f"{row['workers']:7d}  {label:9s} {row['steps']:6d}  {row['messages']:11d}  {row['median_wall_s']:12.3f}  "
              f"{runs:20s} {row['peak_rss_MB']:13.0f}  {row['simulated_s']:.9f}    {row['rel_diff']:.1e}")
    if not args.sizes and not args.straggler:
        rows = analytic_point()
        worst = max(rows, key=lambda r: r["us_per_call"])
        mean = sum(r["us_per_call"] for r in rows) / len(rows)
        print(f"analytic, 100,000 workers ({len(rows)} op/algorithm pairs): mean {mean:.1f} us per call, "
              f"slowest {worst['op']}/{worst['algorithm']} {worst['us_per_call']:.1f} us")


if __name__ == "__main__":
    main()
