"""IEEE 802.11 DCF contention: Bianchi's saturation model and an independent slot-level simulation.

Bianchi's model (G. Bianchi, "Performance Analysis of the IEEE 802.11 Distributed
Coordination Function", IEEE JSAC 18(3):535-547, 2000) describes ``n`` saturated
stations, each with binary exponential backoff. Time runs in *generic slots*: an
idle slot of length sigma, a successful transmission T_s or a collision T_c. A
station at backoff stage i draws its counter uniformly from 0..W_i - 1 with
W_i = min(2^i W, CWmax + 1), W = CWmin + 1; the counter drops by one every
generic slot and the station transmits when it reaches 0. A collision moves the
station to stage i + 1; a success, or the last allowed attempt, back to stage 0.

The decoupling assumption (every attempt collides with the same probability p,
independent of the station's stage) gives

    tau = sum_i p^i / sum_i p^i (W_i + 1) / 2          (i over the allowed attempts)
    p   = 1 - (1 - tau)^(n - 1)

solved here with :func:`scipy.optimize.brentq`. With an unlimited retry count the
first line is Bianchi's Eq. (7), 2(1 - 2p) / ((1 - 2p)(W + 1) + pW(1 - (2p)^m));
with a retry limit it is the renewal form (mean attempts over mean slots per frame).
The saturated throughput is Eq. (13):

    S = P_s P_tr E[P] / ((1 - P_tr) sigma + P_tr P_s T_s + P_tr (1 - P_s) T_c).

:func:`simulate_dcf` plays the same protocol slot by slot with per-station counters
and stages (no tau, no p, no decoupling) and measures the throughput, so the two
can be checked against each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from .checks import check_positive
from .errors import SpecError
from .exchange import check_contenders

__all__ = ["Backoff", "DcfTiming", "Contention", "DcfSample", "bianchi", "bianchi_tau_unlimited",
           "saturation_throughput_bps", "simulate_dcf", "bianchi_fhss_timing", "BIANCHI_FHSS_BACKOFF"]


@dataclass(frozen=True)
class Backoff:
    """Binary exponential backoff: contention windows in slots and the retry limit.

    ``cw_min``/``cw_max`` are the standard's aCWmin/aCWmax (a counter is drawn from
    0..CW); ``retry_limit`` is the most transmission attempts of one frame
    (dot11ShortRetryLimit, 7 by default in IEEE Std 802.11-2020 Annex C); ``None``
    retries forever, as in Bianchi's paper.
    """

    cw_min: int = 15
    cw_max: int = 1023
    retry_limit: int | None = None

    def __post_init__(self) -> None:
        check_positive(self, "cw_min", "cw_max", integer=True)
        ratio = (self.cw_max + 1) / (self.cw_min + 1)
        if ratio < 1 or not float(ratio).is_integer() or int(ratio) & (int(ratio) - 1):
            raise SpecError(f"Backoff: (cw_max + 1) / (cw_min + 1) must be a power of two (CW doubles), "
                            f"got cw_min={self.cw_min}, cw_max={self.cw_max}")
        if self.retry_limit is not None:
            check_positive(self, "retry_limit", integer=True)

    @property
    def max_stage(self) -> int:
        """Bianchi's m: the number of doublings from CWmin + 1 to CWmax + 1."""
        return int(round(math.log2((self.cw_max + 1) / (self.cw_min + 1))))

    def window(self, stage: np.ndarray | int) -> np.ndarray:
        """W_i = min(2^i (CWmin + 1), CWmax + 1): the counter is drawn from 0..W_i - 1."""
        return (self.cw_min + 1) * 2 ** np.minimum(np.asarray(stage), self.max_stage)


@dataclass(frozen=True)
class DcfTiming:
    """Durations of Bianchi's generic slots (s) and the payload of one success (bits)."""

    slot_s: float
    success_s: float
    collision_s: float
    payload_bits: float

    def __post_init__(self) -> None:
        check_positive(self, "slot_s", "success_s", "collision_s", "payload_bits")


@dataclass(frozen=True)
class Contention:
    """The solved fixed point for ``stations`` saturated stations and what follows from it."""

    stations: int
    tau: float      # probability that a station transmits in a generic slot
    p: float        # probability that an attempt collides
    p_tr: float     # probability that a generic slot is busy
    p_s: float      # probability that a busy slot is a success

    @property
    def idle_slots_per_success(self) -> float:
        """Mean idle slots the medium spends per successful transmission: (1 - P_tr) / (P_tr P_s)."""
        return (1.0 - self.p_tr) / (self.p_tr * self.p_s)

    @property
    def collisions_per_success(self) -> float:
        """Mean collisions the medium spends per successful transmission: (1 - P_s) / P_s."""
        return (1.0 - self.p_s) / self.p_s

    @property
    def attempts_per_success(self) -> float:
        """Mean transmissions one station makes per frame it delivers, collided ones included: 1 / (1 - p)."""
        return 1.0 / (1.0 - self.p)

    def time_per_success_s(self, timing: DcfTiming) -> float:
        """Mean medium time per success: idle slots, collisions and the success itself."""
        return (self.idle_slots_per_success * timing.slot_s + self.collisions_per_success * timing.collision_s
                + timing.success_s)


def bianchi_tau_unlimited(p: float, backoff: Backoff) -> float:
    """Bianchi's Eq. (7) for unlimited retries, written without the removable 0/0 at p = 1/2."""
    w, m = backoff.cw_min + 1, backoff.max_stage
    return 2.0 / (1.0 + w + p * w * sum((2.0 * p) ** i for i in range(m)))


def _tau(p: float, backoff: Backoff) -> float:
    if backoff.retry_limit is None:
        return bianchi_tau_unlimited(p, backoff)
    stages = np.arange(backoff.retry_limit)
    weights = p ** stages
    return float(weights.sum() / (weights * (backoff.window(stages) + 1) / 2.0).sum())


@lru_cache(maxsize=512)
def bianchi(stations: int, backoff: Backoff) -> Contention:
    """Solve Bianchi's fixed point for ``stations`` saturated stations (brentq on p)."""
    n = check_contenders(stations)
    if n == 1:
        p = 0.0
    else:
        p = brentq(lambda q: q - 1.0 + (1.0 - _tau(q, backoff)) ** (n - 1), 0.0, 1.0, xtol=1e-15)
    tau = _tau(p, backoff)
    p_tr = 1.0 - (1.0 - tau) ** n
    p_s = 1.0 if n == 1 else n * tau * (1.0 - tau) ** (n - 1) / p_tr
    return Contention(n, tau, p, p_tr, p_s)


def saturation_throughput_bps(stations: int, backoff: Backoff, timing: DcfTiming) -> float:
    """Bianchi's saturated throughput S (payload bit/s over the whole medium), Eq. (13)."""
    c = bianchi(stations, backoff)
    return timing.payload_bits / c.time_per_success_s(timing)


@dataclass(frozen=True)
class DcfSample:
    """What :func:`simulate_dcf` measured: throughput (payload bit/s), collision probability per attempt."""

    throughput_bps: float
    collision_probability: float
    successes: int
    time_s: float


def simulate_dcf(stations: int, backoff: Backoff, timing: DcfTiming, rng: np.random.Generator, *,
                 transmissions: int = 100_000, replicas: int = 64) -> DcfSample:
    """Saturated DCF played generic slot by generic slot, in ``replicas`` independent cells at once.

    Each station keeps its own counter and attempt count. Per step, every cell runs
    its idle slots until the smallest counter reaches 0 (``min(counter)`` idle slots),
    then the stations at 0 transmit: alone it is a success (``timing.success_s``),
    otherwise a collision (``timing.collision_s``). Every other station's counter
    drops by one in that busy slot, as in Bianchi's chain. A station that collided
    moves one stage up (window doubling, capped at CWmax + 1) and, after
    ``retry_limit`` attempts, drops the frame and starts the next at stage 0; a
    successful one starts its next frame at stage 0. ``transmissions`` is the total
    number of busy slots simulated over all replicas.
    """
    n = check_contenders(stations)
    if replicas < 1 or transmissions < replicas:
        raise SpecError(f"simulate_dcf: need replicas >= 1 and transmissions >= replicas, "
                        f"got replicas={replicas}, transmissions={transmissions}")
    attempt = np.zeros((replicas, n), dtype=np.int64)     # failed attempts of the current frame
    counter = rng.integers(0, backoff.window(0), size=(replicas, n))
    time_s = np.zeros(replicas)
    successes = np.zeros(replicas, dtype=np.int64)
    attempts_total = collided_total = 0
    for _ in range(math.ceil(transmissions / replicas)):
        idle = counter.min(axis=1)
        counter -= idle[:, None]
        sending = counter == 0
        senders = sending.sum(axis=1)
        alone = senders == 1
        time_s += idle * timing.slot_s + np.where(alone, timing.success_s, timing.collision_s)
        successes += alone
        attempts_total += int(senders.sum())
        collided_total += int(senders[~alone].sum())
        counter -= ~sending
        failed = sending & ~alone[:, None]
        attempt = np.where(sending, np.where(failed, attempt + 1, 0), attempt)
        if backoff.retry_limit is not None:
            attempt[attempt >= backoff.retry_limit] = 0
        fresh = rng.integers(0, backoff.window(attempt))
        counter = np.where(sending, fresh, counter)
    total_time = float(time_s.sum())
    total_successes = int(successes.sum())
    return DcfSample(timing.payload_bits * total_successes / total_time, collided_total / attempts_total,
                     total_successes, total_time)


# Bianchi (2000), Table II: the FHSS PHY parameters of his numerical results.
BIANCHI_FHSS_BACKOFF = Backoff(cw_min=31, cw_max=255)   # W = 32, m = 3 (Figs. 4-7)


def bianchi_fhss_timing(payload_bits: float = 8184.0, *, rts_cts: bool = False) -> DcfTiming:
    """Bianchi's Table II: 1 Mbit/s channel, 128-bit PHY header, 272-bit MAC header, 112-bit ACK/CTS
    plus PHY header, 160-bit RTS plus PHY header, slot 50 us, SIFS 28 us, DIFS 128 us, propagation
    delay 1 us; T_s and T_c of his Eqs. (14) (basic access) and (15) (RTS/CTS)."""
    bit = 1e-6
    phy, mac = 128 * bit, 272 * bit
    ack, cts, rts = 112 * bit + phy, 112 * bit + phy, 160 * bit + phy
    sifs, difs, delta = 28e-6, 128e-6, 1e-6
    header = phy + mac
    payload = payload_bits * bit
    if rts_cts:
        success = rts + sifs + delta + cts + sifs + delta + header + payload + sifs + delta + ack + difs + delta
        collision = rts + difs + delta
    else:
        success = header + payload + sifs + delta + ack + difs + delta
        collision = header + payload + difs + delta
    return DcfTiming(slot_s=50e-6, success_s=success, collision_s=collision, payload_bits=payload_bits)
