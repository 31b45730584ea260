"""Aggregation schemes of a federated round: how K clients' updates reach the server.

Each scheme gets the participants' flattened updates U (n x d, float32), the round and the
MAC, and returns the server's estimate of their mean and the round's :class:`Transmission`.
Registered by name (:data:`AGGREGATORS`):

========= ===================================================================================
ideal     the exact mean; no channel, no airtime
digital   any registered compressor per client, bits sent by TDMA or OFDMA (Shannon or fixed
          rate with outage and retransmission); mean of the delivered, decoded updates
baa       broadband analog aggregation (Zhu et al.): one entry per channel use, truncated
          channel inversion; estimate Re(y) / (eta |S|)
cotaf     COTAF (Sery et al.): precoder alpha_t = P / max_k ||x_k||^2/d; estimate Re(y)/(eta |S|)
rlc       analog compressive coding: T = H_m R / sqrt(m) shared by all (m rows of a Hadamard
          matrix, random signs), x_k = T g_k over m uses; estimate T^T Re(y) / (eta |S|)
adsgd     A-DSGD (Amiri & Gunduz): error accumulation, top-k, a common Gaussian projection over
          m - 1 uses, channel inversion, AMP recovery of the sparse mean
========= ===================================================================================

Analog schemes send one real entry per complex channel use (the receiver reads the real part,
noise variance N0 W / 2), plus one extra use telling the server |S| (and eta).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hwmodels import SpecError
from hwmodels.checks import is_int
from hwmodels.registry import Registry
from simulator.compression import State, create
from simulator.compression.fwht import fwht
from simulator.streams import numpy_stream, torch_stream
from simulator.network.wireless import AnalogMAC, DigitalMAC, Transmission

__all__ = ["AGGREGATORS", "Aggregator", "aggregator", "RandomLinearCode"]


class Aggregator:
    """Base: ``mac_kind`` says which MAC it needs; ``aggregate`` is the hook."""

    name = "aggregator"
    mac_kind = "analog"

    def __init__(self, dimension: int, seed: int, policy: str = "truncated", policy_params: dict | None = None,
                 **params: Any) -> None:
        if params:
            raise SpecError(f"scheme {self.name!r}: unknown parameter(s) {', '.join(sorted(params))}")
        self.d, self.seed = dimension, seed
        self.policy, self.policy_params = policy, dict(policy_params or {})
        self.manager: Any = None        # a PowerManager choosing m, threshold and eta per round (power: managed)
        self.last_plan: Any = None      # the manager's latest RoundPlan

    def aggregate(self, updates: torch.Tensor, clients: np.ndarray, round_: int,
                  mac: Any) -> tuple[torch.Tensor, Transmission | None]:
        """Hook: the server's estimate of the mean of ``updates`` (rows: ``clients``) and the
        round's transmission (None when nothing crosses the air)."""
        raise NotImplementedError

    def _plan(self, updates: torch.Tensor, clients: np.ndarray, round_: int, mac: AnalogMAC) -> Any:
        """The manager's plan for this round's participants (None with fixed settings)."""
        if self.manager is None:
            return None
        norms = (updates.double() ** 2).sum(1).numpy()
        self.last_plan = self.manager.plan(norms, mac.path_gain[clients], mac, round_)
        return self.last_plan

    def _over_the_air(self, x: torch.Tensor, clients: np.ndarray, round_: int, mac: AnalogMAC, noise: bool = True,
                      plan: Any = None):
        """Send the participants' rows ``x`` (n x m) over the air; silent rows for the others.
        With a manager's ``plan``: truncated inversion at its eta and threshold (policy ``planned``)."""
        full = torch.zeros(mac.devices, x.shape[1], dtype=x.dtype)
        full[torch.from_numpy(clients)] = x
        senders = np.zeros(mac.devices, dtype=bool)
        senders[clients] = True
        policy, params = self.policy, self.policy_params
        if plan is not None:
            policy, params = "planned", {"eta": plan.eta, "threshold": plan.threshold,
                                         "energy_budget_j": plan.energy_budget_j}
        tx = mac.superpose(full, round_, policy, extra_uses=1, noise=noise, senders=senders, **params)
        count = int(tx.plan.active[clients].sum())
        return tx, count

    @staticmethod
    def _divisor(tx: Transmission, count: int) -> float:
        """eta |S|: what the received sum is divided by. Without a common eta (``full-power``),
        the sum of the effective real gains: a weighted, biased mean under fading."""
        eta = tx.plan.eta
        return eta * count if math.isfinite(eta) else float(tx.plan.effective.real[tx.plan.active].sum())


AGGREGATORS: Registry[type[Aggregator]] = Registry("FL scheme")


def _register(cls: type[Aggregator]) -> type[Aggregator]:
    """Register an aggregator class under its ``name``."""
    return AGGREGATORS.add(cls.name, cls)


def aggregator(name: str, dimension: int, seed: int, **params: Any) -> Aggregator:
    """A registered scheme for ``dimension`` model entries; SpecError lists the known ones."""
    return AGGREGATORS.get(name)(dimension, seed, **params)


@_register
class Ideal(Aggregator):
    """The exact mean of the updates, nothing over the air (an upper bound)."""
    name, mac_kind = "ideal", "none"

    def aggregate(self, updates: torch.Tensor, clients: np.ndarray, round_: int,
                  mac: Any) -> tuple[torch.Tensor, Transmission | None]:
        """The participants' mean update; no transmission."""
        return updates.mean(0), None


@_register
class Digital(Aggregator):
    """Compress every update with a registered compressor, upload the exact bits."""

    name, mac_kind = "digital", "digital"

    def __init__(self, dimension: int, seed: int, compressor: str = "none", compressor_params: dict | None = None,
                 **params: Any) -> None:
        super().__init__(dimension, seed, **params)
        self.compressor = create(compressor, **(compressor_params or {}))
        self.states: dict[int, State] = {}

    def aggregate(self, updates: torch.Tensor, clients: np.ndarray, round_: int,
                  mac: DigitalMAC) -> tuple[torch.Tensor, Transmission | None]:
        """Compress each participant's update, upload the bits; the compressor's aggregate of those delivered."""
        states = [self.states.setdefault(int(k), State(self.seed, int(k), 0, 0)) for k in clients]
        payloads = []
        for u, st in zip(updates, states):
            st.step = round_
            payloads.append(self.compressor.compress(u, st))
        bits = np.zeros(mac.devices)
        bits[clients] = [p.nbits for p in payloads]
        tx = mac.upload(bits, round_)
        ok = [i for i, k in enumerate(clients) if tx.delivered[k]]
        if not ok:
            return torch.zeros(self.d), tx
        est = self.compressor.aggregate([payloads[i] for i in ok], [states[i] for i in ok])
        return est.reshape(-1), tx


@_register
class BAA(Aggregator):
    """Broadband analog aggregation: the raw update entries, truncated channel inversion."""

    name = "baa"

    def __init__(self, dimension: int, seed: int, threshold: float = 0.1, **params: Any) -> None:
        params.setdefault("policy", "truncated")
        pp = dict(params.pop("policy_params", None) or {})
        if params["policy"] in ("truncated", "cotaf"):
            pp.setdefault("threshold", threshold)
        super().__init__(dimension, seed, policy_params=pp, **params)

    def aggregate(self, updates: torch.Tensor, clients: np.ndarray, round_: int, mac: AnalogMAC,
                  noise: bool = True) -> tuple[torch.Tensor, Transmission | None]:
        """The raw updates over the air; the received sum divided by eta times the active count."""
        plan = self._plan(updates, clients, round_, mac)
        tx, count = self._over_the_air(updates, clients, round_, mac, noise, plan)
        if count == 0:
            return torch.zeros(self.d), tx
        return (tx.received.real / self._divisor(tx, count)).float(), tx


@_register
class COTAF(BAA):
    """COTAF: a common precoder from the largest update (policy ``cotaf``)."""

    name = "cotaf"

    def __init__(self, dimension: int, seed: int, threshold: float = 0.0, **params: Any) -> None:
        params.setdefault("policy", "cotaf")
        super().__init__(dimension, seed, threshold=threshold, **params)


class RandomLinearCode:
    """T = H_m R / sqrt(m): m rows S of the p x p Sylvester Hadamard matrix (p = d padded to a
    power of two), R a random +-1 diagonal; S and R drawn from (seed, round). E[T^T T] = I."""

    def __init__(self, d: int, m: int, seed: int, round_: int) -> None:
        self.d, self.m = d, m
        self.p = 1 << max(d - 1, 0).bit_length()
        rng = numpy_stream(seed, "fl.participants", round_)
        self.signs = torch.from_numpy(rng.choice([-1.0, 1.0], self.p)).float()
        self.rows = torch.from_numpy(np.sort(rng.choice(self.p, m, replace=False)))

    def encode(self, g: torch.Tensor) -> torch.Tensor:
        """T g for each row of ``g`` (n x d) -> n x m."""
        padded = torch.nn.functional.pad(g.float(), (0, self.p - self.d)) * self.signs
        return fwht(padded)[..., self.rows] / math.sqrt(self.m)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """T^T y for y of length m -> length d (float32)."""
        full = torch.zeros(self.p)
        full[self.rows] = y.float()
        return (fwht(full[None])[0] * self.signs)[: self.d] / math.sqrt(self.m)


@_register
class RLC(Aggregator):
    """Analog compressive coding over ``channel_uses`` (m) uses per round, 1 <= m <= d."""

    name = "rlc"

    def __init__(self, dimension: int, seed: int, channel_uses: int | None = None, **params: Any) -> None:
        super().__init__(dimension, seed, **params)
        m = dimension if channel_uses is None else channel_uses
        if not is_int(m) or not 1 <= m <= dimension:
            raise SpecError(f"scheme rlc: channel_uses must be an integer with 1 <= m <= d = {dimension}, got {m!r}")
        self.m = m

    def aggregate(self, updates: torch.Tensor, clients: np.ndarray, round_: int, mac: AnalogMAC,
                  noise: bool = True) -> tuple[torch.Tensor, Transmission | None]:
        """The coded updates (m channel uses) over the air, decoded by T^T."""
        plan = self._plan(updates, clients, round_, mac)
        code = RandomLinearCode(self.d, self.m if plan is None else plan.m, self.seed, round_)
        tx, count = self._over_the_air(code.encode(updates), clients, round_, mac, noise, plan)
        if count == 0:
            return torch.zeros(self.d), tx
        return code.decode(tx.received.real / self._divisor(tx, count)).float(), tx



def amp_recover(a: torch.Tensor, y: torch.Tensor, iterations: int = 30, alpha: float = 1.5) -> torch.Tensor:
    """Approximate message passing (Donoho, Maleki, Montanari 2009) with soft thresholding at
    alpha times the residual's RMS: a sparse x with a x ~= y, for a with N(0, 1/n) entries."""
    n = a.shape[0]
    x = torch.zeros(a.shape[1], dtype=y.dtype)
    z = y.clone()
    for _ in range(iterations):
        r = x + a.T @ z
        theta = alpha * z.norm() / math.sqrt(n)
        x_new = torch.sign(r) * torch.clamp(r.abs() - theta, min=0.0)
        z = y - a @ x_new + z * (int((x_new != 0).sum()) / n)
        x = x_new
    return x


@_register
class ADSGD(Aggregator):
    """A-DSGD (Amiri & Gunduz): error accumulation, top-``sparsity`` per device, a common
    Gaussian projection A ((m - 1) x d, N(0, 1/(m - 1)), fixed by the seed) sent over the air
    with channel inversion (one more use carries the scale), AMP recovery of the sparse mean at
    the server. The over-the-air estimate of A mean(s_k) is unbiased; the recovery is not."""

    name = "adsgd"

    def __init__(self, dimension: int, seed: int, channel_uses: int | None = None, sparsity: int | None = None,
                 amp_iterations: int = 30, amp_alpha: float = 1.5, **params: Any) -> None:
        params.setdefault("policy", "inversion")
        super().__init__(dimension, seed, **params)
        m = channel_uses if channel_uses is not None else max(2, dimension // 4)
        if not is_int(m) or not 2 <= m <= dimension:
            raise SpecError(f"scheme adsgd: channel_uses must be an integer with 2 <= m <= d = {dimension}, got {m!r}")
        k = sparsity if sparsity is not None else max(1, (m - 1) // 10)
        if not is_int(k) or not 1 <= k <= dimension:
            raise SpecError(f"scheme adsgd: sparsity must be an integer with 1 <= k <= d = {dimension}, got {k!r}")
        self.m, self.k, self.iterations, self.alpha = m, k, amp_iterations, amp_alpha
        self.a = torch.randn(m - 1, dimension, generator=torch_stream(seed, "fl.projection")) / math.sqrt(m - 1)
        self.errors: dict[int, torch.Tensor] = {}

    def sparsify(self, updates: torch.Tensor, clients: np.ndarray) -> torch.Tensor:
        """Top-k of update + accumulated error for every client; the rest becomes its new error."""
        acc = torch.stack([u + self.errors.get(int(c), 0.0) for u, c in zip(updates, clients)])
        idx = acc.abs().topk(self.k, dim=1).indices
        sparse = torch.zeros_like(acc).scatter_(1, idx, acc.gather(1, idx))
        for c, row, s in zip(clients, acc, sparse):
            self.errors[int(c)] = row - s
        return sparse

    def aggregate(self, updates: torch.Tensor, clients: np.ndarray, round_: int, mac: AnalogMAC,
                  noise: bool = True) -> tuple[torch.Tensor, Transmission | None]:
        """Sparsified, projected updates over the air; AMP recovery of the sparse mean."""
        sparse = self.sparsify(updates, clients)
        tx, count = self._over_the_air(sparse @ self.a.T, clients, round_, mac, noise)
        if count == 0:
            return torch.zeros(self.d), tx
        projected = (tx.received.real / self._divisor(tx, count)).float()
        return amp_recover(self.a, projected, self.iterations, self.alpha), tx
