"""Run a task graph on a cluster: ``run(graph, cluster) -> ExecutionResult``.

The executor is the one place where declared work becomes time and energy. Every node is a
simpy process that waits for its deps, then:

- ``Compute``: takes its worker's device (one compute at a time per worker, in the order
  they become ready) for the roofline time of its work on that device (``work="codec"`` at the
  device's codec efficiency) or its ``duration_s``, times the worker's slowdown;
- ``Send``, ``Recv``, ``Collective``: the network backend (:mod:`simulator.backends`): the
  flow-level DES (``mode="des"``), the closed forms (``mode="analytic"``), or the cluster's
  shared cell when it carries the hosts' traffic (a :class:`~simulator.network.media.MacCell`:
  Wi-Fi, 802.15.4 or BLE);
- ``Upload``, ``Multicast``, ``Airtime``: the cluster's shared wireless medium;
- ``Delay``: waits.

Energy (:mod:`simulator.energy`, one rule): every device of the graph draws its idle power for
the whole makespan and its dynamic power (active minus idle) while busy (computes and the
reductions inside collectives); wired links charge bits times their energy per bit; radios
charge transmit plus circuit power while transmitting and receive power while receiving.
``energy_breakdown_j`` holds the four kinds; they sum to ``energy_j``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import simpy

from hwmodels import Cost, SpecError

from .backends import MEDIA, WIRED, NetworkBackend, NetworkTotals
from .cluster import Cluster
from .energy import EnergyLedger
from .engine import Simulation
from .taskgraph import Airtime, Collective, Compute, Delay, Multicast, Recv, Send, TaskGraph, Upload
from .timeline import Timeline

__all__ = ["run", "ExecutionResult", "MODES"]

MODES = tuple(WIRED)


@dataclass
class ExecutionResult:
    """What a task graph cost on a cluster: the one result type of every priced workload.

    ``makespan_s`` (s), ``energy_j`` (J) with ``energy_breakdown_j`` (compute, idle, link, radio),
    ``bytes`` offered to the wired network (each message once per send), ``air_bits`` put on a
    wireless medium, ``sent_bytes_per_host`` (every byte a host transmits, forwarding in a ring or
    a tree included; the access point's relays are not a host's), per worker energy and busy time, every node's start and finish, and the
    ``timeline`` of spans (``compute``, ``codec`` and ``reduce`` per worker, ``flow`` per transfer in DES mode or
    ``transfer`` in analytic mode, ``collective`` per group member, ``airtime`` per transmission,
    ``delay``) with per-link statistics. :attr:`cost` is the :class:`~hwmodels.Cost`.
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
    energy_breakdown_j: dict[str, float] = field(default_factory=dict)
    energy_per_worker_breakdown_j: dict[str, dict[str, float]] = field(default_factory=dict)
    air_bits: float = 0.0
    sent_bytes_per_host: dict[str, float] = field(default_factory=dict)

    @property
    def bits(self) -> float:
        """Bits moved: the wired network's bytes x 8 plus the bits on the air."""
        return 8.0 * self.bytes + self.air_bits

    @property
    def cost(self) -> Cost:
        """Makespan, energy (broken down) and bits as one :class:`~hwmodels.Cost`."""
        return Cost(self.makespan_s, self.energy_j, self.bits, self.energy_breakdown_j)

    def phase_span_s(self, graph: TaskGraph) -> dict[str, tuple[float, float]]:
        """(first start, last finish) in seconds of each node ``phase`` of ``graph`` (this run's graph)."""
        out: dict[str, tuple[float, float]] = {}
        for node in graph:
            if node.phase and node.id in self.node_finish_s:
                start = self.node_start_s.get(node.id, self.node_finish_s[node.id])
                lo, hi = out.get(node.phase, (start, self.node_finish_s[node.id]))
                out[node.phase] = (min(lo, start), max(hi, self.node_finish_s[node.id]))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: mode, makespan (s), energies (J), bytes and bits sent, busy
        seconds per worker, and the run's statistics."""
        return {"mode": self.mode, "makespan_s": self.makespan_s, "energy_j": self.energy_j,
                "energy_breakdown_j": dict(self.energy_breakdown_j), "network_energy_j": self.network_energy_j,
                "bytes": self.bytes, "air_bits": self.air_bits,
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
        workers = graph.workers
        self.ledger = EnergyLedger(h for h in workers if cluster.charged(h))
        self.devices = {h: simpy.Resource(self.env, capacity=1) for h in workers}
        self.busy_s: dict[str, float] = defaultdict(float)
        self.sent_B: dict[str, float] = defaultdict(float)
        self.done = {node.id: self.env.event() for node in graph}
        self.start_s: dict[int, float] = {}
        self.finish_s: dict[int, float] = {}
        self.collectives = 0
        wired = WIRED[mode](self) if cluster.topology is not None else None
        medium = MEDIA[type(cluster.medium)](self) if cluster.medium is not None else None
        self.backends: list[NetworkBackend] = [b for b in (wired, medium) if b is not None]
        self.traffic = medium if medium is not None and cluster.medium_carries_traffic else wired
        self.air = medium if medium is not None else NetworkBackend(self)

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
        else:
            self.start_s[node.id] = float(self.env.now)
            if isinstance(node, Send):
                yield from self._network(node).send(node)
            elif isinstance(node, Recv):
                yield self.done[node.send]
            elif isinstance(node, Collective):
                self.collectives += 1
                yield from self._network(node).collective(node)
            elif isinstance(node, (Upload, Multicast, Airtime)):
                yield from self.air.air(node)
            elif isinstance(node, Delay):
                yield self.env.timeout(node.duration_s)
                if node.worker is not None:
                    self.sim.trace.record(node.worker, "delay", self.start_s[node.id], self.env.now, 0.0, node.name)
        self.finish_s[node.id] = float(self.env.now)
        self.done[node.id].succeed()

    def _network(self, node: Any) -> NetworkBackend:
        if self.traffic is None:
            raise SpecError(f"node {node.name!r} ({node.kind}): the cluster has no network for it")
        return self.traffic

    def _compute(self, node: Compute):  # noqa: ANN202
        duration = self.cluster.compute_time(node.worker, node.flops, node.bytes, node.dtype, node.duration_s,
                                             work=node.work, parts=node.parts, calls=node.calls)
        with self.devices[node.worker].request() as req:
            yield req
            start = float(self.env.now)
            self.start_s[node.id] = start
            yield self.env.timeout(duration)
            self.busy(node.worker, duration)
            kind = "codec" if node.work == "codec" else "compute"
            self.sim.trace.record(node.worker, kind, start, start + duration, node.bytes, node.name)

    def sent(self, host: str, nbytes: float) -> None:
        """``host`` transmitted ``nbytes`` (its own data or data it forwards)."""
        self.sent_B[host] += nbytes

    def busy(self, host: str, seconds: float) -> None:
        """``host``'s device worked ``seconds`` (a compute, or a reduction inside a collective)."""
        self.busy_s[host] += seconds
        self.ledger.busy(host, seconds)

    # ------------------------------------------------------------------ results
    def _result(self) -> ExecutionResult:
        totals = [b.close() for b in self.backends] or [NetworkTotals()]
        link_bytes: dict[str, float] = {}
        link_busy: dict[str, float] = {}
        link_energy: dict[str, float] = {}
        stats: dict[str, Any] = {"nodes": len(self.graph), "collectives": self.collectives}
        for t in totals:
            link_bytes.update(t.link_bytes)
            link_busy.update(t.link_busy_s)
            link_energy.update(t.link_energy_J)
            stats.update(t.stats)
        timeline = Timeline(self.sim.trace, link_bytes=link_bytes, link_busy_s=link_busy, link_energy_J=link_energy)
        makespan = max([timeline.makespan_s] + list(self.finish_s.values()))
        timeline.makespan_s = makespan
        charged = {h: self.cluster.device(h) for h in self.ledger.hosts}
        per_host, breakdown = self.ledger.close(makespan, charged)
        energy_w = {h: sum(parts.values()) for h, parts in per_host.items()}
        return ExecutionResult(self.mode, makespan, sum(breakdown.values()), breakdown["link"],
                               sum(t.bytes for t in totals), energy_w,
                               {h: self.busy_s.get(h, 0.0) for h in self.graph.workers},
                               dict(self.start_s), dict(self.finish_s), timeline, stats, breakdown, per_host,
                               sum(t.air_bits for t in totals), {h: self.sent_B.get(h, 0.0) for h in self.graph.workers})


def run(graph: TaskGraph, cluster: Cluster, *, seed: int = 0, mode: str = "des", trace: bool = True,
        reductions: bool = True) -> ExecutionResult:
    """Run ``graph`` on ``cluster`` (``mode`` "des" or "analytic" for the wired network); see the
    module doc. ``reductions=False`` makes collectives' reductions free (gamma = 0)."""
    return _Executor(graph, cluster, seed, mode, trace, reductions).run()
