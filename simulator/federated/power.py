"""Power and channel-use management for over-the-air aggregation (``power: {policy: managed}``).

Every round, before the participants transmit, :class:`PowerManager` chooses the channel uses m
(``rlc``; ``baa`` always uses m = d), the truncation threshold g on the fading gain and the
common received amplitude eta of truncated channel inversion (device k sends b_k = eta / h_k
when abs(h~_k)^2 >= g, else stays silent), so that the aggregate meets a target MSE and every
device stays within its radio's power and a per-round energy budget, at the least airtime or
the least expected radio energy.

Error model (n participants with update norms n_k = ||g_k||^2, ref = mean n_k, a ~ Binomial(n, q)
devices above the threshold, q = P(abs(h~)^2 >= g), a uniformly random subset of the n given a):

    E||g_hat - g_bar||^2 = E[(1 + kappa) t_a V + kappa ||g_bar||^2 + d sigma^2 / (2 eta^2 a^2); a >= 1]
                           + P(a = 0) ||g_bar||^2

with t_a = (n - a) / (a (n - 1)) (sampling without replacement), V = ref - ||g_bar||^2 the spread
of the updates, sigma^2 = N0 W and kappa the random linear code's error factor
(d - 1)(p - m) / (m (p - 1)) (p = d padded to a power of two; 0 for BAA). The server knows the
norms but not ||g_bar||^2 in [0, ref]; the MSE is linear in it, so the manager holds the larger
of its two ends, a bound the realised MSE (over fading, code and noise) never exceeds.
``target_mse`` is relative to ref.

Constraints, for every round's fading (a device sends only when abs(h~)^2 >= g, so the worst
case is abs(h~)^2 = g): transmit power eta^2 n_k / (G_k g (m + 1)) <= P_max, and radio energy
eta^2 n_k / (G_k g W) + P_circuit (m + 1) / W <= ``energy_budget_j``. Expected radio energy:
sum_k q P_circuit (m + 1) / W + eta^2 n_k E[abs(h~)^-2; abs(h~)^2 >= g] / (G_k W), the fading
expectation E1(g) under Rayleigh fading (closed forms, quadrature for Rician).

The smallest eta meeting the target minimises energy at a given (m, g); the manager searches g
on a log grid refined by ``scipy.optimize.minimize_scalar`` and m on a geometric grid refined
by bisection for the least feasible m. When no (m, g) meets the target,
:class:`InfeasibleTarget` names the target and the best reachable MSE.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from scipy import integrate, optimize, special, stats

from hwmodels import SpecError
from hwmodels.checks import is_number
from hwmodels.channel import Channel
from simulator.network.wireless import POWER_POLICIES, _inversion_eta

__all__ = ["InfeasibleTarget", "ManagedPower", "PowerManager", "RoundPlan", "MANAGED_SCHEMES", "fading_moments",
           "code_error_factor"]

MANAGED_SCHEMES = ("baa", "rlc")
OBJECTIVES = ("airtime", "energy")
_G_GRID = np.geomspace(1e-4, 20.0, 241)   # truncation thresholds on the fading gain searched first


class InfeasibleTarget(SpecError):
    """No channel uses, threshold and power meet the target MSE within the budget."""


@dataclass(frozen=True)
class ManagedPower:
    """The ``power`` field of an FL spec: ``policy: managed``, ``target_mse`` (relative to the
    mean squared update norm), ``energy_budget_j`` (radio energy per device per round, J; None:
    only the radio's maximum power), ``objective`` (``airtime`` or ``energy``) and
    ``min_active`` (the least probability that a participant is above the threshold: an MSE
    target alone would accept silencing everyone, a zero estimate with relative MSE <= 1)."""

    target_mse: float
    energy_budget_j: Optional[float] = None
    objective: str = "energy"
    min_active: float = 0.5

    @classmethod
    def from_spec(cls, power: dict[str, Any], scheme: str, scheme_params: dict[str, Any]) -> Optional["ManagedPower"]:
        """None for ``{}`` (the scheme's own fixed settings); SpecError names a bad key."""
        if not power:
            return None
        known = ("policy", "target_mse", "energy_budget_j", "objective", "min_active")
        unknown = sorted(set(power) - set(known))
        if unknown:
            raise SpecError(f"fl: power: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if power.get("policy") != "managed":
            raise SpecError(f"fl: power: policy must be 'managed' (or leave power out for the scheme's fixed "
                            f"settings), got {power.get('policy')!r}")
        if scheme not in MANAGED_SCHEMES:
            raise SpecError(f"fl: power: managed power needs scheme {' or '.join(MANAGED_SCHEMES)}, got {scheme!r}")
        fixed = sorted({"channel_uses", "threshold", "policy", "policy_params"} & set(scheme_params))
        if fixed:
            raise SpecError(f"fl: power: managed power chooses {', '.join(fixed)}; remove them from scheme_params")
        target = power.get("target_mse")
        if not is_number(target) or not 0 < target:
            raise SpecError(f"fl: power: target_mse must be a number > 0 (MSE of the aggregate relative to the "
                            f"mean squared update norm), got {target!r}")
        budget = power.get("energy_budget_j")
        if budget is not None and (not is_number(budget) or not 0 < budget):
            raise SpecError(f"fl: power: energy_budget_j must be a number of joules > 0, got {budget!r}")
        objective = power.get("objective", "energy")
        if objective not in OBJECTIVES:
            raise SpecError(f"fl: power: objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        active = power.get("min_active", 0.5)
        if not is_number(active) or not 0 < active <= 1:
            raise SpecError(f"fl: power: min_active must be a probability in (0, 1], got {active!r}")
        return cls(float(target), None if budget is None else float(budget), objective, float(active))


def code_error_factor(d: int, m: int | np.ndarray) -> np.ndarray:
    """kappa: E||[T^T T x]_d - x||^2 = kappa ||x||^2 for the random linear code of m rows on d
    entries (padded to p): (d - 1)(p - m) / (m (p - 1)); p / m - 1 when d = p."""
    p = 1 << max(d - 1, 0).bit_length()
    m = np.asarray(m, dtype=float)
    return np.where(p > 1, (d - 1) * (p - m) / (m * max(p - 1, 1)), 0.0)


def fading_moments(channel: Channel, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q = P(abs(h~)^2 >= g) and E[abs(h~)^-2; abs(h~)^2 >= g] for the channel's fading: E1(g)
    under Rayleigh, quadrature of the noncentral chi-square density under Rician."""
    g = np.asarray(g, dtype=float)
    q = 1.0 - channel.fading_cdf(g)
    if channel.fading == "rayleigh":
        return q, special.exp1(g)
    if channel.fading == "none":
        return q, q.copy()
    k = channel.rician_k   # 2 (K + 1) abs(h~)^2 is noncentral chi-square, 2 dof, noncentrality 2K
    scale = 2.0 * (k + 1.0)
    dist = stats.ncx2(2, 2.0 * k)

    def tail(x: float) -> float:
        return integrate.quad(lambda u: scale / u * dist.pdf(u), scale * x, np.inf, limit=200)[0]

    return q, np.array([tail(x) for x in g.ravel()]).reshape(g.shape)


@dataclass(frozen=True)
class RoundPlan:
    """One round's choice: channel uses m (payload, without the side-information use), the
    threshold, eta, the predicted MSE bound (relative), each participant's expected transmit
    power and expected radio energy, and the airtime."""

    m: int
    threshold: float
    eta: float
    predicted_mse: float
    power_W: np.ndarray
    energy_j: np.ndarray
    airtime_s: float
    energy_budget_j: Optional[float]
    reference: float   # the mean squared update norm the plan was made for

    @property
    def energy_total_j(self) -> float:
        """Radio energy of every device over the round (J)."""
        return float(self.energy_j.sum())


class PowerManager:
    """Chooses (m, g, eta) per round for ``scheme`` (``baa`` or ``rlc``) on a d-entry update."""

    def __init__(self, config: ManagedPower, scheme: str, d: int) -> None:
        self.config, self.scheme, self.d = config, scheme, d
        self._moments: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._last: tuple[bytes, RoundPlan] | None = None   # the plan depends on norms / ref and gains only

    def _fading(self, channel: Channel) -> tuple[np.ndarray, np.ndarray]:
        key = id(channel)
        if key not in self._moments:
            self._moments[key] = fading_moments(channel, _G_GRID)
        return self._moments[key]

    def _terms(self, n: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(a = 0), E[t_a; a >= 1] and E[1/a^2; a >= 1] for a ~ Binomial(n, q) (q any shape)."""
        a = np.arange(n + 1)
        q = np.clip(np.asarray(q, dtype=float)[..., None], 0.0, 1.0)
        pmf = special.comb(n, a) * q ** a * (1.0 - q) ** (n - a)
        t = np.zeros(n + 1)
        inv2 = np.zeros(n + 1)
        if n > 1:
            t[1:] = (n - a[1:]) / (a[1:] * (n - 1))
        inv2[1:] = 1.0 / a[1:] ** 2
        return pmf[..., 0], pmf @ t, pmf @ inv2

    def evaluate(self, m: np.ndarray, g: np.ndarray, q: np.ndarray, tail: np.ndarray, norms: np.ndarray,
                 gains: np.ndarray, mac: Any) -> dict[str, np.ndarray]:
        """The model on a broadcast grid of (m, g) (``q`` and ``tail``: the fading moments at g):
        ``bias`` (relative MSE without noise), ``noise`` (relative noise MSE times eta^2),
        ``need`` and ``most`` (the least eta^2 meeting the target, the largest the power and
        budget allow; 0 when below ``min_active``) and ``energy`` (the participants' expected
        radio energy at the least eta, J)."""
        cfg, n, W = self.config, len(norms), mac.bandwidth_Hz
        ref = float(norms.mean())
        kappa = code_error_factor(self.d, m) if self.scheme == "rlc" else np.zeros_like(m, dtype=float)
        p0, ta, inv2 = self._terms(n, q)
        bias = np.maximum((1.0 + kappa) * ta, (1.0 - p0) * kappa + p0)
        noise = self.d * mac.noise_W * inv2 / (2.0 * ref)            # times 1/eta^2
        slack = cfg.target_mse - bias
        need = np.where(slack > 0, noise / np.where(slack > 0, slack, 1.0), np.inf)
        circuit = mac.radio.circuit_power_W * (m + 1.0)                # W x uses: joules x W
        room = mac.max_power_W * (m + 1.0)
        if cfg.energy_budget_j is not None:
            room = np.minimum(room, cfg.energy_budget_j * W - circuit)
        worst = float(np.min(gains / norms))
        most = np.where((room > 0) & (q >= cfg.min_active), g * worst * room, 0.0)
        spend = float(np.sum(norms / gains)) / W
        energy = n * q * circuit / W + need * tail * spend
        return {"bias": bias, "noise": noise, "need": need, "most": most, "energy": energy}

    def plan(self, norms: np.ndarray, gains: np.ndarray, mac: Any, round_: int | None = None) -> RoundPlan:
        """The round's (m, g, eta) for participants with update norms ``norms`` (||g_k||^2) and
        large-scale gains ``gains``; :class:`InfeasibleTarget` when none meets the target."""
        norms = np.maximum(np.asarray(norms, dtype=float), 1e-300)
        gains = np.asarray(gains, dtype=float)
        scale = float(norms.mean())
        key = (norms / scale).tobytes() + gains.tobytes() + str(id(mac)).encode()
        if self._last is not None and self._last[0] == key:   # the same round up to scale: eta ~ 1 / sqrt(ref)
            last = self._last[1]
            ratio = math.sqrt(last.reference / scale)
            return dataclasses.replace(last, eta=last.eta * ratio, reference=scale)
        plan = self._plan(norms, gains, mac, round_)
        self._last = (key, plan)
        return plan

    def _plan(self, norms: np.ndarray, gains: np.ndarray, mac: Any, round_: int | None) -> RoundPlan:
        q, tail = self._fading(mac.channel)
        if self.scheme == "rlc":
            ms = np.unique(np.round(np.geomspace(1, self.d, 96)).astype(int))
        else:
            ms = np.array([self.d])
        grid = self.evaluate(ms[:, None], _G_GRID[None, :], q[None, :], tail[None, :], norms, gains, mac)
        feasible = grid["need"] <= grid["most"]
        if not feasible.any():
            self._infeasible(grid, ms, round_)
        if self.config.objective == "airtime":
            i = int(np.flatnonzero(feasible.any(1))[0])
            m = self._least_m(int(ms[i - 1]) if i > 0 else 0, int(ms[i]), norms, gains, mac, q, tail)
        else:
            i, _ = np.unravel_index(np.argmin(np.where(feasible, grid["energy"], np.inf)), feasible.shape)
            m = self._cheapest_m(ms, int(i), norms, gains, mac, q, tail)
        return self._refine(m, norms, gains, mac, q, tail)

    def _least_energy(self, ms: np.ndarray, norms, gains, mac, q, tail) -> np.ndarray:
        """The least expected energy over the threshold grid for each m (inf if none is feasible)."""
        row = self.evaluate(ms[:, None], _G_GRID[None, :], q[None, :], tail[None, :], norms, gains, mac)
        return np.where(row["need"] <= row["most"], row["energy"], np.inf).min(1)

    def _cheapest_m(self, ms: np.ndarray, i: int, norms, gains, mac, q, tail) -> int:
        """The least-energy m between the grid's neighbours of ``ms[i]``: a bounded scalar search
        on the continuous m, then the integers around it and the grid point."""
        lo, hi = int(ms[max(i - 1, 0)]), int(ms[min(i + 1, len(ms) - 1)])
        if hi - lo <= 64:   # few enough to try them all
            cand = np.arange(lo, hi + 1)
        else:
            res = optimize.minimize_scalar(
                lambda m: float(np.minimum(self._least_energy(np.array([m]), norms, gains, mac, q, tail)[0], 1e300)),
                bounds=(lo, hi), method="bounded", options={"xatol": 0.5})
            cand = np.unique(np.clip([int(ms[i]), math.floor(res.x), math.ceil(res.x)], lo, hi))
        return int(cand[np.argmin(self._least_energy(cand, norms, gains, mac, q, tail))])

    def _feasible_m(self, m: int, norms, gains, mac, q, tail) -> bool:
        row = self.evaluate(np.array([[m]]), _G_GRID[None, :], q[None, :], tail[None, :], norms, gains, mac)
        return bool((row["need"] <= row["most"]).any())

    def _least_m(self, lo: int, hi: int, norms, gains, mac, q, tail) -> int:
        """Bisection between an infeasible ``lo`` and a feasible ``hi`` (the least m meeting the
        target between two grid points; feasibility is monotone there unless the circuit energy
        of a tight budget bites, when the grid point is kept)."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._feasible_m(mid, norms, gains, mac, q, tail):
                hi = mid
            else:
                lo = mid
        return hi

    def _refine(self, m: int, norms, gains, mac, q, tail) -> RoundPlan:
        """The least-energy threshold at ``m``: the best grid point, then a bounded scalar search
        between its neighbours (log g), keeping the grid point unless the search improves it."""
        row = self.evaluate(np.array([m]), _G_GRID, q, tail, norms, gains, mac)
        energy = np.where(row["need"] <= row["most"], row["energy"], np.inf)
        j = int(np.argmin(energy))
        lo, hi = math.log(_G_GRID[max(j - 1, 0)]), math.log(_G_GRID[min(j + 1, len(_G_GRID) - 1)])

        def at(log_g: float) -> dict[str, np.ndarray]:
            g = np.array([math.exp(log_g)])
            qg, tg = fading_moments(mac.channel, g)
            return self.evaluate(np.array([m]), g, qg, tg, norms, gains, mac)

        def cost(log_g: float) -> float:
            r = at(log_g)
            # a finite penalty off the feasible set: the bounded search's parabolas need numbers
            return float(r["energy"][0]) if r["need"][0] <= r["most"][0] else 1e3 * float(energy[j])

        best_log = math.log(_G_GRID[j])
        if hi > lo:
            res = optimize.minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
            if res.success and res.fun < energy[j]:
                best_log = float(res.x)
        r = at(best_log)
        g = math.exp(best_log)
        eta2 = float(r["need"][0])
        qg, tg = fading_moments(mac.channel, np.array([g]))
        W, uses = mac.bandwidth_Hz, m + 1
        transmit = eta2 * norms * float(tg[0]) / (gains * W)
        energy = float(qg[0]) * mac.radio.circuit_power_W * uses / W + transmit
        mse = float(r["bias"][0] + r["noise"][0] / eta2)
        return RoundPlan(m, g, math.sqrt(eta2), mse, transmit * W / uses, energy, uses / W,
                         self.config.energy_budget_j, float(norms.mean()))

    def _infeasible(self, grid: dict[str, np.ndarray], ms: np.ndarray, round_: int | None) -> None:
        most = grid["most"]
        reach = np.where(most > 0, grid["bias"] + grid["noise"] / np.where(most > 0, most, 1.0), np.inf)
        i, j = np.unravel_index(np.argmin(reach), reach.shape)
        budget = (f"an energy budget of {self.config.energy_budget_j:g} J per device per round"
                  if self.config.energy_budget_j is not None else "the radio's maximum power")
        where = f" in round {round_ + 1}" if round_ is not None else ""   # rounds count from 1, as in the rows
        if not np.isfinite(reach[i, j]):   # nothing is sent within the budget at all
            circuit = self.config.energy_budget_j is not None and grid["most"].max() == 0
            why = (f"the radio's circuit power alone costs more than the budget over m = {int(ms[0])} uses"
                   if circuit else f"no threshold keeps min_active {self.config.min_active:g} of the devices")
            raise InfeasibleTarget(f"fl: power: target_mse {self.config.target_mse:g} is not reachable{where} with "
                                   f"{budget} (scheme {self.scheme}): {why}; raise the budget")
        raise InfeasibleTarget(
            f"fl: power: target_mse {self.config.target_mse:g} is not reachable{where} with {budget} "
            f"(scheme {self.scheme}); the best reachable MSE is {float(reach[i, j]):.4g} "
            f"(m = {int(ms[i])}, threshold {_G_GRID[j]:.3g}): raise target_mse or the budget")


_policy = POWER_POLICIES.register


@_policy("planned")
def _planned(h, signal, peak, *, power, mac, uses, eta, threshold, energy_budget_j=None, **_):
    """Truncated inversion at a given ``eta`` and ``threshold`` (a :class:`RoundPlan`), capped so
    that no active device exceeds its power or ``energy_budget_j`` with the signal it sends."""
    active = np.abs(h) ** 2 / mac.path_gain >= threshold
    if not active.any():
        return None, active, 0.0
    h2 = np.abs(h) ** 2
    cap = _inversion_eta(h2, signal, active, power * (uses + 1) / uses)   # the side-information use shares the airtime
    if energy_budget_j is not None:
        room = np.maximum(energy_budget_j * mac.bandwidth_Hz - mac.radio.circuit_power_W * (uses + 1), 0.0)
        cap = min(cap, _inversion_eta(h2, signal * uses, active, np.full(len(h), room)))
    return None, active, float(min(eta, cap))
