"""Benchmark the flow-level network engine (run by hand, not a test).

    python benchmarks/bench_flows.py            # all cases
    python benchmarks/bench_flows.py --quick    # smaller sizes

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


def leaf_spine_point(n_flows: int, seed: int = 7) -> dict:
    import numpy as np

    from hwmodels import LinkSpec
    from simulator.engine import Simulation
    from simulator.network import FlowNetwork, Topology

    link = LinkSpec("100G", bandwidth_Bps=100e9 / 8, latency_s=1e-6)
    t0 = time.perf_counter()
    topo = Topology.leaf_spine(32, 32, 8, link, oversubscription=2.0)
    sim = Simulation(seed, trace=False)
    net = FlowNetwork(sim, topo, record_flows=False)
    rng = sim.rng(0)
    p = topo.num_hosts
    src = rng.integers(0, p, n_flows)
    dst = (src + rng.integers(1, p, n_flows)) % p
    size = rng.lognormal(np.log(10e6), 1.0, n_flows)
    pattern = net.pattern(src, dst)
    t1 = time.perf_counter()
    batch = net.start(pattern=pattern, nbytes=size)
    sim.run()
    t2 = time.perf_counter()
    assert batch.finished
    return {"case": "leaf-spine", "flows": n_flows, "hosts": p, "setup_s": t1 - t0, "wall_s": t2 - t1,
            "wakeups": net.wakeups, "events_per_s": net.wakeups / (t2 - t1),
            "rate_recomputations": net.rate_recomputations, "flows_rerated": net.flows_rerated,
            "simulated_s": sim.now, "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


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
    parser.add_argument("--one", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        case, size = args.one[0], int(args.one[1])
        row = POINTS[case](size)
        print(json.dumps(row))
        return
    print(f"# {platform.machine()}, {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    cases = [("leaf-spine", 2000 if args.quick else 10_000)]
    cases += [("lockstep", p) for p in ((256, 1024) if args.quick else (1024, 4096))]
    cases += [("staggered", 64 if args.quick else 256)]
    for case, size in cases:
        row = run_case(case, size)
        print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    main()
