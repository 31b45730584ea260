"""A partition plan's cost when its workers share one wireless multiple-access channel.

:class:`WirelessHardware` is the radio, channel, one distance per worker (to the access point)
and the access scheme (``tdma`` or ``ofdma``, :class:`~simulator.network.wireless.DigitalMAC`);
:func:`wireless_cost` prices one batch of ``plan`` on it:

* the plan's own task graph (:meth:`PartitionPlan.task_graph`) fixes the work: per layer, its
  ``Send`` nodes (one per (source, destination) pair, bits = values x ``activation_bits`` x
  batch) and its ``Compute`` nodes (flops and bytes on each worker); then the final gather;
* layer by layer, first every sender uploads the sum of its transfers' bits over the MAC in one
  fading block (round = layer index, the gather is round L): TDMA airtime is the sum of the
  senders' times, OFDMA (band split among the senders) the longest, each at the Shannon rate of
  its SNR at full power; then the workers compute (the layer takes the slowest worker's roofline
  time times its slowdown). Phases do not overlap.
* latency = sum of airtimes + sum of the layers' compute times; energy = radio energy
  (P_k T_k + circuit power x T_k of every sender) + device energy (active power while computing,
  idle power otherwise, over the latency; as :func:`simulator.executor.run` charges it).

Every transfer is a separate uplink transmission (no broadcast of one activation to several
destinations; the access point's relay to the destination is not charged). Deterministic from
``seed``: each call builds a fresh MAC, so every plan sees the same shadowing and fading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from hwmodels import Radio, SpecError
from hwmodels.channel import Channel

from ..cluster import Cluster
from ..engine import Simulation
from ..network.wireless import DigitalMAC
from ..taskgraph import Compute, Send

__all__ = ["WirelessHardware", "WirelessCost", "wireless_cost"]


@dataclass(frozen=True)
class WirelessHardware:
    """Radio, channel, one distance (m) per worker, access (``tdma``/``ofdma``) and the seed."""

    radio: Radio
    channel: Channel
    distances_m: np.ndarray
    access: str = "tdma"
    seed: int = 0
    rate_bits_per_use: Optional[float] = None

    def __post_init__(self) -> None:
        if self.access not in ("tdma", "ofdma"):
            raise SpecError(f"wireless: unknown access {self.access!r}; known: tdma, ofdma")
        object.__setattr__(self, "distances_m", self.channel.check_distances(self.distances_m))

    @property
    def workers(self) -> int:
        return len(self.distances_m)

    def mac(self) -> DigitalMAC:
        """A fresh MAC (same draws every time for the same seed)."""
        return DigitalMAC(Simulation(self.seed, trace=False), self.radio, self.channel, self.distances_m,
                          access=self.access, rate_bits_per_use=self.rate_bits_per_use)


@dataclass
class WirelessCost:
    latency_s: float
    energy_j: float
    airtime_s: float
    radio_energy_j: float
    busy_s: dict[str, float]
    airtime_per_phase: list[float] = field(default_factory=list)
    compute_per_phase: list[float] = field(default_factory=list)


def wireless_cost(plan: Any, cluster: Cluster, hw: WirelessHardware, *, batch: int = 1,
                  activation_bits: int = 32) -> WirelessCost:
    """Latency and energy of one ``batch`` of ``plan`` with worker k at ``hw.distances_m[k]``."""
    if hw.workers != plan.workers:
        raise SpecError(f"wireless: plan has {plan.workers} workers but {hw.workers} distances were given")
    hosts = cluster.hosts[:plan.workers]
    if len(hosts) < plan.workers:
        raise SpecError(f"plan needs {plan.workers} workers but the cluster has {len(hosts)} hosts")
    graph = plan.task_graph(hosts, batch=batch, activation_bits=activation_bits)
    index = {h: k for k, h in enumerate(hosts)}
    phases = [f"L{l}" for l in range(plan.num_layers)] + ["gather"]
    bits = {p: np.zeros(plan.workers) for p in phases}
    compute: dict[str, dict[str, float]] = {p: {} for p in phases}
    busy = {h: 0.0 for h in hosts}
    for node in graph:
        tag = node.name.split("/", 1)[0]
        if isinstance(node, Send):
            bits[tag][index[node.src]] += node.bytes * 8.0
        elif isinstance(node, Compute):
            t = cluster.compute_time(node.worker, node.flops, node.bytes, node.dtype, node.duration_s)
            compute[tag][node.worker] = compute[tag].get(node.worker, 0.0) + t
            busy[node.worker] += t
    mac = hw.mac()
    air, comp, radio_j = [], [], 0.0
    for r, p in enumerate(phases):
        if bits[p].any():
            tx = mac.upload(bits[p], r, start_s=0.0)
            air.append(float(tx.airtime_s))
            radio_j += float(tx.energy_j.sum())
        else:
            air.append(0.0)
        comp.append(max(compute[p].values(), default=0.0))
    latency = float(sum(air) + sum(comp))
    device_j = 0.0
    for h in hosts:
        dev = cluster.device(h)
        device_j += dev.active_power_W * busy[h] + dev.idle_power_W * max(0.0, latency - busy[h])
    return WirelessCost(latency, device_j + radio_j, float(sum(air)), radio_j, busy, air, comp)
