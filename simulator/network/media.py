"""Shared wireless media a cluster's hosts can sit on, and their channel state.

Two kinds: :class:`WirelessHardware` (a channel priced at the Shannon rate of each SNR, for
uploads, multicasts and transmissions computed on the real tensors: partitioned inference and
federated rounds) and :class:`MacCell` (stations of a cell whose every transfer goes through the
radio's standard medium access: IEEE 802.11 DCF, 802.15.4 CSMA-CA or BLE connection events, with
their frame and contention overheads; :mod:`hwmodels.mac`).

:class:`WirelessHardware` describes a channel that K workers share with an access point (AP):
the worker radio, the channel model, one distance per worker (m), the access scheme
(:data:`~simulator.network.wireless.ACCESS`: ``tdma``, whole band in turn; ``ofdma``, band split
among concurrent senders), the ``relay
(:data:`RELAYS`: ``ap`` — workers do not hear each other, the AP decodes and forwards; ``d2d``
— workers hear each other directly), the AP's transmit power and the seed of its draws. The
executor's medium backend (:mod:`simulator.backends.medium`) prices uploads, multicasts and
precomputed transmissions on it; :class:`ChannelState` holds one run's draws (large-scale gains,
shadowing, block fading per phase and attempt), all from ``seed``, so every run of the same
hardware sees the same channel.

Multicast timing (:meth:`ChannelState.multicast`): a transmitter reaches every destination at
the rate of the worst one (Shannon rate of its SNR, capped at the radio's peak PHY rate); with a
fixed ``rate_bits_per_use`` an attempt is lost for every receiver whose capacity is below the
rate and is repeated in a fresh fading block for those still missing it, up to the MAC's
``max_attempts`` (then ``delivered`` is False). AP downlink SNR = AP power x the worker's
large-scale gain (reciprocity) x a fresh fading draw / the worker radio's noise. Worker-worker
(d2d) links use the same path-loss model at the worker-worker distance (3GPP models with both
ends at the UT height), one shadowing draw per pair, one fading draw per pair, phase and
attempt; distances are clamped into the model's valid range (and >= 0.1 m). Positions:
``positions_m`` (K x 2, AP at the origin) if given, else worker k sits at ``distances_m[k]`` at
an angle drawn uniformly in [0, 2 pi) from ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, ClassVar, Optional

import numpy as np

from hwmodels import Radio, SpecError, units
from hwmodels.channel import PATH_LOSS, Channel, capacity_bits_per_use
from hwmodels.checks import is_int, is_number
from hwmodels.mac import MacProfile, profile_for_radio
from hwmodels.registry import Registry

from ..engine import Simulation
from ..streams import numpy_stream
from .wireless import ACCESS, DigitalMAC

__all__ = ["WirelessHardware", "ChannelState", "MacCell", "RELAYS", "AP"]

# How data between two workers crosses the air: the one table of relay choices.
RELAYS: Registry[str] = Registry("relay")
RELAYS.add("ap", "workers do not hear each other: the AP decodes and forwards")
RELAYS.add("d2d", "workers hear each other directly")
_3GPP = ("uma-los", "uma-nlos", "umi-los", "umi-nlos")
_D2D_MIN_M = 0.1
_DOWN, _D2D_FADE, _D2D_SHADOW = 7, 8, 9   # rng sub-keys of the MAC's simulation
AP = "ap"   # the access point's name as a station of a cell (and as a host, when a server sits there)


@dataclass(frozen=True)
class MacCell:
    """``workers`` stations and an access point (AP) sharing one channel of ``radio`` under its
    standard medium access (``profile``, by default the radio's: :func:`hwmodels.mac.profile_for_radio`).

    Every point-to-point transfer and every message of a collective crosses the medium: station to
    AP and AP to station (two exchanges) in infrastructure mode, one exchange with ``direct`` (802.11
    TDLS, 802.15.4 peer to peer) or when one end is the AP's host (``ap_host``: a parameter server
    at the AP). The medium is half duplex: one exchange at a time, each priced by
    :func:`hwmodels.mac.exchange_timing` for the stations contending at that moment. The first
    ``workers`` hosts of the cluster are the stations.
    """

    radio: Radio
    workers: int
    profile: Optional[MacProfile] = None
    ap_host: Optional[str] = None
    direct: bool = False
    carries_traffic: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not is_int(self.workers) or self.workers < 1:
            raise SpecError(f"cell: workers must be an integer >= 1, got {self.workers!r}")
        if self.profile is None:
            object.__setattr__(self, "profile", profile_for_radio(self.radio))


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
        ACCESS.get(self.access, where="wireless")
        if self.relay not in RELAYS:   # not RELAYS.get: callers match this wording ("use one of")
            raise SpecError(f"wireless: unknown relay {self.relay!r}; use one of: {', '.join(RELAYS)}")
        p = self.ap_power_dbm
        if p is not None and not is_number(p):
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
        """Number of workers (one per distance)."""
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
        theta = numpy_stream(int(self.seed), "wireless.phases").uniform(0.0, 2.0 * math.pi, self.workers)
        return self.distances_m[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)

    def pair_distances_m(self) -> np.ndarray:
        """(K x K) worker-worker distances in metres (zero diagonal)."""
        pos = self.worker_positions()
        return np.hypot(pos[:, None, 0] - pos[None, :, 0], pos[:, None, 1] - pos[None, :, 1])


class ChannelState:
    """One run's draws on ``hw``: its uplink MAC, AP downlink and worker-worker gains, and
    multicast timing."""

    def __init__(self, hw: WirelessHardware) -> None:
        mac = hw.mac()
        self.hw, self.mac = hw, mac
        self.noise_W = hw.radio.noise_power_W()
        self.band_Hz = hw.radio.bandwidth_Hz
        self.rate = hw.rate_bits_per_use
        self.attempts = 1 if self.rate is None else mac.max_attempts
        self._pair_gain: Optional[np.ndarray] = None

    def sim_rng(self, *key: int) -> np.random.Generator:
        """A generator of the MAC's simulation for sub-key ``key`` (same draws every run)."""
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
