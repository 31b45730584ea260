"""Benchmark the collectives: DES of a 1 GiB ring all-reduce on a switch, and the
closed forms at 100,000 workers.

    python benchmarks/bench_collectives.py            # 1,024 and 4,096 workers
    python benchmarks/bench_collectives.py --quick    # 256 and 1,024 workers
    python benchmarks/bench_collectives.py --straggler 256   # one rank reduces 100x slower

Each DES size runs in a fresh subprocess so that its peak memory (ru_maxrss, the
whole process: interpreter, numpy, simulation) is its own. For reference, ASTRA-sim's
analytical backend takes 2.8 s (1,024 NPUs) and 71 s / 5.5 GB (4,096 NPUs) for the
same all-reduce without bandwidth sharing (spec, network.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

GiB = 2**30


def des_point(p: int, straggler: bool = False) -> dict:
    """One DES run in this process: wall time, peak RSS, and the check against the closed form.

    With ``straggler``, rank 0 reduces at 1e-10 s/B and the others at 1e-12 s/B, so ranks
    fall out of step and messages finish at distinct instants (the DES's slow case).
    """
    import numpy as np

    from hwmodels import LinkSpec
    from simulator.collectives import NetParams, analytic_time, build_program, simulate
    from simulator.network import Topology

    link = LinkSpec("bench", bandwidth_Bps=50 * GiB, latency_s=500e-9)
    t0 = time.perf_counter()
    topo = Topology.switch(p, link)
    program = build_program("allreduce", "ring", p, GiB)
    t1 = time.perf_counter()
    gamma = np.full(p, 1e-12) if straggler else 0.0
    if straggler:
        gamma[0] = 1e-10
    result = simulate(program, topo, trace=False, gamma_s_per_B=gamma)
    t2 = time.perf_counter()
    analytic = analytic_time("allreduce", "ring", p, GiB, NetParams.for_link(link, hops=2))
    return {"workers": p, "steps": program.num_steps, "messages": result.messages, "setup_s": t1 - t0,
            "des_wall_s": t2 - t1, "simulated_s": result.time_s, "analytic_s": analytic,
            "rel_diff": abs(result.time_s - analytic) / analytic,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 and 1,024 workers instead of 1,024 and 4,096")
    parser.add_argument("--straggler", type=int, metavar="P", help="only the straggler case at P workers")
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point or args.straggler:
        row = des_point(args.point or args.straggler, straggler=bool(args.straggler))
        print(json.dumps(row))
        return
    sizes = (256, 1024) if args.quick else (1024, 4096)
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("workers  steps  messages     DES wall (s)  peak RSS (MB)  simulated (s)  |DES-analytic|/analytic")
    for p in sizes:
        out = subprocess.run([sys.executable, __file__, "--point", str(p)], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout)
        print(f"{row['workers']:7d}  {row['steps']:5d}  {row['messages']:11d}  {row['des_wall_s']:12.2f}  "
              f"{row['peak_rss_MB']:13.0f}  {row['simulated_s']:.9f}  {row['rel_diff']:.1e}")
    rows = analytic_point()
    worst = max(rows, key=lambda r: r["us_per_call"])
    mean = sum(r["us_per_call"] for r in rows) / len(rows)
    print(f"analytic, 100,000 workers ({len(rows)} op/algorithm pairs): mean {mean:.1f} us per call, "
          f"slowest {worst['op']}/{worst['algorithm']} {worst['us_per_call']:.1f} us")


if __name__ == "__main__":
    main()
