"""Benchmark the flow-level network engine (run by hand, not a test).

    python benchmarks/bench_flows.py            # all cases
    python benchmarks/bench_flows.py --quick    # smaller sizes
    python benchmarks/bench_flows.py --simgrid [--repeat 3]   # side by side with SimGrid

Cases, each in a fresh subprocess so that its peak memory (ru_maxrss of the whole process)
is its own:

* ``leaf-spine``: 10,000 concurrent flows between random host pairs (seeded) of a 1,024-host
  leaf-spine fabric (32 leaves of 32 hosts, 8 spines, 100 Gbps host links, uplinks
  oversubscribed 2:1), log-normal sizes around 10 MB, all started at once; max-min sharing
  throughout. Reports wall time, events (wakeups) per second and rate recomputations.
* ``lockstep``: the engine side of a ring all-reduce of 1 GiB on a switch, driven directly
  through ``FlowNetwork.start``: p hosts, 2(p-1) steps of p simultaneous flows of 1 GiB / p
  to the next host, each step started when the previous one finishes (50 GiB/s links,
  500 ns). Checks the simulated time against 2(p-1)(alpha + n/p beta).
* ``staggered``: the same steps with per-host progress and distinct per-host reduction times
  (one host 100x slower), so flows finish at distinct instants: the per-event cost.

``--simgrid`` runs the leaf-spine flows with 1 and 4 spines (zero link latency, whole-byte
sizes; ``--starts spread`` starts them at random instants over 5 ms instead of at once) in
ddlsim and in SimGrid 3.32's CM02 model in Full update mode, on the same platform with the
same routes (``benchmarks/simgrid_flows.py``, run with the system Python that Debian's
``python3-simgrid`` installs into), and prints both wall and CPU times and the largest
relative difference of the flows' finish times. Link latencies are zero because SimGrid divides a
link's bandwidth among its flows in inverse proportion to each flow's route latency (its
RTT-unfairness weighting, present even in CM02), which plain max-min does not do.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GiB = 2**30


def leaf_spine_flows(n_flows: int, spines: int = 8, latency_s: float = 1e-6, starts: str = "burst", seed: int = 7):
    """The fabric and the flows: (topology, src, dst, bytes, start times)."""
    import numpy as np

    from hwmodels import LinkSpec
    from simulator.network import Topology

    link = LinkSpec("100G", bandwidth_Bps=100e9 / 8, latency_s=latency_s)
    topo = Topology.leaf_spine(32, 32, spines, link, oversubscription=2.0)
    rng = np.random.default_rng(seed)
    p = topo.num_hosts
    src = rng.integers(0, p, n_flows)
    dst = (src + rng.integers(1, p, n_flows)) % p
    size = np.round(rng.lognormal(np.log(10e6), 1.0, n_flows))
    start = np.zeros(n_flows) if starts == "burst" else np.sort(rng.uniform(0.0, 5e-3, n_flows))
    return topo, src, dst, size, start


def leaf_spine_point(n_flows: int, spines: int = 8, latency_s: float = 1e-6, starts: str = "burst",
                     export: str | None = None) -> dict:
    """Run the flows; with ``export``, write the scenario (JSON, for SimGrid) and our finish
    times (``export``.npy)."""
    import numpy as np

    from simulator.engine import Simulation
    from simulator.network import FlowNetwork

    t0 = time.perf_counter()
    topo, src, dst, size, start = leaf_spine_flows(n_flows, spines, latency_s, starts)
    sim = Simulation(0, trace=False)
    net = FlowNetwork(sim, topo, record_flows=False)
    finish = np.full(n_flows, np.nan)
    groups = np.split(np.arange(n_flows), np.flatnonzero(np.diff(start)) + 1)
    patterns = [net.pattern(src[g], dst[g]) for g in groups]
    t1 = time.perf_counter()

    def driver():
        batches = []
        for g, pattern in zip(groups, patterns):
            if start[g[0]] > sim.now:
                yield sim.env.timeout(start[g[0]] - sim.now)
            batches.append((g, net.start(pattern=pattern, nbytes=size[g])))
        for g, batch in batches:
            if not batch.finished:
                yield batch.done
            finish[g] = batch.finish_s

    sim.process(driver())
    c1 = time.process_time()
    sim.run()
    t2 = time.perf_counter()
    cpu = time.process_time() - c1
    if export:
        ptr, links = topo.paths(src, dst)
        scenario = {"hosts": topo.num_hosts, "bandwidth_Bps": topo.capacity_Bps.tolist(),
                    "latency_s": topo.latency_s.tolist(),
                    "flows": [{"src": int(src[i]), "dst": int(dst[i]), "bytes": int(size[i]), "start": float(start[i]),
                               "links": links[ptr[i]:ptr[i + 1]].tolist()} for i in range(n_flows)]}
        Path(export).write_text(json.dumps(scenario))
        np.save(export + ".npy", finish)
    return {"case": "leaf-spine", "flows": n_flows, "spines": spines, "starts": starts, "hosts": topo.num_hosts,
            "setup_s": t1 - t0, "wall_s": t2 - t1, "cpu_s": cpu, "wakeups": net.wakeups,
            "events_per_s": net.wakeups / (t2 - t1),
            "rate_recomputations": net.rate_recomputations, "flows_rerated": net.flows_rerated,
            "simulated_s": sim.now, "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def simgrid_compare(n_flows: int, spines: int, starts: str, repeat: int) -> dict:
    """ddlsim and SimGrid (Full) on the same flows, ``repeat`` times each: median walls and
    the largest relative difference of the finish times."""
    import numpy as np

    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        scenario = str(Path(tmp) / "scenario.json")
        for _ in range(repeat):
            cmd = [sys.executable, __file__, "--one", "leaf-spine", str(n_flows), "--spines", str(spines),
                   "--starts", starts, "--latency", "0", "--export", scenario]
            ours.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
            out = subprocess.run(["/usr/bin/python3", str(Path(__file__).with_name("simgrid_flows.py")), scenario],
                                 check=True, capture_output=True, text=True)
            theirs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        mine = np.load(scenario + ".npy")
    sg = np.array(theirs[-1]["finish_s"])
    rel = np.abs(sg - mine) / mine
    ddl = statistics.median(r["wall_s"] for r in ours)
    sgw = statistics.median(r["wall_s"] for r in theirs)
    ddl_cpu = statistics.median(r["cpu_s"] for r in ours)
    sg_cpu = statistics.median(r["cpu_s"] for r in theirs)
    return {"flows": n_flows, "spines": spines, "starts": starts, "ddlsim_wall_s": ddl, "simgrid_wall_s": sgw,
            "speedup": sgw / ddl, "ddlsim_cpu_s": ddl_cpu, "simgrid_cpu_s": sg_cpu, "cpu_speedup": sg_cpu / ddl_cpu,
            "ddlsim_runs_s": [r["wall_s"] for r in ours],
            "simgrid_runs_s": [r["wall_s"] for r in theirs], "max_rel_diff": float(rel.max()),
            "median_rel_diff": float(np.median(rel)), "recomputations": ours[-1]["rate_recomputations"],
            "makespan_s": float(mine.max())}


def lockstep_point(p: int, n: float = GiB) -> dict:
    import numpy as np

    from hwmodels import LinkSpec
    from simulator.engine import Simulation
    from simulator.network import FlowNetwork, Topology

    link = LinkSpec("bench", bandwidth_Bps=50 * GiB, latency_s=500e-9)
    steps = 2 * (p - 1)
    t0 = time.perf_counter()
    sim = Simulation(trace=False)
    net = FlowNetwork(sim, Topology.switch(p, link), record_flows=False)
    src = np.arange(p)
    pattern = net.pattern(src, (src + 1) % p)
    t1 = time.perf_counter()
    done = [0]

    def next_step(batch, _local, _now):
        if batch.finished:
            done[0] += 1
            if done[0] < steps:
                net.start(pattern=pattern, nbytes=n / p, on_finish=next_step)

    net.start(pattern=pattern, nbytes=n / p, on_finish=next_step)
    sim.run()
    t2 = time.perf_counter()
    closed = steps * (2 * link.latency_s + n / p / link.bandwidth_Bps)
    return {"case": "lockstep", "hosts": p, "steps": done[0], "flows": done[0] * p, "setup_s": t1 - t0,
            "wall_s": t2 - t1, "wakeups": net.wakeups, "rate_recomputations": net.rate_recomputations,
            "flows_per_s": done[0] * p / (t2 - t1), "simulated_s": sim.now, "closed_form_s": closed,
            "rel_diff": abs(sim.now - closed) / closed,
            "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def staggered_point(p: int, n: float = GiB) -> dict:
    """Ring all-reduce steps with per-host progress: host j sends its next chunk a reduction
    time after receiving one, and reduction times differ per host (one host 100x slower), so
    flows finish at distinct instants: about two network events per flow."""
    import numpy as np

    from hwmodels import LinkSpec
    from simulator.engine import Simulation
    from simulator.network import FlowNetwork, Topology

    link = LinkSpec("bench", bandwidth_Bps=50 * GiB, latency_s=500e-9)
    steps = 2 * (p - 1)
    sim = Simulation(trace=False)
    net = FlowNetwork(sim, Topology.switch(p, link), record_flows=False)
    patterns = [net.pattern([i], [(i + 1) % p]) for i in range(p)]
    delay = 1e-6 * (1 + np.arange(p) * 1e-3)
    delay[p // 2] *= 100
    step = np.zeros(p, dtype=np.int64)
    flows = [0]

    def send(host):
        return lambda _event: net.start(pattern=patterns[host], nbytes=n / p, on_finish=received)

    def received(batch, _local, _now):
        flows[0] += 1
        j = int(batch.dst[0])
        step[j] += 1
        if step[j] < steps:
            sim.env.timeout(delay[j]).callbacks.append(send(j))

    t0 = time.perf_counter()
    for i in range(p):
        net.start(pattern=patterns[i], nbytes=n / p, on_finish=received)
    sim.run()
    t1 = time.perf_counter()
    return {"case": "staggered", "hosts": p, "flows": flows[0], "wall_s": t1 - t0, "wakeups": net.wakeups,
            "us_per_flow": (t1 - t0) / flows[0] * 1e6, "rate_recomputations": net.rate_recomputations,
            "simulated_s": sim.now, "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


POINTS = {"leaf-spine": leaf_spine_point, "lockstep": lockstep_point, "staggered": staggered_point}


def run_case(case: str, size: int) -> dict:
    """Run one case in a fresh interpreter and return its row."""
    out = subprocess.run([sys.executable, __file__, "--one", case, str(size)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (2,000 flows; 256 and 1,024 hosts; 64)")
    parser.add_argument("--simgrid", action="store_true", help="leaf-spine with 1 and 4 spines, ddlsim and SimGrid")
    parser.add_argument("--flows", type=int, default=10_000, help="flows of the SimGrid comparison")
    parser.add_argument("--starts", default="burst", choices=("burst", "spread"), help="all at once, or over 5 ms")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side of the SimGrid comparison (medians)")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--spines", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=1e-6, help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        case, size = args.one[0], int(args.one[1])
        if case == "leaf-spine":
            row = leaf_spine_point(size, args.spines, args.latency, args.starts, args.export)
        else:
            row = POINTS[case](size)
        print(json.dumps(row))
        return
    print(f"# {platform.machine()}, {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    if args.simgrid:
        for spines in (1, 4):
            row = simgrid_compare(args.flows, spines, args.starts, args.repeat)
            print(json.dumps({k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in row.items()}))
        return
    cases = [("leaf-spine", 2000 if args.quick else 10_000)]
    cases += [("lockstep", p) for p in ((256, 1024) if args.quick else (1024, 4096))]
    cases += [("staggered", 64 if args.quick else 256)]
    for case, size in cases:
        row = run_case(case, size)
        print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    main()
