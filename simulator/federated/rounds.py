"""Federated rounds over a wireless MAC: real local training, simulated airtime and energy.

Each round a random subset of ``ceil(participation K)`` clients (from the simulation's seed)
takes ``local_steps`` SGD steps on its own non-IID shard from the global model (all clients at
once, vectorised with ``torch.func.vmap``; models with buffers such as batch norm one client at
a time, the buffers shared and not aggregated), sends its update theta_k - theta through the
scheme (:mod:`.schemes`), and the server adds ``server_lr`` times the estimated mean update.
Each round is a task graph run by the executor (:mod:`simulator.executor`): every participant's
local training (``local_steps`` training steps at the client device's roofline, from
:mod:`simulator.costs`), then the round's transmission as computed on the real tensors (an
:class:`~simulator.taskgraph.Airtime` node holding the medium). The round takes the compute
time plus the airtime; energy follows the executor's one rule: each participant's idle power
over the round, its dynamic power while training, and its radio's transmit plus circuit power
while sending. The server (the access point) is mains powered and not charged.

Rows hold per-round quantities (``airtime_round_s``, ``energy_round_j``, ``tx_energy_round_j``;
``airtime_s``, ``energy_j`` and ``tx_energy_j`` are the same per-round values under their older
names) and cumulative ones (``sim_time_s``, ``airtime_total_s``, ``energy_total_j``,
``tx_energy_total_j``). Rows also give the round's transmit power (mean and largest over the
devices that sent) and, with ``power: {policy: managed}`` (:mod:`.power`), the chosen threshold and
the predicted MSE bound; the chosen channel uses are ``channel_uses`` (m plus the side-information use).

A run whose local updates or global model become non-finite stops in that round with status
``diverged`` (``summary["status"]``, ``diverged_round``) and a warning naming the round: its airtime and energy are those spent up to then
(finite), its accuracy is null (JSON has no NaN: :meth:`FLResult.to_dict` writes null for every
non-finite number).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from hwmodels import Device, Radio, SpecError
from hwmodels.channel import Channel
from hwmodels.checks import is_number, require_int
from simulator import executor
from simulator.cluster import Cluster
from simulator.costs import model_cost
from simulator.data import Dataset, load, split
from simulator.engine import Simulation
from simulator.learning.sampler import WorkerSampler
from simulator.metrics import to_target
from simulator.models import accuracy, build
from simulator.network.media import WirelessHardware
from simulator.network.wireless import Transmission, create_mac
from simulator.taskgraph import TaskGraph

from .power import ManagedPower, PowerManager
from .schemes import AGGREGATORS, aggregator

__all__ = ["FLConfig", "FLRow", "FLResult", "FederatedRun", "run_federated"]


@dataclass(frozen=True)
class FLConfig:
    """A federated run. ``scheme_params`` go to the scheme (e.g. ``compressor``, ``channel_uses``,
    ``threshold``, ``policy``, ``policy_params``); ``mac_params`` to the MAC (``access``,
    ``rate_bits_per_use``, ``max_attempts``); ``power`` (empty: the scheme's fixed settings) is
    ``{policy: managed, target_mse, energy_budget_j, objective, min_active}`` (:class:`ManagedPower`)."""

    model: str = "mlp"
    data: str = "digits"
    model_params: dict[str, Any] = field(default_factory=dict)
    data_params: dict[str, Any] = field(default_factory=dict)
    clients: int = 20
    alpha: Optional[float] = 0.5
    participation: float = 1.0
    local_steps: int = 5
    batch_size: int = 16
    lr: float = 0.05
    server_lr: float = 1.0
    rounds: int = 20
    eval_every: int = 1
    seed: int = 0
    scheme: str = "ideal"
    scheme_params: dict[str, Any] = field(default_factory=dict)
    mac_params: dict[str, Any] = field(default_factory=dict)
    target_accuracy: Optional[float] = None
    power: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in (("clients", 1), ("local_steps", 1), ("batch_size", 1), ("rounds", 1), ("eval_every", 0), ("seed", 0)):
            require_int(getattr(self, name), f"fl: {name}", low=low)
        if self.scheme not in AGGREGATORS:
            raise SpecError(f"fl: unknown scheme {self.scheme!r}; known: {', '.join(AGGREGATORS)}")
        for name in ("participation", "lr", "server_lr", "alpha"):
            value = getattr(self, name)
            if name == "alpha" and value is None:
                continue
            if not is_number(value) or not value > 0:
                raise SpecError(f"fl: {name} must be a number > 0, got {value!r}")
        if self.participation > 1:
            raise SpecError(f"fl: participation must be in (0, 1], got {self.participation!r}")
        t = self.target_accuracy
        if t is not None and (not is_number(t) or not 0 < t <= 1):
            raise SpecError(f"fl: target_accuracy must be a test accuracy in (0, 1], got {t!r}")
        for name in ("model_params", "data_params", "scheme_params", "mac_params", "power"):
            if not isinstance(getattr(self, name), dict):
                raise SpecError(f"fl: {name} must be a mapping, got {getattr(self, name)!r}")
        ManagedPower.from_spec(self.power, self.scheme, self.scheme_params)

    @property
    def managed(self) -> Optional[ManagedPower]:
        """The power manager's settings (None: the scheme's fixed settings)."""
        return ManagedPower.from_spec(self.power, self.scheme, self.scheme_params)


@dataclass(frozen=True)
class FLRow:
    """One evaluated round: this round's airtime, energy and transmit energy (``*_round_*`` and
    the older per-round names), and the cumulative simulated time, airtime and energies."""

    round: int
    sim_time_s: float
    airtime_s: float
    energy_j: float
    energy_j_per_device: float
    tx_energy_j: float
    channel_uses: float
    participating: int
    test_accuracy: float
    airtime_round_s: float
    airtime_total_s: float
    energy_round_j: float
    energy_total_j: float
    tx_energy_round_j: float
    tx_energy_total_j: float
    tx_power_mean_W: float = 0.0
    tx_power_max_W: float = 0.0
    threshold: Optional[float] = None
    predicted_mse: Optional[float] = None


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON null), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclass
class FLResult:
    """A federated run's per-round rows and its summary."""
    rows: list[FLRow]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Summary and rows as plain data, non-finite numbers as None."""
        return _finite({"summary": self.summary, "rows": [asdict(r) for r in self.rows]})


class FederatedRun:
    """A federated run of ``config`` on clients with ``device`` compute and ``radio`` links over
    ``channel`` at ``distances_m`` (one per client)."""

    def __init__(self, config: FLConfig, device: Device, radio: Radio, channel: Channel, distances_m: np.ndarray,
                 dataset: Optional[Dataset] = None) -> None:
        cfg = self.config = config
        self.device = device
        self.sim = Simulation(cfg.seed)   # the run's trace and its seeded streams
        if len(np.atleast_1d(distances_m)) != cfg.clients:
            raise SpecError(f"fl: {cfg.clients} clients but {len(np.atleast_1d(distances_m))} distances")
        self.data = dataset if dataset is not None else load(cfg.data, seed=cfg.seed, **cfg.data_params)
        shards = split(self.data.y_train, cfg.clients, alpha=cfg.alpha, seed=cfg.seed)
        self.samplers = [WorkerSampler(s, cfg.batch_size, cfg.seed, k) for k, s in enumerate(shards)]
        self.model = build(cfg.model, self.data.input_shape, self.data.num_classes, seed=cfg.seed, **cfg.model_params)
        self.names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        self.shapes = [p.shape for n, p in self.model.named_parameters() if p.requires_grad]
        self.theta = torch.cat([p.detach().reshape(-1) for p in self.model.parameters() if p.requires_grad]).clone()
        self.d = self.theta.numel()
        # models with buffers (batch norm) train client by client, sharing the buffers; others vmapped
        self.buffered = any(True for _ in self.model.buffers())
        self.scheme = aggregator(cfg.scheme, self.d, cfg.seed, **cfg.scheme_params)
        if cfg.managed is not None:
            self.scheme.manager = PowerManager(cfg.managed, cfg.scheme, self.d)
        kind = self.scheme.mac_kind
        mac_name = {"digital": cfg.mac_params.get("access", "tdma"), "analog": "analog"}.get(kind)
        mac_params = {k: v for k, v in cfg.mac_params.items() if k != "access"}
        self.mac = None
        if mac_name is not None:   # the same seed: the MAC's draws are the run's, its spans come from the executor
            self.mac = create_mac(mac_name, Simulation(cfg.seed, trace=False), radio, channel, distances_m, **mac_params)
        flops, nbytes = model_cost(self.model, self.data.input_shape).training_step(cfg.batch_size)
        self.local_flops, self.local_bytes = cfg.local_steps * flops, cfg.local_steps * nbytes
        self.compute_s = device.time(self.local_flops, self.local_bytes)
        self.clients = [f"dev{k}" for k in range(cfg.clients)]
        self.cluster = Cluster(None, device, hosts_=(*self.clients, "server"), uncharged={"server"},
                               medium=WirelessHardware(radio, channel, np.atleast_1d(distances_m), seed=cfg.seed))

    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-parameter views of flattened vectors (leading dims kept)."""
        out, i = {}, 0
        for name, shape in zip(self.names, self.shapes):
            n = math.prod(shape)
            out[name] = flat[..., i:i + n].reshape(*flat.shape[:-1], *shape)
            i += n
        return out

    def local_updates(self, clients: np.ndarray) -> torch.Tensor:
        """theta_k - theta after ``local_steps`` SGD steps of every client in ``clients`` (n x d)."""
        cfg = self.config
        model = self.model

        def loss(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

        def plain(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
            leaves = {n: v.detach().requires_grad_(True) for n, v in params.items()}
            return dict(zip(leaves, torch.autograd.grad(loss(leaves, x, y), list(leaves.values()))))

        step = plain if self.buffered else vmap(grad(loss))
        theta = self.theta.expand(len(clients), -1).clone()
        for _ in range(cfg.local_steps):
            idx = torch.from_numpy(np.stack([self.samplers[k].next() for k in clients]))
            xb, yb = self.data.x_train[idx], self.data.y_train[idx]
            if self.buffered:   # buffers (batch norm statistics) update in place: one client at a time
                grads = [step(self._unflatten(theta[i]), xb[i], yb[i]) for i in range(len(clients))]
                flat = torch.stack([torch.cat([g[n].reshape(-1) for n in self.names]) for g in grads])
            else:
                grads = step(self._unflatten(theta), xb, yb)
                flat = torch.cat([grads[n].reshape(len(clients), -1) for n in self.names], 1)
            theta = theta - cfg.lr * flat
        return theta - self.theta

    def _set_model(self) -> None:
        with torch.no_grad():
            for p, v in zip((p for p in self.model.parameters() if p.requires_grad), self._unflatten(self.theta).values()):
                p.copy_(v)

    def round_graph(self, r: int, clients: np.ndarray, tx: Optional[Transmission]) -> TaskGraph:
        """Round ``r``: every participant's local training, then ``tx`` on the air."""
        g = TaskGraph(f"round{r}")
        phase = f"round{r}"
        local = [g.compute(self.clients[k], self.local_flops, self.local_bytes, name=f"local/{self.clients[k]}",
                           phase=phase) for k in clients.tolist()]
        if tx is not None:
            sending = np.flatnonzero(tx.tx_time_s > 0)
            offsets = tx.offsets_s if tx.offsets_s is not None else np.zeros(len(tx.tx_time_s))
            bits = tx.bits if tx.bits is not None else np.zeros(len(tx.tx_time_s))
            g.airtime([self.clients[k] for k in sending.tolist()], tx.tx_time_s[sending].tolist(),
                      tx.tx_power_W[sending].tolist(), tx.airtime_s, offsets_s=offsets[sending].tolist(),
                      bits=bits[sending].tolist(), deps=local, name=f"upload/{self.config.scheme}", phase=phase)
        return g

    def run(self, on_round: Optional[Callable[[int, int], None]] = None) -> FLResult:
        """Run every round (``on_round(done, rounds)`` after each); the per-round rows and the summary."""
        cfg = self.config
        rows: list[FLRow] = []
        n_part = max(1, math.ceil(cfg.participation * cfg.clients))
        energy_dev = np.zeros(cfg.clients)
        breakdown: dict[str, float] = {}
        sim_time = airtime_total = tx_total = energy_total = bits_total = 0.0
        acc = float("nan")
        diverged: Optional[int] = None
        uses_log: list[float] = []
        power_log: list[tuple[float, float]] = []
        curve: list[tuple[float, float, float, float]] = []   # (accuracy, time, energy, bits) per evaluation
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            for r in range(cfg.rounds):
                clients = np.sort(self.sim.rng(7, r).choice(cfg.clients, n_part, replace=False))
                updates = self.local_updates(clients)
                plan = None
                if torch.isfinite(updates).all():
                    self.scheme.last_plan = None
                    estimate, tx = self.scheme.aggregate(updates, clients, r, self.mac)
                    plan = self.scheme.last_plan
                    self.theta = self.theta + cfg.server_lr * estimate.to(self.theta.dtype)
                    what = "global model"
                else:   # garbage is not sent: the round ends after local training
                    tx, what = None, "local updates"
                if not torch.isfinite(self.theta).all() or what == "local updates":
                    diverged = r + 1
                    warnings.warn(f"fl: the run diverged in round {diverged} (non-finite {what}); it stops there "
                                  f"with status diverged (transmit power too low for the noise, or lr too large?)",
                                  RuntimeWarning, stacklevel=2)
                res = executor.run(self.round_graph(r, clients, tx), self.cluster, seed=cfg.seed,
                                   trace=self.sim.trace.enabled)
                for span in res.timeline.spans:   # the run's trace, on the run's clock
                    self.sim.trace.record(span.resource, span.kind, sim_time + span.start_s, sim_time + span.end_s,
                                          span.bytes, span.name)
                for k in clients.tolist():
                    energy_dev[k] += res.energy_per_worker_j[self.clients[k]]
                for kind, joules in res.energy_breakdown_j.items():
                    breakdown[kind] = breakdown.get(kind, 0.0) + joules
                airtime, uses = (tx.airtime_s, tx.channel_uses) if tx is not None else (0.0, 0.0)
                sending = tx.tx_power_W[tx.tx_time_s > 0] if tx is not None else np.zeros(0)
                p_mean, p_max = (float(sending.mean()), float(sending.max())) if len(sending) else (0.0, 0.0)
                uses_log.append(uses)
                power_log.append((p_mean, p_max))
                tx_j = res.energy_breakdown_j["radio"]
                sim_time += res.makespan_s
                airtime_total += airtime
                tx_total += tx_j
                energy_total += res.energy_j
                bits_total += res.air_bits
                done = r + 1
                if (cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.rounds or diverged:
                    if diverged:   # a non-finite model has no accuracy to speak of
                        acc = math.nan
                    else:
                        self._set_model()
                        acc = accuracy(self.model, self.data.x_test, self.data.y_test)
                        curve.append((acc, sim_time, energy_total, bits_total))
                    per_dev = float(np.mean([res.energy_per_worker_j[self.clients[k]] for k in clients.tolist()]))
                    rows.append(FLRow(done, sim_time, airtime, res.energy_j, per_dev, tx_j, uses, n_part, acc,
                                      airtime, airtime_total, res.energy_j, energy_total, tx_j, tx_total,
                                      p_mean, p_max, None if plan is None else plan.threshold,
                                      None if plan is None else plan.predicted_mse))
                if on_round is not None:
                    on_round(done, cfg.rounds)
                if diverged:
                    break
        summary = {
            "scheme": cfg.scheme, "clients": cfg.clients, "rounds": cfg.rounds, "parameters": self.d,
            "final_test_accuracy": acc, "sim_time_s": sim_time, "airtime_s": airtime_total,
            "energy_j": float(energy_dev.sum()), "energy_breakdown_j": breakdown, "tx_energy_j": tx_total,
            "air_bits_total": bits_total, "compute_s_per_round": self.compute_s,
            "energy_j_per_device": energy_dev.tolist(), **to_target(curve, cfg.target_accuracy),
            "status": "diverged" if diverged else "ok", "diverged_round": diverged,
            "channel_uses_mean": float(np.mean(uses_log)), "channel_uses_min": float(np.min(uses_log)),
            "channel_uses_max": float(np.max(uses_log)), "tx_power_mean_W": float(np.mean([p for p, _ in power_log])),
            "tx_power_max_W": float(max(p for _, p in power_log)),
        }
        return FLResult(rows, summary)


def run_federated(config: FLConfig, device: Device, radio: Radio, channel: Channel, distances_m: np.ndarray, *,
                  dataset: Optional[Dataset] = None, on_round: Optional[Callable[[int, int], None]] = None) -> FLResult:
    """Build a :class:`FederatedRun` and run it."""
    return FederatedRun(config, device, radio, channel, distances_m, dataset).run(on_round)
