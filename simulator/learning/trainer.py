"""The data-parallel training loop: real gradients on real data, simulated time and energy.

Each step: every worker (computed in turn, in-process, on the same weights) draws its batch
from its shard, computes its gradient, and compresses it (:mod:`.exchange`); the aggregate
replaces the gradient and the optimizer (SGD, SGD with momentum, Adam) steps. The step's
plan (compute FLOPs and bytes from :mod:`simulator.costs`, payload sizes from the exact bits,
codec time from the compressor's declared work on each device (:mod:`.codec`), sync) is priced
on the cluster (:mod:`.stepgraph`) and added to the totals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError
from simulator.cluster import Cluster
from simulator.compression import CodecWork
from simulator.costs import model_cost
from simulator.data import Dataset, load, split
from simulator.models import accuracy, build

from .codec import codec_work
from .config import TrainConfig
from .exchange import SUMMABLE, GradientExchange
from .sampler import WorkerSampler
from .stepgraph import StepCoster, StepPlan

__all__ = ["EvalRow", "TrainResult", "Trainer", "train"]

_UPDATE_FLOPS = {"sgd": 2, "momentum": 4, "adam": 12}   # per parameter per update


@dataclass(frozen=True)
class EvalRow:
    """One evaluation: totals so far and the model's test accuracy."""

    step: int
    epoch: float
    sim_time_s: float
    energy_j: float
    bits_up_total: int
    test_accuracy: float
    train_loss: float


@dataclass
class TrainResult:
    """Evaluation rows, per-step per-worker bits, and the summary."""

    rows: list[EvalRow]
    summary: dict[str, Any]
    step_bits: list[list[int]] = field(default_factory=list)
    step_time_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "rows": [asdict(r) for r in self.rows]}


def _optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    momentum = cfg.momentum if cfg.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.lr, momentum=momentum, weight_decay=cfg.weight_decay)


class Trainer:
    """A training run of ``config`` on ``cluster`` (its first ``workers`` hosts are the workers,
    the next ``shards`` the parameter-server shards). ``dataset`` overrides loading by name."""

    def __init__(self, config: TrainConfig, cluster: Cluster, dataset: Dataset | None = None) -> None:
        cfg = self.config = config
        if len(cluster.hosts) < cfg.hosts:
            raise SpecError(f"train: the cluster has {len(cluster.hosts)} hosts, the run needs {cfg.hosts} "
                            f"({cfg.workers} workers" + (f" + {cfg.shards} server shards)" if cfg.sync == "ps" else ")"))
        self.cluster = cluster
        self.data = dataset if dataset is not None else load(cfg.data, seed=cfg.seed, **cfg.data_params)
        self.shards = split(self.data.y_train, cfg.workers, alpha=cfg.alpha, seed=cfg.seed)
        self.samplers = [WorkerSampler(s, cfg.batch_size, cfg.seed, w) for w, s in enumerate(self.shards)]
        self.model = build(cfg.model, self.data.input_shape, self.data.num_classes, seed=cfg.seed, **cfg.model_params)
        self.exchange = GradientExchange(self.model, cfg.compressor, cfg.compressor_params, cfg.workers, cfg.seed)
        self.sync = cfg.sync if cfg.sync != "auto" else ("allreduce" if self.exchange.summable else "allgather")
        if self.sync == "allreduce" and not self.exchange.summable:
            raise SpecError(f"train: sync allreduce needs payloads that sum in compressed form ({', '.join(SUMMABLE)}); "
                            f"{cfg.compressor!r} payloads need allgather or ps")
        self.optimizer = _optimizer(cfg, self.exchange.params)
        self.costs = model_cost(self.model, self.data.input_shape, backward_factor=cfg.backward_factor)
        self.coster = StepCoster(cluster, cfg.mode, cfg.seed)
        self.steps_per_epoch = max(1, len(self.data.y_train) // (cfg.workers * cfg.batch_size))
        self.total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * self.steps_per_epoch
        hosts = cluster.hosts
        self.workers = tuple(hosts[:cfg.workers])
        self.servers = tuple(hosts[cfg.workers:cfg.hosts]) if self.sync == "ps" else ()
        self.batches: list[list[np.ndarray]] = []   # per step, per worker: the sample indices
        self.codec: CodecWork | None = None           # one worker's codec work per step, after the first step
        self._codec_s: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    def _codec_seconds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Encode seconds per worker, decode seconds (one payload) per worker then server: the
        declared codec work on each host's device, or the spec's seconds per element."""
        if self.codec is None:   # after the first step: ISGQ's factor shapes come from its hooks
            cfg, n = self.config, self.exchange.elements
            self.codec = codec_work(cfg.compressor, cfg.compressor_params, *self.exchange.work_shapes())
            enc, dec = cfg.encode_s_per_element, cfg.decode_s_per_element
            self._codec_s = (
                tuple(enc * n if enc is not None else self.cluster.device(h).codec_time(self.codec.encode) for h in self.workers),
                tuple(dec * n if dec is not None else self.cluster.device(h).codec_time(self.codec.decode)
                      for h in self.workers + self.servers))
        return self._codec_s

    def _plan(self, payload_bits: list[int]) -> StepPlan:
        cfg, n = self.config, self.exchange.elements
        flops, nbytes = self.costs.training_step(cfg.batch_size)
        return StepPlan(self.workers, self.servers, self.sync, flops, nbytes,
                        tuple(math.ceil(b / 8) for b in payload_bits), *self._codec_seconds(), 4.0 * n, _UPDATE_FLOPS[cfg.optimizer] * n,
                        (3.0 if cfg.optimizer == "sgd" else 5.0) * 4.0 * n)

    def run(self, on_step: Callable[[int, int], None] | None = None) -> TrainResult:
        """Train for the configured steps; ``on_step(done, total)`` after each step."""
        cfg = self.config
        rows: list[EvalRow] = []
        step_bits: list[list[int]] = []
        step_time: list[float] = []
        sim_time = energy = 0.0
        bits_total = 0
        losses: list[float] = []
        energy_host = {h: 0.0 for h in self.workers + self.servers}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model.train()
            for step in range(self.total_steps):
                payloads, bits = [], []
                self.batches.append([])
                for w in range(cfg.workers):
                    p, loss = self._worker_step(w, step)
                    payloads.append(p)
                    bits.append(sum(x.nbits for x in p))
                    losses.append(loss)
                grads = self.exchange.aggregate(payloads)
                for param, g in zip(self.exchange.params, grads):
                    param.grad = g
                self.optimizer.step()
                cost = self.coster.cost(self._plan(bits))
                sim_time += cost.time_s
                energy += cost.energy_j
                for h, e in cost.energy_per_host_j.items():
                    energy_host[h] += e
                bits_total += sum(bits)
                step_bits.append(bits)
                step_time.append(cost.time_s)
                done = step + 1
                if (cfg.eval_every and done % cfg.eval_every == 0) or done == self.total_steps:
                    acc = accuracy(self.model, self.data.x_test, self.data.y_test)
                    rows.append(EvalRow(done, done / self.steps_per_epoch, sim_time, energy, bits_total, acc,
                                        float(np.mean(losses)) if losses else float("nan")))
                    losses = []
                if on_step is not None:
                    on_step(done, self.total_steps)
        per_worker = np.sum(np.array(step_bits, dtype=np.int64), axis=0)
        summary = {
            "final_test_accuracy": rows[-1].test_accuracy, "sim_time_s": sim_time, "energy_j": energy,
            "bits_per_worker": float(per_worker.mean()), "bits_per_worker_each": per_worker.tolist(),
            "bits_up_total": int(bits_total), "steps": self.total_steps, "epochs": self.total_steps / self.steps_per_epoch,
            "sync": self.sync, "compressor": cfg.compressor, "workers": cfg.workers, "parameters": self.exchange.elements,
            "bits_per_element": float(bits_total / (self.total_steps * cfg.workers * self.exchange.elements)),
            "encode_s_per_element": self._codec_s[0][0] / self.exchange.elements,
            "decode_s_per_element": self._codec_s[1][0] / self.exchange.elements,
            "codec_work": {"encode_flops": self.codec.encode.flops, "encode_bytes": self.codec.encode.bytes,
                           "decode_flops": self.codec.decode.flops, "decode_bytes": self.codec.decode.bytes},
            "energy_per_host_j": energy_host, "step_graphs_simulated": self.coster.simulated,
            "forward_flops_per_sample": self.costs.forward_flops,
        }
        return TrainResult(rows, summary, step_bits, step_time)

    def _worker_step(self, worker: int, step: int) -> tuple[list, float]:
        idx = self.samplers[worker].next()
        self.batches[-1].append(idx)
        self.model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(self.model(self.data.x_train[idx]), self.data.y_train[idx])
        loss.backward()
        return self.exchange.compress(worker, step), float(loss.detach())


def train(config: TrainConfig, cluster: Cluster, *, dataset: Dataset | None = None,
          on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Build a :class:`Trainer` and run it."""
    return Trainer(config, cluster, dataset).run(on_step)
