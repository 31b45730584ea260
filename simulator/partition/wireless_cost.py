"""A partition plan's inference on a shared wireless channel, as a task graph for the executor.

:func:`wireless_graph` builds one batch of ``plan`` on the workers of a
:class:`~simulator.network.media.WirelessHardware` (worker radio, channel, one distance per
worker to the access point (AP), ``tdma``/``ofdma`` access, ``relay``, seed);
:func:`wireless_cost` runs it on the cluster with that medium
(:func:`simulator.executor.run`, the medium backend :mod:`simulator.backends.medium`). A phase
is a layer ``l`` (its inputs travel, then the workers compute) or the final gather; every node
carries its phase, and phases do not overlap (a phase's transmissions start when every worker
has finished the previous phase: the AP schedules a phase's uploads at once).

What travels (per sample, times ``activation_bits`` x batch): at layer ``l`` every unit a worker
holds that some *other* worker needs (:meth:`PartitionPlan.unit_values`, :meth:`~PartitionPlan.needs`),
**once**, however many workers need it (a wireless transmission is heard by every receiver; the
per-sender total is :meth:`PartitionPlan.broadcast_values`). Its *destination set* is the workers
that need it; the gather sends every final output the fusion worker does not own to the fusion
worker (always a worker, never the AP).

Relays (:data:`~simulator.network.media.RELAYS`):

* ``ap`` (default): the workers do not hear each other; the AP decodes and forwards. Uplink:
  one :class:`~simulator.taskgraph.Upload` per phase, every sender's values once (TDMA: whole
  band in turn; OFDMA: band split among the senders). Downlink: the AP broadcasts each group of
  values with the same destination set once (a :class:`~simulator.taskgraph.Multicast` from the
  AP), over the whole band, at the rate of the *worst* destination; the AP is one transmitter,
  so its groups go one after another. AP transmit power: ``ap_power_dbm`` (default the radio's
  maximum); the AP's energy is reported apart (``ap_energy_j``), not in ``energy_j``.
* ``d2d``: workers hear each other directly. Each sender multicasts each group once at the rate
  of its worst destination; senders share the band by TDMA (one after another) or OFDMA (W/n each
  for the n senders of the phase, in parallel).

There is no ``uplink-only`` relay: charging only the uplink is physical only when the AP itself
consumes the activations, and here every layer is computed by the workers.

Fading blocks: phase p's uplink is MAC round p; its downlink and d2d hops use their own draws
(p, attempt). Deterministic from ``seed``: every run builds fresh channel state, so every plan
sees the same shadowing, fading and positions.

latency = sum over phases of (uplink + downlink airtime + the slowest worker's compute time).
Energy (the executor's one rule): every worker's idle power over the latency, its dynamic power
while computing, its radio's transmit and circuit power while sending and receive power while
receiving. ``stats`` of the result adds the per-phase ``uplink_per_phase_s``,
``downlink_per_phase_s``, ``compute_per_phase_s`` and ``airtime_per_phase_s``, ``airtime_s``,
``ap_energy_j``, ``delivered``, ``phases`` and ``relay``; ``air_bits`` counts every bit put on the
air (uplinks, relays and direct broadcasts).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hwmodels import SpecError

from .. import executor
from ..cluster import Cluster
from ..network.media import RELAYS, WirelessHardware
from ..taskgraph import Compute, Multicast, TaskGraph, Upload
from .plan import PartitionPlan

__all__ = ["WirelessHardware", "wireless_graph", "wireless_cost", "layer_groups", "gather_groups", "RELAYS"]


# ---------------------------------------------------------------------- what travels
def layer_groups(plan: PartitionPlan, layer: int) -> list[tuple[int, tuple[int, ...], float]]:
    """``[(sender, destinations, values per sample)]`` of ``layer``: every unit a sender holds
    that other workers need, grouped by its destination set (each value counted once); then the
    shortcut values a residual add moves, one destination each."""
    held = plan.unit_values(layer)            # units x workers
    needs = np.asarray(plan.needs(layer), dtype=bool)   # workers x units
    out: list[tuple[int, tuple[int, ...], float]] = []
    for s in range(plan.workers):
        units = np.flatnonzero(held[:, s] > 0)
        if units.size == 0:
            continue
        wanted = needs[:, units].copy()
        wanted[s] = False
        sets, inverse = np.unique(wanted.T, axis=0, return_inverse=True)
        values = np.bincount(inverse.reshape(-1), weights=held[units, s], minlength=len(sets))
        for row, v in zip(sets, values):
            if row.any() and v > 0:
                out.append((s, tuple(int(k) for k in np.flatnonzero(row)), float(v)))
    residual = plan.residual_matrix(layer, values=True)  # shortcut channels whose owners differ
    out += [(int(s), (int(d),), float(residual[s, d])) for s, d in zip(*np.nonzero(residual > 0))]
    return out


def gather_groups(plan: PartitionPlan) -> list[tuple[int, tuple[int, ...], float]]:
    """The final gather as groups: each worker's outputs, to the fusion worker."""
    col = plan.gather_matrix()[:, plan.fusion]
    return [(int(s), (int(plan.fusion),), float(col[s])) for s in np.flatnonzero(col > 0)]


# ---------------------------------------------------------------------- the task graph
def wireless_graph(plan: PartitionPlan, hosts: list[str], hw: WirelessHardware, *, batch: int = 1,
                   activation_bits: int = 32, dtype: str = "fp32") -> TaskGraph:
    """One ``batch`` of ``plan`` on ``hosts`` (worker k is ``hosts[k]``, station k of ``hw``)."""
    if hw.workers != plan.workers:
        raise SpecError(f"wireless: plan has {plan.workers} workers but {hw.workers} distances were given")
    hosts = plan.check_graph_args(hosts, batch, activation_bits, dtype)
    g = TaskGraph(plan.name or "inference", workers=hosts)
    scale = float(activation_bits) * batch
    L = plan.num_layers
    before: list[int] = []   # every node of the previous phase: the next one starts after them
    for p in range(L + 1):
        name = f"L{p}" if p < L else "gather"
        groups = layer_groups(plan, p) if p < L else gather_groups(plan)
        air: list[int] = []
        if groups and hw.relay == "ap":
            sent = np.zeros(plan.workers)
            for s, _, v in groups:
                sent[s] += v
            up = g.upload({hosts[k]: float(sent[k]) * scale for k in np.flatnonzero(sent > 0)}, round=p,
                          deps=before, name=f"{name}/up", phase=name)
            air.append(up.id)
            air += [g.multicast("", [hosts[d] for d in dests], v * scale, round=p, deps=[up],
                                name=f"{name}/ap->{','.join(f'w{d}' for d in dests)}", phase=name).id
                    for _, dests, v in groups]
        elif groups:   # d2d: one chain of multicasts per sender, band shared among the senders under OFDMA
            senders = sorted({s for s, _, _ in groups})
            split = len(senders) if hw.access == "ofdma" else 1
            last: dict[int, list[int]] = {}
            for s, dests, v in groups:
                node = g.multicast(hosts[s], [hosts[d] for d in dests], v * scale, round=p, band_split=split,
                                   deps=last.get(s, before), name=f"{name}/w{s}->{','.join(f'w{d}' for d in dests)}",
                                   phase=name)
                last[s] = [node.id]
                air.append(node.id)
        computes = [g.compute(hosts[k], flops=flops, bytes=nbytes, dtype=dtype, deps=before + air,
                              name=f"{name}/w{k}", phase=name).id
                    for k, flops, nbytes in (plan.layer_work(p, batch, dtype) if p < L else [])]
        before = (computes + air) or before
    return g


def _phase_times(res: Any, graph: TaskGraph, phases: list[str]) -> dict[str, list[float]]:
    """Per phase: uplink (worker transmissions), downlink (the AP's), compute span and airtime (s)."""
    spans: dict[tuple[str, str], list[float]] = {}
    for node in graph:
        if isinstance(node, Compute):
            part = "compute"
        elif isinstance(node, Upload) or (isinstance(node, Multicast) and node.src):
            part = "uplink"
        elif isinstance(node, Multicast):
            part = "downlink"
        else:
            continue
        lo, hi = spans.get((node.phase, part), (np.inf, -np.inf))
        spans[(node.phase, part)] = [min(lo, res.node_start_s[node.id]), max(hi, res.node_finish_s[node.id])]
    out = {part: [float(np.subtract(*spans[(ph, part)][::-1])) if (ph, part) in spans else 0.0 for ph in phases]
           for part in ("uplink", "downlink", "compute")}
    out["airtime"] = [u + d for u, d in zip(out["uplink"], out["downlink"])]
    return out


def wireless_cost(plan: PartitionPlan, cluster: Cluster, hw: WirelessHardware, *, batch: int = 1,
                  activation_bits: int = 32) -> executor.ExecutionResult:
    """One ``batch`` of ``plan`` priced by the executor on ``cluster``'s first ``plan.workers`` hosts
    sharing the channel ``hw`` (see the module doc for ``stats``)."""
    hosts = cluster.hosts[:plan.workers]
    if len(hosts) < plan.workers:
        raise SpecError(f"plan needs {plan.workers} workers but the cluster has {len(hosts)} hosts")
    graph = wireless_graph(plan, hosts, hw, batch=batch, activation_bits=activation_bits)
    res = executor.run(graph, dataclasses.replace(cluster, medium=hw), trace=False)
    phases = [f"L{l}" for l in range(plan.num_layers)] + ["gather"]
    times = _phase_times(res, graph, phases)
    res.stats.update({f"{k}_per_phase_s": v for k, v in times.items()})
    res.stats.update(phases=phases, relay=hw.relay, airtime_s=float(sum(times["airtime"])))
    return res
