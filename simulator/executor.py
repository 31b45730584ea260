"""Run a task graph on a cluster: ``run(graph, cluster) -> ExecutionResult``.

Every node is a simpy process that waits for its deps, then:

- ``Compute``: takes its worker's device (one compute at a time per worker, in the order
  they become ready) for the roofline time (or ``duration_s``) times the worker's slowdown;
- ``Send``: one flow on the :class:`~simulator.network.FlowNetwork` (DES: max-min sharing
  with everything else on the links) or, in analytic mode, path latency + bytes /
  bottleneck bandwidth;
- ``Recv``: waits for its Send's transfer as well;
- ``Collective``: the vectorised collective runner (:class:`~simulator.collectives.CollectiveRun`)
  over the group's hosts, with each host's reduction speed from its device and slowdown,
  or the closed form in analytic mode;
- ``Delay``: waits.

Energy per worker: active power over its busy time (computes and reductions) plus idle
power over the rest of the makespan; the network's energy is bits times each link's
energy per bit. Totals: makespan, energy, bytes on the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from hwmodels import SpecError

from .cluster import Cluster
from .collectives import CollectiveRun, analytic_time, build_program, net_params
from .engine import Simulation
from .network import FlowNetwork
from .taskgraph import Collective, Compute, Delay, Recv, Send, TaskGraph
from .timeline import Timeline

__all__ = ["run", "ExecutionResult", "MODES"]

MODES = ("des", "analytic")


@dataclass
class ExecutionResult:
    """What a task graph cost on a cluster.

    ``timeline`` holds the spans (``compute``/``reduce`` per worker, ``flow`` per transfer
    in DES mode or ``transfer`` in analytic mode, ``collective`` per group member,
    ``delay``) and per-link statistics.
    """

    mode: str
    makespan_s: float
    energy_j: float
    network_energy_j: float
    bytes: float
    energy_per_worker_j: dict[str, float]
    busy_s: dict[str, float]
    node_start_s: dict[int, float]
    node_finish_s: dict[int, float]
    timeline: Timeline
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "makespan_s": self.makespan_s, "energy_j": self.energy_j,
                "network_energy_j": self.network_energy_j, "bytes": self.bytes,
                "energy_per_worker_j": dict(self.energy_per_worker_j), "busy_s": dict(self.busy_s), **self.stats}


class _Executor:
    def __init__(self, graph: TaskGraph, cluster: Cluster, seed: int, mode: str, trace: bool, reductions: bool) -> None:
        if mode not in MODES:
            raise SpecError(f"executor mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not isinstance(cluster, Cluster):
            raise SpecError(f"run() needs a Cluster, got {type(cluster).__name__}")
        graph.validate(cluster.hosts)
        self.graph = graph
        self.cluster = cluster
        self.mode = mode
        self.reductions = reductions
        self.sim = Simulation(seed, trace=trace)
        self.env = self.sim.env
        self.topology = cluster.topology
        self.network = FlowNetwork(self.sim, self.topology, record_flows=trace) if mode == "des" else None
        self.devices = {h: simpy.Resource(self.env, capacity=1) for h in graph.workers}
        self.busy = {h: 0.0 for h in cluster.hosts}
        self.done = {node.id: self.env.event() for node in graph}
        self.start_s: dict[int, float] = {}
        self.finish_s: dict[int, float] = {}
        self.analytic_bytes = 0.0
        self.sent_bytes = 0.0
        self.analytic_link_bytes = np.zeros(self.topology.num_links)
        self.collectives = 0

    # ------------------------------------------------------------------ node processes
    def run(self) -> ExecutionResult:
        for node in self.graph:
            self.env.process(self._proc(node))
        self.sim.run()
        stuck = [n.name for n in self.graph if not self.done[n.id].triggered]
        if stuck:  # pragma: no cover - validate() rules out cycles
            raise RuntimeError(f"nodes never ran: {stuck[:5]}")
        return self._result()

    def _proc(self, node: Any):  # noqa: ANN202 - a simpy generator
        if node.deps:
            yield self.env.all_of([self.done[d] for d in node.deps])
        if isinstance(node, Compute):
            yield from self._compute(node)
        elif isinstance(node, Send):
            self.start_s[node.id] = self.env.now
            yield from self._send(node)
        elif isinstance(node, Recv):
            self.start_s[node.id] = self.env.now
            yield self.done[node.send]
        elif isinstance(node, Collective):
            self.start_s[node.id] = self.env.now
            yield from self._collective(node)
        elif isinstance(node, Delay):
            self.start_s[node.id] = self.env.now
            yield self.env.timeout(node.duration_s)
            if node.worker is not None:
                self.sim.trace.record(node.worker, "delay", self.start_s[node.id], self.env.now, 0.0, node.name)
        self.finish_s[node.id] = float(self.env.now)
        self.done[node.id].succeed()

    def _compute(self, node: Compute):  # noqa: ANN202
        duration = self.cluster.compute_time(node.worker, node.flops, node.bytes, node.dtype, node.duration_s)
        with self.devices[node.worker].request() as req:
            yield req
            start = float(self.env.now)
            self.start_s[node.id] = start
            yield self.env.timeout(duration)
            self.busy[node.worker] += duration
            self.sim.trace.record(node.worker, "compute", start, start + duration, node.bytes, node.name)

    def _send(self, node: Send):  # noqa: ANN202
        if self.network is not None:
            self.sent_bytes += node.bytes
            yield self.network.transfer(node.src, node.dst, node.bytes, name=node.name)
            return
        t = self.topology.path_latency_s(node.src, node.dst) + node.bytes / self.topology.bottleneck_Bps(node.src, node.dst)
        start = float(self.env.now)
        yield self.env.timeout(t)
        self._charge_links(np.array([self.topology.host_index(node.src)]), np.array([self.topology.host_index(node.dst)]),
                           np.array([node.bytes]))
        self.sim.trace.record(node.src, "transfer", start, start + t, node.bytes, node.name or f"{node.src}->{node.dst}")

    def _collective(self, node: Collective):  # noqa: ANN202
        self.collectives += 1
        hosts = list(node.group) + list(node.servers)
        program = build_program(node.op, node.algorithm, len(node.group), node.bytes, **node.algorithm_params)
        gamma = self.cluster.reduction_gamma(hosts) if self.reductions else np.zeros(len(hosts))
        name = node.name or f"{node.op}/{node.algorithm}"
        if self.network is not None:
            runner = CollectiveRun(self.network, program, hosts, gamma_s_per_B=gamma, name=name)
            yield runner.start()
            self.sent_bytes += runner.bytes_started
            for h, t in zip(hosts, runner.reduce_busy_s.tolist()):
                self.busy[h] += t
            return
        idx = self.topology.host_indices(hosts)
        net = net_params(program, self.topology, idx, gamma_s_per_B=float(gamma.max()) if gamma.size else 0.0)
        t = analytic_time(node.op, node.algorithm, len(node.group), node.bytes, net, **program.params)
        start = float(self.env.now)
        yield self.env.timeout(t)
        reduce_s = program.reduce_bytes_per_rank() * gamma
        for h, r in zip(hosts, reduce_s.tolist()):
            self.busy[h] += r
        self._charge_program(program, idx)
        self.sim.trace.record_many(hosts, "collective", np.full(len(hosts), start), np.full(len(hosts), start + t),
                                   program.bytes_sent_per_rank(), name)

    # ------------------------------------------------------------------ analytic bookkeeping
    def _charge_links(self, src: np.ndarray, dst: np.ndarray, nbytes: np.ndarray, uses: int = 1) -> None:
        ptr, links = self.topology.paths(src, dst)
        self.analytic_link_bytes += uses * np.bincount(links, weights=np.repeat(nbytes, np.diff(ptr)),
                                                       minlength=self.topology.num_links)
        self.analytic_bytes += uses * float(np.sum(nbytes))

    def _charge_program(self, program: Any, idx: np.ndarray) -> None:
        uses = np.bincount(program.order, minlength=len(program.patterns))
        for i in np.flatnonzero(uses).tolist():
            pat = program.patterns[i]
            self._charge_links(idx[pat.src], idx[pat.dst], np.asarray(pat.nbytes, dtype=float), int(uses[i]))

    # ------------------------------------------------------------------ results
    def _result(self) -> ExecutionResult:
        if self.network is not None:
            timeline = self.network.timeline()
            network_energy = self.network.energy_J
            total_bytes = self.sent_bytes
        else:
            names = self.topology.link_names
            lb = self.analytic_link_bytes
            energy = lb * 8.0 * self.topology.energy_per_bit_J
            timeline = Timeline(self.sim.trace, link_bytes=dict(zip(names, lb.tolist())),
                                link_energy_J=dict(zip(names, energy.tolist())))
            network_energy = float(energy.sum())
            total_bytes = self.analytic_bytes
        makespan = max([timeline.makespan_s] + list(self.finish_s.values()))
        timeline.makespan_s = makespan
        energy_w: dict[str, float] = {}
        for host in self.graph.workers:
            dev = self.cluster.device(host)
            busy = min(self.busy[host], makespan) if makespan > 0 else self.busy[host]
            energy_w[host] = dev.active_power_W * self.busy[host] + dev.idle_power_W * max(0.0, makespan - busy)
        stats = {"nodes": len(self.graph), "collectives": self.collectives}
        if self.network is not None:
            stats.update(flows=self.network.flows_started, wakeups=self.network.wakeups)
        return ExecutionResult(self.mode, makespan, float(sum(energy_w.values())) + network_energy, network_energy,
                               total_bytes, energy_w, {h: self.busy[h] for h in self.graph.workers},
                               dict(self.start_s), dict(self.finish_s), timeline, stats)


def run(graph: TaskGraph, cluster: Cluster, *, seed: int = 0, mode: str = "des", trace: bool = True,
        reductions: bool = True) -> ExecutionResult:
    """Run ``graph`` on ``cluster`` (``mode`` "des" or "analytic"); see the module doc.

    ``reductions=False`` makes collectives' reductions free (gamma = 0).
    """
    return _Executor(graph, cluster, seed, mode, trace, reductions).run()
