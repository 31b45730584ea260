"""Wired backends: the flow-level DES network, and the closed forms (analytic)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from ..collectives import CollectiveRun, analytic_time, build_program, net_params
from ..network import FlowNetwork
from .base import NetworkBackend, NetworkTotals

__all__ = ["FlowBackend", "AnalyticBackend"]


def _count_sent(ex: Any, hosts: list[str], program: Any) -> None:
    for h, nbytes in zip(hosts, program.bytes_sent_per_rank().tolist()):
        ex.sent(h, nbytes)


def _program(ex: Any, node: Any) -> tuple[list[str], Any, np.ndarray]:
    """(hosts in rank order, step program, reduction seconds per byte of each host) of a Collective."""
    hosts = list(node.group) + list(node.servers)
    program = build_program(node.op, node.algorithm, len(node.group), node.bytes, **node.algorithm_params)
    gamma = ex.cluster.reduction_gamma(hosts) if ex.reductions else np.zeros(len(hosts))
    return hosts, program, gamma


class FlowBackend(NetworkBackend):
    """Sends are flows and collectives step programs on the max-min fair flow network."""

    name = "des"

    def __init__(self, ex: Any) -> None:
        super().__init__(ex)
        self.network = FlowNetwork(ex.sim, ex.cluster.topology, record_flows=ex.sim.trace.enabled)
        self.sent_bytes = 0.0

    def send(self, node: Any) -> Generator:
        """Carry a Send's bytes as one flow on the topology."""
        self.sent_bytes += node.bytes
        self.ex.sent(node.src, node.bytes)
        yield self.network.transfer(node.src, node.dst, node.bytes, name=node.name)

    def collective(self, node: Any) -> Generator:
        """Run a Collective's step program as flows (a DES of the collective)."""
        hosts, program, gamma = _program(self.ex, node)
        _count_sent(self.ex, hosts, program)
        runner = CollectiveRun(self.network, program, hosts, gamma_s_per_B=gamma,
                               name=node.name or f"{node.op}/{node.algorithm}")
        yield runner.start()
        self.sent_bytes += runner.bytes_started
        for h, t in zip(hosts, runner.reduce_busy_s.tolist()):
            self.ex.busy(h, t)

    def close(self) -> NetworkTotals:
        """Totals of the run: bytes sent, and bytes, busy seconds and energy (J) per link."""
        net = self.network
        names = net.topology.link_names
        nbytes = net.bytes_per_link
        energy = nbytes * 8.0 * net.topology.energy_per_bit_J
        self.ex.ledger.link(float(energy.sum()))
        return NetworkTotals(self.sent_bytes, 0.0, dict(zip(names, nbytes.tolist())),
                             dict(zip(names, net.busy_s_per_link.tolist())), dict(zip(names, energy.tolist())),
                             {"flows": net.flows_started, "wakeups": net.wakeups})


class AnalyticBackend(NetworkBackend):
    """Each transfer takes path latency + bytes / bottleneck bandwidth, each collective its
    closed form, as if nothing else were on the network."""

    name = "analytic"

    def __init__(self, ex: Any) -> None:
        super().__init__(ex)
        self.topology = ex.cluster.topology
        self.link_bytes = np.zeros(self.topology.num_links)
        self.sent_bytes = 0.0

    def send(self, node: Any) -> Generator:
        """Wait the path latency plus bytes over the bottleneck bandwidth (s)."""
        topo, env = self.topology, self.ex.env
        t = topo.path_latency_s(node.src, node.dst) + node.bytes / topo.bottleneck_Bps(node.src, node.dst)
        start = float(env.now)
        yield env.timeout(t)
        self._charge(np.array([topo.host_index(node.src)]), np.array([topo.host_index(node.dst)]),
                     np.array([node.bytes]))
        self.ex.sent(node.src, node.bytes)
        self.ex.sim.trace.record(node.src, "transfer", start, start + t, node.bytes, node.name or f"{node.src}->{node.dst}")

    def collective(self, node: Any) -> Generator:
        """Wait the collective's closed-form time on its hosts (s)."""
        hosts, program, gamma = _program(self.ex, node)
        _count_sent(self.ex, hosts, program)
        idx = self.topology.host_indices(hosts)
        net = net_params(program, self.topology, idx, gamma_s_per_B=float(gamma.max()) if gamma.size else 0.0)
        t = analytic_time(node.op, node.algorithm, len(node.group), node.bytes, net, **program.params)
        start = float(self.ex.env.now)
        yield self.ex.env.timeout(t)
        for h, r in zip(hosts, (program.reduce_bytes_per_rank() * gamma).tolist()):
            self.ex.busy(h, r)
        uses = np.bincount(program.order, minlength=len(program.patterns))
        for i in np.flatnonzero(uses).tolist():
            pat = program.patterns[i]
            self._charge(idx[pat.src], idx[pat.dst], np.asarray(pat.nbytes, dtype=float), int(uses[i]))
        n = len(hosts)
        self.ex.sim.trace.record_many(hosts, "collective", np.full(n, start), np.full(n, start + t),
                                      program.bytes_sent_per_rank(), node.name or f"{node.op}/{node.algorithm}")

    def _charge(self, src: np.ndarray, dst: np.ndarray, nbytes: np.ndarray, uses: int = 1) -> None:
        ptr, links = self.topology.paths(src, dst)
        self.link_bytes += uses * np.bincount(links, weights=np.repeat(nbytes, np.diff(ptr)),
                                              minlength=self.topology.num_links)
        self.sent_bytes += uses * float(np.sum(nbytes))

    def close(self) -> NetworkTotals:
        """Totals of the run: bytes and energy per link."""
        names = self.topology.link_names
        energy = self.link_bytes * 8.0 * self.topology.energy_per_bit_J
        self.ex.ledger.link(float(energy.sum()))
        return NetworkTotals(self.sent_bytes, 0.0, dict(zip(names, self.link_bytes.tolist())), {},
                             dict(zip(names, energy.tolist())))
