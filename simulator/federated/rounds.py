"""Federated rounds over a wireless MAC: real local training, simulated airtime and energy.

Each round a random subset of ``ceil(participation K)`` clients (from the simulation's seed)
takes ``local_steps`` SGD steps on its own non-IID shard from the global model (all clients at
once, vectorised with ``torch.func.vmap``; models with buffers such as batch norm one client at
a time, the buffers shared and not aggregated), sends its update theta_k - theta through the
scheme (:mod:`.schemes`), and the server adds ``server_lr`` times the estimated mean update.
Local compute is priced by the client device's roofline (:mod:`simulator.costs`); the round
takes the compute time plus the scheme's airtime, and every device's energy is its compute
energy plus its P_k T_k on the air.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from hwmodels import Device, Radio, SpecError
from hwmodels.channel import Channel
from simulator.costs import model_cost
from simulator.data import Dataset, load, split
from simulator.engine import Simulation
from simulator.learning.sampler import WorkerSampler
from simulator.models import accuracy, build
from simulator.network.wireless import create_mac

from .schemes import AGGREGATORS, aggregator

__all__ = ["FLConfig", "FLRow", "FLResult", "FederatedRun", "run_federated"]


def _int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"fl: {name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class FLConfig:
    """A federated run. ``scheme_params`` go to the scheme (e.g. ``compressor``, ``channel_uses``,
    ``threshold``, ``policy``, ``policy_params``); ``mac_params`` to the MAC (``access``,
    ``rate_bits_per_use``, ``max_attempts``)."""

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

    def __post_init__(self) -> None:
        for name, low in (("clients", 1), ("local_steps", 1), ("batch_size", 1), ("rounds", 1), ("eval_every", 0), ("seed", 0)):
            _int(name, getattr(self, name), low)
        if self.scheme not in AGGREGATORS:
            raise SpecError(f"fl: unknown scheme {self.scheme!r}; known: {', '.join(AGGREGATORS)}")
        for name in ("participation", "lr", "server_lr", "alpha"):
            value = getattr(self, name)
            if name == "alpha" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise SpecError(f"fl: {name} must be a number > 0, got {value!r}")
        if self.participation > 1:
            raise SpecError(f"fl: participation must be in (0, 1], got {self.participation!r}")
        for name in ("model_params", "data_params", "scheme_params", "mac_params"):
            if not isinstance(getattr(self, name), dict):
                raise SpecError(f"fl: {name} must be a mapping, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class FLRow:
    """One round: cumulative simulated time, this round's airtime, energy and channel uses."""

    round: int
    sim_time_s: float
    airtime_s: float
    energy_j: float
    energy_j_per_device: float
    tx_energy_j: float
    channel_uses: float
    participating: int
    test_accuracy: float


@dataclass
class FLResult:
    rows: list[FLRow]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "rows": [asdict(r) for r in self.rows]}


class FederatedRun:
    """A federated run of ``config`` on clients with ``device`` compute and ``radio`` links over
    ``channel`` at ``distances_m`` (one per client)."""

    def __init__(self, config: FLConfig, device: Device, radio: Radio, channel: Channel, distances_m: np.ndarray,
                 dataset: Optional[Dataset] = None) -> None:
        cfg = self.config = config
        self.device = device
        self.sim = Simulation(cfg.seed)
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
        kind = self.scheme.mac_kind
        mac_name = {"digital": cfg.mac_params.get("access", "tdma"), "analog": "analog"}.get(kind)
        mac_params = {k: v for k, v in cfg.mac_params.items() if k != "access"}
        self.mac = None
        if mac_name is not None:
            self.mac = create_mac(mac_name, self.sim, radio, channel, distances_m, **mac_params)
        flops, nbytes = model_cost(self.model, self.data.input_shape).training_step(cfg.batch_size)
        self.compute_s = cfg.local_steps * device.time(flops, nbytes)
        self.compute_j = cfg.local_steps * device.energy(flops, nbytes)

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

    def run(self, on_round: Optional[Callable[[int, int], None]] = None) -> FLResult:
        cfg = self.config
        rows: list[FLRow] = []
        n_part = max(1, math.ceil(cfg.participation * cfg.clients))
        energy_dev = np.zeros(cfg.clients)
        sim_time = airtime_total = tx_total = 0.0
        acc = float("nan")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            for r in range(cfg.rounds):
                clients = np.sort(self.sim.rng(7, r).choice(cfg.clients, n_part, replace=False))
                updates = self.local_updates(clients)
                if self.mac is not None:   # the upload starts when local training ends
                    self.mac.clock_s = sim_time + self.compute_s
                estimate, tx = self.scheme.aggregate(updates, clients, r, self.mac)
                self.theta = self.theta + cfg.server_lr * estimate.to(self.theta.dtype)
                round_energy = np.zeros(cfg.clients)
                round_energy[clients] += self.compute_j
                airtime = uses = tx_j = 0.0
                if tx is not None:
                    round_energy += tx.energy_j
                    airtime, uses, tx_j = tx.airtime_s, tx.channel_uses, float(tx.energy_j.sum())
                self.sim.trace.record_many([f"dev{k}" for k in clients], "compute", np.full(n_part, sim_time),
                                           np.full(n_part, sim_time + self.compute_s))
                sim_time += self.compute_s + airtime
                airtime_total += airtime
                tx_total += tx_j
                energy_dev += round_energy
                done = r + 1
                if (cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.rounds:
                    self._set_model()
                    acc = accuracy(self.model, self.data.x_test, self.data.y_test)
                    rows.append(FLRow(done, sim_time, airtime, float(round_energy.sum()),
                                      float(round_energy[clients].mean()), tx_j, uses, n_part, acc))
                if on_round is not None:
                    on_round(done, cfg.rounds)
        summary = {
            "scheme": cfg.scheme, "clients": cfg.clients, "rounds": cfg.rounds, "parameters": self.d,
            "final_test_accuracy": acc, "sim_time_s": sim_time, "airtime_s": airtime_total,
            "energy_j": float(energy_dev.sum()), "tx_energy_j": tx_total, "compute_s_per_round": self.compute_s,
            "energy_j_per_device": energy_dev.tolist(),
        }
        return FLResult(rows, summary)


def run_federated(config: FLConfig, device: Device, radio: Radio, channel: Channel, distances_m: np.ndarray, *,
                  dataset: Optional[Dataset] = None, on_round: Optional[Callable[[int, int], None]] = None) -> FLResult:
    """Build a :class:`FederatedRun` and run it."""
    return FederatedRun(config, device, radio, channel, distances_m, dataset).run(on_round)
