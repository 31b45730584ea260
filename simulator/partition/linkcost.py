"""What moving one activation between two workers costs on the simulated hardware, and how fast
each worker computes: the inputs of RePurpose's link-aware assignment (``lam_c``, ``link_cost``)
and of the optimiser's compute-worker search (``compute_workers``, ``share="speed"``).

:func:`link_cost` -> (K x K) matrix c, c[s, k] the cost of moving one activation of one batch
from worker s to worker k, c[k, k] = 0, normalised so the mean off-diagonal entry is 1:

* wired cluster: the path latency plus the link time the transfer occupies on every link of the
  path, sum over links of bits / capacity (so a slow link and every extra hop both count: that
  is what other transfers contend for);
* shared wireless channel (:class:`~.wireless_cost.WirelessHardware`), at Shannon rates of the
  mean SNR over the whole band at full power (capped by the radio's peak PHY rate): relay ``ap``,
  the source's uplink bits / rate_up[s] plus the access point's downlink bits / rate_down[k]
  (AP power, the worker's large-scale gain); relay ``d2d``, bits / rate[s, k] at the pair's
  distance (median path loss: no shadowing draw). Broadcast (one transmission heard by several
  destinations) is not modelled here: c prices one (activation, destination) pair;
* shared cell (:class:`~simulator.network.media.MacCell`): one exchange of the activation under the
  radio's medium access per hop (two through the access point, one direct), no contention: the
  same for every pair.

:func:`speeds` -> each worker's compute rate (1 / seconds of one GFLOP on it, slowdown included);
:func:`compute_order` ranks the workers for ``compute_workers``: the fastest first, ties broken
by the input energy the worker's sensors hold (sum of E[x_i^2] over its features: a worker
computes best next to informative inputs), then by index. (The fusion worker runs the last
layer whatever its rank.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwmodels import SpecError
from hwmodels.checks import is_int
from hwmodels.mac import exchange_time_s

from ..cluster import Cluster
from .common import PartitionContext

__all__ = ["link_cost", "speeds", "compute_order", "compute_share", "normalise"]


def normalise(c: np.ndarray) -> np.ndarray:
    """``c`` with a zero diagonal, scaled so its mean off-diagonal entry is 1 (unchanged if all zero)."""
    c = np.array(c, dtype=float)
    np.fill_diagonal(c, 0.0)
    k = len(c)
    if k > 1:
        mean = c.sum() / (k * (k - 1))
        if mean > 0:
            c /= mean
    return c


def link_cost(cluster: Cluster, workers: int, *, activation_bits: int = 32, batch: int = 1,
              wireless: Any = None, normalised: bool = True) -> np.ndarray:
    """(workers x workers) cost of moving one activation (``activation_bits`` x ``batch`` bits) from
    worker s (host ``cluster.hosts[s]``) to worker k; see the module doc. ``normalised=False``
    gives seconds."""
    if not is_int(workers) or workers < 1:
        raise SpecError(f"link cost: workers must be a positive integer, got {workers!r}")
    bits = float(activation_bits) * float(batch)
    c = np.zeros((workers, workers))
    if wireless is not None:
        if wireless.workers != workers:
            raise SpecError(f"link cost: {workers} workers but the wireless hardware places {wireless.workers}")
        c[:] = _wireless_seconds(wireless, bits)
    elif cluster.medium_carries_traffic:   # a cell: every activation crosses its medium alone
        cell = cluster.medium
        hops = 1 if cell.direct else 2
        c[:] = hops * exchange_time_s(cell.profile, bits / 8.0, 1)
    else:
        hosts = cluster.hosts
        if len(hosts) < workers:
            raise SpecError(f"link cost: {workers} workers but the cluster has {len(hosts)} hosts")
        topo = cluster.topology
        for s in range(workers):
            for k in range(workers):
                if s != k:
                    path = topo.path(hosts[s], hosts[k])
                    c[s, k] = float(topo.latency_s[path].sum() + (bits / 8.0 / topo.capacity_Bps[path]).sum())
    np.fill_diagonal(c, 0.0)
    if not np.all(np.isfinite(c)):
        raise SpecError("link cost: some worker pair has no finite transfer time (a link of zero bandwidth?)")
    return normalise(c) if normalised else c


def _wireless_seconds(hw: Any, bits: float) -> np.ndarray:
    """(K x K) seconds of one activation over the channel at the mean SNR (whole band, full power)."""
    mac = hw.mac()
    radio = hw.radio

    def seconds(snr: np.ndarray) -> np.ndarray:
        return bits / np.maximum(radio.rate_bps(snr), 1e-300)

    if hw.relay == "d2d":  # worker to worker at the pair's distance, median path loss (no shadowing draw)
        d = np.maximum(hw.pair_distances_m() + np.eye(hw.workers), 0.1)
        flat = d.reshape(-1)
        try:
            flat = hw.channel.check_distances(flat)
        except SpecError:
            flat = np.clip(flat, 1.0, None)
        loss = np.asarray(hw.channel.path_loss_dB(flat, radio.carrier_frequency_Hz), dtype=float).reshape(d.shape)
        gain_db = radio.tx_antenna_gain_dBi + radio.rx_antenna_gain_dBi - loss
        return seconds(radio.max_tx_power_W * 10.0 ** (gain_db / 10.0) / mac.noise_W)
    up = seconds(mac.mean_snr())                                        # uplink of the source
    down = seconds(hw.ap_power_W * mac.path_gain / mac.noise_W)
    return up[:, None] + down[None, :]                                  # ... then the AP's downlink to k


def speeds(cluster: Cluster, workers: int, dtype: str = "fp32") -> np.ndarray:
    """Compute rate of each of the first ``workers`` hosts: 1 / seconds of one GFLOP (slowdown included)."""
    hosts = cluster.hosts[:workers]
    if len(hosts) < workers:
        raise SpecError(f"{workers} workers but the cluster has {len(hosts)} hosts")
    return np.array([1.0 / cluster.compute_time(h, flops=1e9, bytes_=0.0, dtype=dtype) for h in hosts])


def compute_order(cluster: Cluster, ctx: PartitionContext, dtype: str = "fp32") -> list[int]:
    """Workers in the order they get capacity (see the module doc)."""
    speed = speeds(cluster, ctx.workers, dtype)
    x = np.asarray(ctx.calibration, dtype=np.float64)
    energy = np.bincount(ctx.input_owner, weights=(x ** 2).mean(0), minlength=ctx.workers)
    # speeds equal to 9 significant digits tie (same device), so the input energy decides
    key = [(-float(f"{speed[k]:.9g}"), -float(energy[k]), k) for k in range(ctx.workers)]
    return [k for *_, k in sorted(key)]


def compute_share(cluster: Cluster, ctx: PartitionContext, compute_workers: int | None = None, *, by_speed: bool = True,
                  dtype: str = "fp32") -> np.ndarray:
    """Relative neuron capacity of every worker: the first ``compute_workers`` of :func:`compute_order`
    get a share (proportional to their speed with ``by_speed``, else equal), the others 0 (pure
    sensors that only send their inputs). ``None``: every worker computes."""
    k_all = ctx.workers
    n = k_all if compute_workers is None else compute_workers
    if not is_int(n) or not 1 <= n <= k_all:
        raise SpecError(f"compute_workers: every entry must be an integer in 1..{k_all} (the workers), got {n!r}")
    share = np.zeros(k_all)
    chosen = compute_order(cluster, ctx, dtype)[:int(n)]
    speed = speeds(cluster, k_all, dtype)
    share[chosen] = speed[chosen] / speed[chosen].max() if by_speed else 1.0
    if by_speed and np.allclose(share[chosen], share[chosen][0], rtol=1e-9, atol=0.0):
        share[chosen] = 1.0  # identical devices: exactly equal shares (same capacities as share=None)
    return share
