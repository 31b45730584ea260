"""The wireless multiple-access channel (MAC): K devices, one receiver, one shared band.

:class:`MultipleAccessChannel` holds what every scheme shares: the devices' radio, channel,
distances, large-scale gains (one shadowing draw per device) and block fading (one draw per
device and round, from ``Simulation.rng``). Schemes implement only how airtime is shared and
what the receiver gets:

* digital (:class:`DigitalMAC`, registered ``tdma`` and ``ofdma``, the choices of
  :data:`ACCESS`): ``upload(bits, round)``
  prices B_k bits per device at the Shannon rate of its SNR, or at a fixed rate (bit per
  channel use) with outage and retransmission in a fresh fading block;
* analog over the air (:class:`AnalogMAC`, ``analog``): ``superpose(x, round, policy)`` sends
  the rows of ``x`` at once over ``x.shape[1]`` channel uses; the receiver gets
  y = sum_k h_k b_k x_k + z, z ~ CN(0, N0 W), computed on the real tensors.

Schemes are looked up by name in :data:`MAC_SCHEMES` (:func:`create_mac`); power policies
(:data:`POWER_POLICIES`, :func:`power_plan`) choose b_k. Every transmission records one
``airtime`` span per active device in the simulation's trace and returns a :class:`Transmission`
whose per-device energy is P_k T_k (+ circuit power times T_k).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Optional

import numpy as np
import torch
from scipy import special

from hwmodels import Radio, SpecError
from hwmodels.channel import Channel, capacity_bits_per_use
from hwmodels.checks import is_int
from hwmodels.registry import Registry, bind_params

from ..energy import radio_energy_j
from ..engine import Simulation

__all__ = ["MultipleAccessChannel", "DigitalMAC", "AnalogMAC", "Transmission", "PowerPlan", "PowerPolicy",
           "ACCESS", "POWER_POLICIES", "MAC_SCHEMES", "power_plan", "create_mac"]

# How a digital MAC shares the band: the one table of access choices (the MAC, the wireless
# media of simulator.network.media and the MAC_SCHEMES below all read it).
ACCESS: Registry[str] = Registry("access")
ACCESS.add("tdma", "the whole band to one device at a time: airtime is the sum of the devices' times")
ACCESS.add("ofdma", "the band split evenly among the active devices: airtime is the longest device's time")


@dataclass
class Transmission:
    """One round's use of the channel: airtime, per-device transmit time, power and energy."""

    airtime_s: float
    tx_time_s: np.ndarray
    tx_power_W: np.ndarray
    energy_j: np.ndarray
    channel_uses: float
    delivered: np.ndarray
    received: Optional[torch.Tensor] = None
    plan: Optional["PowerPlan"] = None
    attempts: Optional[np.ndarray] = None
    offsets_s: Optional[np.ndarray] = None   # when each device starts transmitting, from the round's start
    bits: Optional[np.ndarray] = None        # digital: the bits each device sent (None over the air)


class MultipleAccessChannel:
    """Base of every scheme: devices, gains, fading, noise and the bookkeeping of a round."""

    scheme = "mac"

    def __init__(self, sim: Simulation, radio: Radio, channel: Channel, distances_m: np.ndarray, *, key: int = 0) -> None:
        self.sim, self.radio, self.channel, self.key = sim, radio, channel, key
        self.distances_m = channel.check_distances(distances_m)
        self.devices = len(self.distances_m)
        gain_dB = radio.tx_antenna_gain_dBi + radio.rx_antenna_gain_dBi
        self.path_gain = channel.large_scale_gain(self.distances_m, radio.carrier_frequency_Hz, sim.rng(key, 0), gain_dB)
        self.bandwidth_Hz = radio.bandwidth_Hz
        self.noise_W = radio.noise_power_W()
        self.max_power_W = radio.max_tx_power_W
        self.clock_s = 0.0

    def fading(self, round_: int, attempt: int = 0) -> np.ndarray:
        """Small-scale coefficients of every device in ``round_`` (block fading; one block per attempt)."""
        return self.channel.fade(self.sim.rng(self.key, 1, round_, attempt), self.devices)

    def gains(self, round_: int, attempt: int = 0) -> np.ndarray:
        """Complex channel coefficients sqrt(G_k) h_k of ``round_``."""
        return np.sqrt(self.path_gain) * self.fading(round_, attempt)

    def mean_snr(self) -> np.ndarray:
        """Average received SNR at full power over the full band, P G_k / (N0 W)."""
        return self.max_power_W * self.path_gain / self.noise_W

    def _finish(self, start_s: float, tx: Transmission, offsets_s: np.ndarray) -> Transmission:
        """Radio energy (transmit plus circuit power, :func:`~simulator.energy.radio_energy_j`),
        the spans starting at ``start_s`` + offsets, and the clock advanced."""
        tx.energy_j = radio_energy_j(self.radio, tx_s=tx.tx_time_s, tx_power_W=tx.tx_power_W)
        tx.offsets_s = offsets_s
        busy = np.flatnonzero(tx.tx_time_s > 0)
        begin = start_s + offsets_s[busy]
        self.sim.trace.record_many([f"dev{k}" for k in busy], "airtime", begin, begin + tx.tx_time_s[busy],
                                   names=self.scheme)
        self.clock_s = max(self.clock_s, start_s + tx.airtime_s)
        return tx


class DigitalMAC(MultipleAccessChannel):
    """TDMA (whole band in turn; airtime = sum T_k) or OFDMA (W/n each; airtime = max T_k).

    ``rate_bits_per_use=None``: Shannon rate of each device's SNR. Else a fixed MCS: an attempt
    whose capacity is below the rate is lost and retried in a fresh fading block, up to
    ``max_attempts`` (then the device's update is not delivered).
    """

    def __init__(self, sim: Simulation, radio: Radio, channel: Channel, distances_m: np.ndarray, *,
                 access: str = "tdma", rate_bits_per_use: Optional[float] = None, max_attempts: int = 8, key: int = 0) -> None:
        super().__init__(sim, radio, channel, distances_m, key=key)
        ACCESS.get(access, where="digital MAC")
        if rate_bits_per_use is not None and not rate_bits_per_use > 0:
            raise SpecError(f"digital MAC: rate_bits_per_use must be > 0, got {rate_bits_per_use!r}")
        if not is_int(max_attempts) or max_attempts < 1:
            raise SpecError(f"digital MAC: max_attempts must be an integer >= 1, got {max_attempts!r}")
        self.access, self.rate, self.max_attempts = access, rate_bits_per_use, max_attempts
        self.scheme = access

    def upload(self, bits: np.ndarray, round_: int, start_s: Optional[float] = None) -> Transmission:
        """Send ``bits[k]`` (bits) from every device with bits > 0 (the active ones) in ``round_``,
        starting at ``start_s`` (s; default the MAC's clock)."""
        bits = np.asarray(bits, dtype=float)
        if bits.shape != (self.devices,) or (bits < 0).any():
            raise SpecError(f"digital MAC: bits must be {self.devices} non-negative numbers")
        active = bits > 0
        n = max(int(active.sum()), 1)
        band = self.bandwidth_Hz / n if self.access == "ofdma" else self.bandwidth_Hz
        noise = self.noise_W * band / self.bandwidth_Hz
        attempts = np.zeros(self.devices, dtype=int)
        time = np.zeros(self.devices)
        delivered = np.zeros(self.devices, dtype=bool)
        pending = active.copy()
        for attempt in range(1 if self.rate is None else self.max_attempts):
            if not pending.any():
                break
            snr = self.max_power_W * np.abs(self.gains(round_, attempt)) ** 2 / noise
            cap = capacity_bits_per_use(snr)
            if self.rate is None:
                rate_bps, ok = self.radio.rate_bps(snr, band), pending
            else:
                rate_bps, ok = np.full(self.devices, band * self.rate), pending & (cap >= self.rate)
            time[pending] += bits[pending] / rate_bps[pending]
            attempts[pending] += 1
            delivered |= ok
            pending = pending & ~ok
        offsets = np.concatenate([[0.0], np.cumsum(time)[:-1]]) if self.access == "tdma" else np.zeros(self.devices)
        airtime = float(time.sum() if self.access == "tdma" else time.max(initial=0.0))
        power = np.where(active, self.max_power_W, 0.0)
        tx = Transmission(airtime, time, power, np.zeros(self.devices), airtime * self.bandwidth_Hz, delivered,
                          attempts=attempts, bits=bits * attempts)
        return self._finish(self.clock_s if start_s is None else start_s, tx, offsets)


# ---------------------------------------------------------------------- power policies
@dataclass
class PowerPlan:
    """Per-device precoders b_k (complex), the common received amplitude eta (the receiver
    gets eta x_k from every active device; nan when gains differ) and the active mask."""

    precoder: np.ndarray
    eta: float
    active: np.ndarray
    effective: np.ndarray = field(default_factory=lambda: np.zeros(0))   # h_k b_k


# policy(h, signal, peak, *, power, mac, uses, **options) -> (precoders or None for inversion
# at eta, active mask, eta): h the complex gains, signal and peak each device's mean and largest
# x^2, power the devices' power limits (W), uses the channel uses; options are the user's.
PowerPolicy = Callable[..., tuple[Optional[np.ndarray], np.ndarray, float]]
POWER_POLICIES: Registry[PowerPolicy] = Registry("power policy")
_POLICY_GIVEN = ("h", "signal", "peak", "power", "mac", "uses")   # what power_plan passes itself


def _inversion_eta(h2: np.ndarray, signal: np.ndarray, active: np.ndarray, power: np.ndarray) -> float:
    """The largest common eta with eta^2 s_k / |h_k|^2 <= P_k for every active device."""
    if not active.any():
        return 0.0
    return float(np.sqrt(np.min(power[active] * h2[active] / np.maximum(signal[active], 1e-300))))


@POWER_POLICIES.register("full-power")
def _full_power(h, signal, peak, *, power, mac, uses):
    """Every device at full power, phase-corrected: b_k = sqrt(P / s_k) conj(h_k)/|h_k| (unequal gains)."""
    amp = np.sqrt(power / np.maximum(signal, 1e-300))
    return amp * np.conj(h) / np.maximum(np.abs(h), 1e-300), np.ones(len(h), dtype=bool), math.nan


@POWER_POLICIES.register("inversion")
def _inversion(h, signal, peak, *, power, mac, uses):
    """Channel inversion b_k = eta / h_k for all; the weakest device sets eta (instantaneous power)."""
    active = np.ones(len(h), dtype=bool)
    return None, active, _inversion_eta(np.abs(h) ** 2, signal, active, power)


@POWER_POLICIES.register("truncated")
def _truncated(h, signal, peak, *, power, mac, uses, threshold=0.1, average=True):
    """Truncated inversion (BAA): silent if the fading gain |h~|^2 < threshold; ``average``:
    eta^2 = min_k P G_k / (s_k E1(threshold)) meets the power on average over Rayleigh fading
    (E[|h~|^-2; |h~|^2 >= g] = E1(g)); else instantaneous inversion among the active."""
    if not threshold >= 0:
        raise SpecError(f"power policy truncated: threshold must be >= 0, got {threshold!r}")
    small = np.abs(h) ** 2 / mac.path_gain
    active = small >= threshold
    if not active.any():
        return None, active, 0.0
    if average and threshold > 0:   # the silent do not limit eta
        limit = power * mac.path_gain / (np.maximum(signal, 1e-300) * special.exp1(threshold))
        return None, active, float(math.sqrt(np.min(limit[active])))
    return None, active, _inversion_eta(np.abs(h) ** 2, signal, active, power)


@POWER_POLICIES.register("cotaf")
def _cotaf(h, signal, peak, *, power, mac, uses, threshold=0.0):
    """COTAF scaling: one precoder alpha_t = P / max_k s_k for all, with inversion of the active
    (fading gain >= threshold): eta^2 = alpha_t min_k G_k |h~_k|^2."""
    active = np.abs(h) ** 2 / mac.path_gain >= threshold
    if not active.any():
        return None, active, 0.0
    return None, active, float(math.sqrt(np.min(power[active] * np.abs(h[active]) ** 2) / signal[active].max()))


@POWER_POLICIES.register("energy-budget")
def _energy_budget(h, signal, peak, *, power, mac, uses, budget_J):
    """Inversion under a per-round energy budget: P_k <= min(P_max, budget W / m)."""
    if not budget_J > 0:
        raise SpecError(f"power policy energy-budget: budget_J must be > 0, got {budget_J!r}")
    capped = np.minimum(power, budget_J * mac.bandwidth_Hz / uses)
    return _inversion(h, signal, peak, power=capped, mac=mac, uses=uses)


@POWER_POLICIES.register("power-cap")
def _power_cap(h, signal, peak, *, power, mac, uses, peak_W):
    """Inversion with a per-channel-use cap: eta^2 max_j x_kj^2 / |h_k|^2 <= peak_W as well."""
    if not peak_W > 0:
        raise SpecError(f"power policy power-cap: peak_W must be > 0, got {peak_W!r}")
    active = np.ones(len(h), dtype=bool)
    h2 = np.abs(h) ** 2
    eta = min(_inversion_eta(h2, signal, active, power), _inversion_eta(h2, peak, active, np.full(len(h), float(peak_W))))
    return None, active, eta


def power_plan(policy: str, mac: MultipleAccessChannel, h: np.ndarray, x: torch.Tensor,
               senders: Optional[np.ndarray] = None, **params: object) -> PowerPlan:
    """Precoders of ``policy`` for channel ``h`` and signals ``x`` (K x m real); only ``senders``
    (default: all) may be active, the others' rows are ignored. ``params`` are the policy's
    options (checked against its parameters before the call)."""
    fn = POWER_POLICIES.get(policy)
    allowed = [n for n, p in inspect.signature(fn).parameters.items()
               if p.kind is p.KEYWORD_ONLY and n not in _POLICY_GIVEN]
    unknown = sorted(set(params) - set(allowed))
    if unknown:   # all of them, in this wording (bind_params names the first only)
        raise SpecError(f"power policy {policy!r}: unknown parameter(s) {', '.join(unknown)}; "
                        f"known: {', '.join(allowed) or 'none'}")
    bind_params(fn, params, f"power policy {policy!r}", given=_POLICY_GIVEN)   # a missing one
    senders = np.ones(len(h), dtype=bool) if senders is None else np.asarray(senders, dtype=bool)
    if not senders.any():
        return PowerPlan(np.zeros(len(h), dtype=complex), 0.0, senders.copy(), np.zeros(len(h), dtype=complex))
    xd = x.detach().double()[torch.from_numpy(np.flatnonzero(senders))]
    signal = np.zeros(len(h))   # placeholders for the silent: they never limit eta
    peak = np.zeros(len(h))
    signal[senders] = (xd ** 2).mean(1).numpy()
    peak[senders] = (xd ** 2).amax(1).numpy()
    signal[~senders] = np.min(signal[senders])
    peak[~senders] = np.min(peak[senders])
    h_all = h
    h = np.where(senders, h, np.max(np.abs(h[senders])) + 0j)
    pre, active, eta = fn(h, signal, peak, power=np.full(len(h), mac.max_power_W), mac=mac, uses=x.shape[1], **params)
    active = active & senders
    if pre is None:
        pre = np.where(active, eta / np.where(active, h, 1.0), 0.0)
    pre = np.where(active, pre, 0.0)
    return PowerPlan(pre, eta, active, h_all * pre)


class AnalogMAC(MultipleAccessChannel):
    """Over-the-air computation: every active device sends its row of ``x`` at once."""

    scheme = "analog"

    def superpose(self, x: torch.Tensor, round_: int, policy: str = "truncated", *, extra_uses: int = 0,
                  noise: bool = True, senders: Optional[np.ndarray] = None, start_s: Optional[float] = None,
                  **params: object) -> Transmission:
        """y = sum_k h_k b_k x_k + z over m = x.shape[1] uses (+ ``extra_uses`` for side information).

        ``x`` is K x m real (a row per device); only ``senders`` (default all) transmit.
        ``received`` is y as a complex128 tensor; airtime is (m + extra) / W.
        """
        if x.dim() != 2 or x.shape[0] != self.devices:
            raise SpecError(f"analog MAC: x must be {self.devices} x m, got {tuple(x.shape)}")
        m = x.shape[1]
        h = self.gains(round_)
        plan = power_plan(policy, self, h, x, senders, **params)
        xd = x.detach().double()
        a = torch.from_numpy(plan.effective)
        y = torch.complex(a.real @ xd, a.imag @ xd)
        if noise:
            gen = torch.Generator().manual_seed(int(self.sim.rng(self.key, 2, round_).integers(2 ** 62)))
            scale = math.sqrt(self.noise_W / 2.0)
            y = y + torch.complex(torch.randn(m, generator=gen, dtype=torch.float64),
                                  torch.randn(m, generator=gen, dtype=torch.float64)) * scale
        uses = m + extra_uses
        airtime = uses / self.bandwidth_Hz
        sent = plan.active & (np.abs(plan.precoder) > 0)
        energy = np.abs(plan.precoder) ** 2 * (xd ** 2).sum(1).numpy() / self.bandwidth_Hz
        time = np.where(sent, airtime, 0.0)
        power = np.divide(energy, time, out=np.zeros(self.devices), where=time > 0)
        tx = Transmission(airtime, time, power, np.zeros(self.devices), float(uses), sent, received=y, plan=plan)
        return self._finish(self.clock_s if start_s is None else start_s, tx, np.zeros(self.devices))


# name -> factory (sim, radio, channel, distances_m, **options): a digital MAC per access
# choice, then over-the-air computation
MAC_SCHEMES: Registry[Callable[..., MultipleAccessChannel]] = Registry("MAC scheme")
for _access in ACCESS:
    MAC_SCHEMES.add(_access, partial(DigitalMAC, access=_access))
MAC_SCHEMES.add("analog", AnalogMAC)
_MAC_GIVEN = ("sim", "radio", "channel", "distances_m", "access")   # what create_mac passes or the scheme fixes


def create_mac(scheme: str, sim: Simulation, radio: Radio, channel: Channel, distances_m: np.ndarray,
               **params: object) -> MultipleAccessChannel:
    """A registered MAC scheme by name (SpecError lists the known ones) for devices at
    ``distances_m`` (m); ``params`` are the scheme's options (checked before the call)."""
    factory = MAC_SCHEMES.get(scheme)
    bind_params(factory, params, f"MAC scheme {scheme!r}", given=_MAC_GIVEN)
    return factory(sim, radio, channel, distances_m, **params)
