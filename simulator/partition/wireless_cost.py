"""A partition plan's cost when its workers share one wireless channel (one band, half duplex).

:class:`WirelessHardware` is the worker radio, the channel, one distance per worker to the
access point (AP), the access scheme (``tdma`` or ``ofdma``), the ``relay`` and the seed;
:func:`wireless_cost` prices one batch of ``plan`` on it. A phase is a layer ``l`` (its inputs
travel, then the workers compute) or the final gather; phases and their hops do not overlap.

What travels (per sample, times ``activation_bits`` x batch): at layer ``l`` every unit a worker
holds that some *other* worker needs (:meth:`PartitionPlan.unit_values`, :meth:`~PartitionPlan.needs`),
**once**, however many workers need it (a wireless transmission is heard by every receiver; the
per-sender total is :meth:`PartitionPlan.broadcast_values`). Its *destination set* is the workers
that need it; the gather sends every final output the fusion worker does not own to the fusion
worker (always a worker, never the AP).

Relays (:data:`RELAYS`):

* ``ap`` (default): the workers do not hear each other; the AP decodes and forwards. Uplink:
  every sender uploads its values once over the :class:`~simulator.network.wireless.DigitalMAC`
  (TDMA: whole band in turn, airtime = sum; OFDMA: band split among the senders, airtime = max;
  Shannon rate of the SNR at full power, capped at the radio's ``max_phy_rate``). Downlink: the
  AP broadcasts each group of values with the same destination set once, over the whole band,
  at the rate of the *worst* destination in the set (SNR = AP power x the worker's large-scale
  gain (same shadowing: reciprocity) x a fresh fading draw / the worker radio's noise). The AP is
  one transmitter, so its groups go one after another whatever the access (an OFDMA downlink
  with sub-bands sized to the loads and power split in proportion takes the same time). AP
  transmit power: ``ap_power_dbm`` (default the radio's maximum).
* ``d2d``: workers hear each other directly (no AP involved). Each sender broadcasts each group
  once at the rate of its worst destination over the worker-worker channel; senders share the
  band by TDMA (airtime = sum of the senders' times) or OFDMA (W/n each, airtime = max).
  Worker-worker links use the same path-loss model at the worker-worker distance (3GPP models
  with both ends at the UT height), one shadowing draw per pair, one fading draw per pair, phase
  and attempt; distances are clamped into the model's valid range (and >= 0.1 m).
  Positions: ``positions_m`` (K x 2, AP at the origin) if given, else worker k sits at
  ``distances_m[k]`` at an angle drawn uniformly in [0, 2 pi) from ``seed``
  (:meth:`WirelessHardware.worker_positions`).

There is no ``uplink-only`` relay: charging only the uplink is physical only when the AP itself
consumes the activations, and here every layer is computed by the workers.

Fixed ``rate_bits_per_use``: an attempt is lost for every receiver whose capacity is below the
rate and is repeated in a fresh fading block for those still missing it, up to 8 attempts
(then ``delivered`` is False).

Fading blocks: phase p's uplink is MAC round p; its downlink and d2d hops use their own draws
(p, attempt). Deterministic from ``seed``: each call builds a fresh MAC, so every plan sees the
same shadowing, fading and positions.

latency = sum over phases of (uplink + downlink airtime + the slowest worker's compute time).
Energies (J): ``radio_energy_j`` = the *workers'* transmit energy (P T + circuit power x T of
every transmission); ``ap_energy_j`` = the AP's (AP power + circuit power) x downlink airtime,
reported separately and **not** in ``energy_j`` (the AP is mains powered); ``energy_j`` = workers'
radio energy + device energy (active power while computing, idle power otherwise over the
latency, as :func:`simulator.executor.run` charges it). Reception costs no extra energy beyond
the idle power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import numpy as np

from hwmodels import Radio, SpecError, units
from hwmodels.channel import PATH_LOSS, Channel, capacity_bits_per_use

from ..cluster import Cluster
from ..engine import Simulation
from ..network.wireless import DigitalMAC
from ..taskgraph import Compute

__all__ = ["WirelessHardware", "WirelessCost", "wireless_cost", "layer_groups", "gather_groups", "RELAYS"]

RELAYS = ("ap", "d2d")
_3GPP = ("uma-los", "uma-nlos", "umi-los", "umi-nlos")
_D2D_MIN_M = 0.1
_DOWN, _D2D_FADE, _D2D_SHADOW = 7, 8, 9   # rng sub-keys of the MAC's simulation


@dataclass(frozen=True)
class WirelessHardware:
    """Radio, channel, one distance (m) per worker to the AP, access (``tdma``/``ofdma``),
    ``relay`` (``ap``/``d2d``), AP transmit power (dBm, default the radio's maximum), optional
    worker positions (m, K x 2, AP at the origin) and the seed."""

    radio: Radio
    channel: Channel
    distances_m: np.ndarray
    access: str = "tdma"
    seed: int = 0
    rate_bits_per_use: Optional[float] = None
    relay: str = "ap"
    ap_power_dbm: Optional[float] = None
    positions_m: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.access not in ("tdma", "ofdma"):
            raise SpecError(f"wireless: unknown access {self.access!r}; known: tdma, ofdma")
        if self.relay not in RELAYS:
            raise SpecError(f"wireless: unknown relay {self.relay!r}; use one of: {', '.join(RELAYS)}")
        p = self.ap_power_dbm
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p)):
            raise SpecError(f"wireless: ap_power_dbm must be a finite number of dBm (e.g. 20), got {p!r}")
        object.__setattr__(self, "distances_m", self.channel.check_distances(self.distances_m))
        if self.positions_m is not None:
            pos = np.asarray(self.positions_m, dtype=float)
            if pos.shape != (self.workers, 2) or not np.isfinite(pos).all():
                raise SpecError(f"wireless: positions_m must be {self.workers} rows of finite x, y in metres, "
                                f"got shape {pos.shape}")
            if not np.allclose(np.hypot(pos[:, 0], pos[:, 1]), self.distances_m, rtol=1e-6, atol=1e-9):
                raise SpecError("wireless: positions_m must lie at distances_m from the AP (origin); "
                                "give matching ones or omit positions_m")
            object.__setattr__(self, "positions_m", pos)

    @property
    def workers(self) -> int:
        return len(self.distances_m)

    @property
    def ap_power_W(self) -> float:
        """The AP's transmit power in watts."""
        if self.ap_power_dbm is None:
            return float(self.radio.max_tx_power_W)
        return units.dbm_to_watts(float(self.ap_power_dbm))

    def mac(self) -> DigitalMAC:
        """A fresh MAC (same draws every time for the same seed)."""
        return DigitalMAC(Simulation(self.seed, trace=False), self.radio, self.channel, self.distances_m,
                          access=self.access, rate_bits_per_use=self.rate_bits_per_use)

    def worker_positions(self) -> np.ndarray:
        """(K x 2) positions in metres, AP at the origin: ``positions_m``, else worker k at
        ``distances_m[k]`` and an angle uniform in [0, 2 pi) drawn from ``seed``."""
        if self.positions_m is not None:
            return self.positions_m
        theta = np.random.default_rng(np.random.SeedSequence([int(self.seed), 0xD2D])).uniform(0.0, 2.0 * math.pi,
                                                                                               self.workers)
        return self.distances_m[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)

    def pair_distances_m(self) -> np.ndarray:
        """(K x K) worker-worker distances in metres (zero diagonal)."""
        pos = self.worker_positions()
        return np.hypot(pos[:, None, 0] - pos[None, :, 0], pos[:, None, 1] - pos[None, :, 1])


@dataclass
class WirelessCost:
    """One batch: times in s, energies in J. Per-phase lists run over ``phases`` (L0.., gather);
    under ``d2d`` the workers' direct broadcasts are the ``uplink`` and ``downlink`` is zero."""

    latency_s: float
    energy_j: float
    airtime_s: float
    radio_energy_j: float
    busy_s: dict[str, float]
    airtime_per_phase: list[float] = field(default_factory=list)
    compute_per_phase: list[float] = field(default_factory=list)
    uplink_per_phase: list[float] = field(default_factory=list)
    downlink_per_phase: list[float] = field(default_factory=list)
    ap_energy_j: float = 0.0
    relay: str = "ap"
    phases: list[str] = field(default_factory=list)
    delivered: bool = True
    air_bits: float = 0.0  # bits transmitted over the air for the batch: uplinks, relays and direct broadcasts


# ---------------------------------------------------------------------- what travels
def layer_groups(plan: Any, layer: int) -> list[tuple[int, tuple[int, ...], float]]:
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


def gather_groups(plan: Any) -> list[tuple[int, tuple[int, ...], float]]:
    """The final gather as groups: each worker's outputs, to the fusion worker."""
    col = plan.gather_matrix()[:, plan.fusion]
    return [(int(s), (int(plan.fusion),), float(col[s])) for s in np.flatnonzero(col > 0)]


# ---------------------------------------------------------------------- links
class _Links:
    """Downlink (AP -> worker) and worker-worker gains of one MAC, and multicast timing."""

    def __init__(self, hw: WirelessHardware, mac: DigitalMAC) -> None:
        self.hw, self.mac = hw, mac
        self.noise_W = hw.radio.noise_power_W()
        self.band_Hz = hw.radio.bandwidth_Hz
        self.rate = hw.rate_bits_per_use
        self.attempts = 1 if self.rate is None else mac.max_attempts
        self._pair_gain: Optional[np.ndarray] = None

    def sim_rng(self, *key: int) -> np.random.Generator:
        return self.mac.sim.rng(self.mac.key, *key)

    def down_snr(self, phase: int, attempt: int) -> np.ndarray:
        """(K,) SNR at every worker of the AP's transmission over the whole band."""
        h = self.hw.channel.fade(self.sim_rng(_DOWN, phase, attempt), self.hw.workers)
        return self.hw.ap_power_W * self.mac.path_gain * np.abs(h) ** 2 / self.noise_W

    def pair_gain(self) -> np.ndarray:
        """(K x K) symmetric large-scale worker-worker gains (one shadowing draw per pair)."""
        if self._pair_gain is None:
            ch = self.hw.channel
            if ch.path_loss in _3GPP:
                ch = replace(ch, bs_height_m=ch.ut_height_m)
            low, high = PATH_LOSS[ch.path_loss].range_m
            k = self.hw.workers
            iu = np.triu_indices(k, 1)
            gain = np.zeros((k, k))
            if len(iu[0]):
                d = np.clip(self.hw.pair_distances_m()[iu], max(low, _D2D_MIN_M), high)
                radio = self.hw.radio
                g = ch.large_scale_gain(d, radio.carrier_frequency_Hz, self.sim_rng(_D2D_SHADOW),
                                        radio.tx_antenna_gain_dBi + radio.rx_antenna_gain_dBi)
                gain[iu] = g
                gain = gain + gain.T
            self._pair_gain = gain
        return self._pair_gain

    def d2d_snr(self, sender: int, phase: int, attempt: int, band_Hz: float) -> np.ndarray:
        """(K,) SNR at every worker of ``sender`` at full power on a ``band_Hz`` share."""
        k = self.hw.workers
        h = self.hw.channel.fade(self.sim_rng(_D2D_FADE, phase, attempt), (k, k))
        h = np.triu(h, 1) + np.triu(h, 1).T   # one draw per pair (reciprocal)
        noise = self.noise_W * band_Hz / self.band_Hz
        return self.hw.radio.max_tx_power_W * self.pair_gain()[sender] * np.abs(h[sender]) ** 2 / noise

    def multicast(self, bits: float, dests: tuple[int, ...], band_Hz: float,
                  snr: Callable[[int], np.ndarray]) -> tuple[float, bool]:
        """Time to get ``bits`` to every one of ``dests`` (rate of the worst; with a fixed rate,
        repeated in fresh blocks for those that lost it) and whether all got it."""
        pending = np.asarray(dests, dtype=int)
        time = 0.0
        for attempt in range(self.attempts):
            if pending.size == 0:
                break
            worst = snr(attempt)[pending]
            if self.rate is None:
                return bits / float(self.hw.radio.rate_bps(worst.min(), band_Hz)), True
            cap = capacity_bits_per_use(worst)
            time += bits / (band_Hz * self.rate)
            pending = pending[cap < self.rate]
        return time, pending.size == 0


# ---------------------------------------------------------------------- pricing
def wireless_cost(plan: Any, cluster: Cluster, hw: WirelessHardware, *, batch: int = 1,
                  activation_bits: int = 32) -> WirelessCost:
    """Latency and energy of one ``batch`` of ``plan`` with worker k at ``hw.distances_m[k]``."""
    if hw.workers != plan.workers:
        raise SpecError(f"wireless: plan has {plan.workers} workers but {hw.workers} distances were given")
    hosts = cluster.hosts[:plan.workers]
    if len(hosts) < plan.workers:
        raise SpecError(f"plan needs {plan.workers} workers but the cluster has {len(hosts)} hosts")
    # The task graph validates batch and activation_bits and gives the compute of every layer.
    graph = plan.task_graph(hosts, batch=batch, activation_bits=activation_bits)
    L = plan.num_layers
    phases = [f"L{l}" for l in range(L)] + ["gather"]
    compute: dict[str, dict[str, float]] = {p: {} for p in phases}
    busy = {h: 0.0 for h in hosts}
    for node in graph:
        if isinstance(node, Compute):
            tag = node.name.split("/", 1)[0]
            t = cluster.compute_time(node.worker, node.flops, node.bytes, node.dtype, node.duration_s)
            compute.setdefault(tag, {})
            compute[tag][node.worker] = compute[tag].get(node.worker, 0.0) + t
            busy[node.worker] += t
    scale = float(activation_bits) * batch
    mac = hw.mac()
    links = _Links(hw, mac)
    up, down, comp = [], [], []
    radio_j = ap_j = air_bits = 0.0
    delivered = True
    for p, name in enumerate(phases):
        groups = layer_groups(plan, p) if p < L else gather_groups(plan)
        t_up = t_down = 0.0
        if groups and hw.relay == "ap":
            if p < L:
                sent = np.asarray(plan.broadcast_values(p), dtype=float) * scale
            else:
                sent = np.zeros(plan.workers)
                for s, _, v in groups:
                    sent[s] += v * scale
            tx = mac.upload(sent, p, start_s=0.0)
            air_bits += float(sent.sum()) + sum(v for _, _, v in groups) * scale  # up, then the AP's relay
            t_up = float(tx.airtime_s)
            radio_j += float(tx.energy_j.sum())
            delivered &= bool(tx.delivered[sent > 0].all())
            snr = lambda a, p=p: links.down_snr(p, a)  # noqa: E731
            for _, dests, v in groups:
                t, ok = links.multicast(v * scale, dests, links.band_Hz, snr)
                t_down += t
                delivered &= ok
            ap_j += (hw.ap_power_W + hw.radio.circuit_power_W) * t_down
        elif groups:   # d2d
            senders = sorted({s for s, _, _ in groups})
            air_bits += sum(v for _, _, v in groups) * scale
            band = links.band_Hz / len(senders) if hw.access == "ofdma" else links.band_Hz
            per = np.zeros(plan.workers)
            for s, dests, v in groups:
                snr = lambda a, s=s, p=p: links.d2d_snr(s, p, a, band)  # noqa: E731
                t, ok = links.multicast(v * scale, dests, band, snr)
                per[s] += t
                delivered &= ok
            t_up = float(per.sum() if hw.access == "tdma" else per.max())
            radio_j += float(((hw.radio.max_tx_power_W + hw.radio.circuit_power_W) * per).sum())
        up.append(t_up)
        down.append(t_down)
        comp.append(max(compute.get(name, {}).values(), default=0.0))
    air = [u + d for u, d in zip(up, down)]
    latency = float(sum(air) + sum(comp))
    device_j = 0.0
    for h in hosts:
        dev = cluster.device(h)
        device_j += dev.active_power_W * busy[h] + dev.idle_power_W * max(0.0, latency - busy[h])
    return WirelessCost(latency, device_j + radio_j, float(sum(air)), radio_j, busy, air, comp, up, down,
                        ap_j, hw.relay, phases, delivered, air_bits)
