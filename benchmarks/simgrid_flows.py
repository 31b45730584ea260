"""The SimGrid side of ``bench_flows.py --simgrid`` (run by hand with the system Python).

    /usr/bin/python3 benchmarks/simgrid_flows.py SCENARIO.json [--optim Full|Lazy]

Reads the platform, flows and routes that ``bench_flows.py`` exported (every directed link
of ddlsim's topology becomes one SimGrid link of its own capacity and latency; every flow
gets ddlsim's route), runs them under SimGrid's CM02 model with no TCP-window bound and no
cross traffic (the flow model of the spec), and prints one JSON line: wall time of the
simulation (and its CPU time) and every flow's finish time. SimGrid (Debian's ``python3-simgrid``) is not a
dependency of ddlsim; this script only compares against it.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--optim", default="Full", choices=("Full", "Lazy"))
    parser.add_argument("--precision", type=float, default=None, help="network/maxmin-precision (default SimGrid's)")
    args = parser.parse_args()
    import simgrid

    with open(args.scenario) as fh:
        sc = json.load(fh)
    cfg = ["bench", "--cfg=network/model:CM02", "--cfg=network/TCP-gamma:0", "--cfg=network/crosstraffic:0",
           f"--cfg=network/optim:{args.optim}", "--log=root.thres:critical"]
    if args.precision is not None:
        cfg.append(f"--cfg=network/maxmin-precision:{args.precision}")
    t0 = time.perf_counter()
    engine = simgrid.Engine(cfg)
    zone = simgrid.NetZone.create_full_zone("world")
    hosts = [zone.create_host(f"h{i}", 1e9).seal() for i in range(sc["hosts"])]
    links = [zone.create_link(f"l{i}", bw).set_latency(lat).seal()
             for i, (bw, lat) in enumerate(zip(sc["bandwidth_Bps"], sc["latency_s"]))]
    flows = sc["flows"]
    seen = set()
    for f in flows:
        key = (f["src"], f["dst"])
        if key not in seen:
            seen.add(key)
            zone.add_route(hosts[f["src"]].netpoint, hosts[f["dst"]].netpoint, None, None,
                           [simgrid.LinkInRoute(links[k]) for k in f["links"]], False)
    zone.seal()
    order = sorted(range(len(flows)), key=lambda i: flows[i]["start"])
    comms = [None] * len(flows)

    def driver() -> None:
        for i in order:
            f = flows[i]
            if f["start"] > simgrid.Engine.clock:
                simgrid.this_actor.sleep_until(f["start"])
            comms[i] = simgrid.Comm.sendto_async(hosts[f["src"]], hosts[f["dst"]], int(f["bytes"]))
        simgrid.Comm.wait_all([c for c in comms if c is not None])

    simgrid.Actor.create("driver", hosts[0], driver)
    t1 = time.perf_counter()
    c1 = time.process_time()
    engine.run()
    t2 = time.perf_counter()
    print(json.dumps({"setup_s": t1 - t0, "wall_s": t2 - t1, "cpu_s": time.process_time() - c1, "optim": args.optim,
                      "finish_s": [c.finish_time for c in comms], "makespan_s": simgrid.Engine.clock}))


if __name__ == "__main__":
    main()
