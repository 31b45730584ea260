"""The data-parallel training loop: real gradients on real data, simulated time and energy.

Each step: every worker (computed in turn, in-process, on the same weights) draws its batch
from its shard, computes its gradient, and compresses it (:mod:`.exchange`); the aggregate
replaces the gradient and the optimizer (SGD, SGD with momentum, Adam) steps. The step's plan
(:mod:`.stepgraph`: forward and per-layer backward FLOPs and bytes from :mod:`simulator.costs`,
gradient buckets as DDP forms them, each bucket's exact payload bytes per worker, the
compressor's declared encode and decode work, the sync) is priced on the cluster by the
executor and added to the totals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import ENERGY_KINDS, SpecError
from simulator.cluster import Cluster
from simulator.compression import CodecWork, allow_nonfinite
from simulator.data import Dataset, load, split
from simulator.memory import MemoryNeed, check_fits, probe_compressor, step_memory
from simulator.metrics import to_target
from simulator.models import accuracy, build

from .config import TrainConfig
from .exchange import SUMMABLE, GradientExchange
from .sampler import WorkerSampler
from .stepgraph import StepCoster, StepPlan
from .stepmodel import StepModel

__all__ = ["EvalRow", "TrainResult", "Trainer", "train"]

@dataclass(frozen=True)
class EvalRow:
    """One evaluation: totals so far (simulated seconds, joules with their breakdown, payload and
    wire bits) and the model's test accuracy."""

    step: int
    epoch: float
    sim_time_s: float
    energy_j: float
    bits_up_total: int
    test_accuracy: float
    train_loss: float
    energy_compute_j: float = 0.0
    energy_idle_j: float = 0.0
    energy_link_j: float = 0.0
    energy_radio_j: float = 0.0
    wire_bits_total: float = 0.0


@dataclass
class TrainResult:
    """Evaluation rows, per-step per-worker bits, and the summary."""

    rows: list[EvalRow]
    summary: dict[str, Any]
    step_bits: list[list[int]] = field(default_factory=list)
    step_time_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: the summary and one dict per evaluation row."""
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
        self.coster = StepCoster(cluster, cfg.mode, cfg.seed)
        self.steps_per_epoch = max(1, len(self.data.y_train) // (cfg.workers * cfg.batch_size))
        self.total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * self.steps_per_epoch
        hosts = cluster.hosts
        self.workers = tuple(hosts[:cfg.workers])
        self.servers = tuple(hosts[cfg.workers:cfg.hosts]) if self.sync == "ps" else ()
        self.batches: list[list[np.ndarray]] = []   # per step, per worker: the sample indices
        self.step = StepModel(cfg, self.model, self.data.input_shape, self.exchange, self.workers, self.servers,
                              self.sync)
        self.costs = self.step.costs
        self.memory = self._memory()
        self.last_plan: StepPlan | None = None

    def _memory(self) -> MemoryNeed:
        """A worker's memory (:mod:`simulator.memory`), refused before training if it does not fit.
        Payloads and compressor state from one probe on seeded gradients; a factors scheme (ISGQ)
        compresses activations, so its payload is bounded by the raw gradient and its state not counted."""
        shapes = [tuple(p.shape) for p in self.exchange.params]
        if self.exchange.factors:
            bits, state_B = [32 * p.numel() for p in self.exchange.params], 0.0
        else:
            bits, state_B = probe_compressor(self.exchange.compressor, shapes, self.config.seed)
        need = step_memory(self.step, bits, state_B)
        check_fits({h: need for h in self.workers}, {h: self.cluster.device(h).mem_capacity_B for h in self.workers},
                   "train")
        return need

    @property
    def codec(self) -> CodecWork:
        """One worker's encode and decode work for the whole gradient per step."""
        return self.step.codec

    @property
    def tensor_work(self) -> list[CodecWork]:
        """The codec work of every gradient tensor of one step (from the step plan)."""
        return self.step.tensor_work

    @property
    def buckets(self) -> list[tuple[tuple[int, ...], int]]:
        """DDP's gradient buckets of one step: (tensor indices, index of the backward chunk that
        completes the bucket) each, in send order."""
        return self.step.buckets

    def run(self, on_step: Callable[[int, int], None] | None = None) -> TrainResult:
        """Train for the configured steps; ``on_step(done, total)`` after each step."""
        cfg = self.config
        rows: list[EvalRow] = []
        step_bits: list[list[int]] = []
        step_time: list[float] = []
        sim_time = energy = wire_bits = 0.0
        breakdown = dict.fromkeys(ENERGY_KINDS, 0.0)
        bits_total = 0
        losses: list[float] = []
        energy_host = {h: 0.0 for h in self.workers + self.servers}
        wire_host = {h: 0.0 for h in self.workers + self.servers}
        curve: list[tuple[float, float, float, float]] = []
        diverged_at: int | None = None   # the first step whose training loss is NaN or inf
        # a diverged model's NaN gradients go on through the compressors: the run reports the step
        with torch.random.fork_rng(devices=[]), allow_nonfinite():
            torch.manual_seed(cfg.seed)
            self.model.train()
            for step in range(self.total_steps):
                payloads, bits = [], []
                self.batches.append([])
                for w in range(cfg.workers):
                    p, loss = self._worker_step(w, step)
                    payloads.append(p)
                    bits.append([x.nbits for x in p])
                    losses.append(loss)
                    if diverged_at is None and not np.isfinite(loss):
                        diverged_at = step + 1
                grads = self.exchange.aggregate(payloads)
                for param, g in zip(self.exchange.params, grads):
                    param.grad = g
                self.optimizer.step()
                self.last_plan = self.step.plan(bits)
                cost = self.coster.cost(self.last_plan)
                sim_time += cost.makespan_s
                energy += cost.energy_j
                for kind, joules in cost.energy_breakdown_j.items():
                    breakdown[kind] += joules
                for h, e in cost.energy_per_worker_j.items():
                    energy_host[h] += e
                for h, nbytes in cost.sent_bytes_per_host.items():
                    wire_host[h] += 8.0 * nbytes
                wire_bits += 8.0 * sum(cost.sent_bytes_per_host.values())
                per_worker = [sum(b) for b in bits]
                bits_total += sum(per_worker)
                step_bits.append(per_worker)
                step_time.append(cost.makespan_s)
                done = step + 1
                if (cfg.eval_every and done % cfg.eval_every == 0) or done == self.total_steps:
                    acc = accuracy(self.model, self.data.x_test, self.data.y_test)
                    rows.append(EvalRow(done, done / self.steps_per_epoch, sim_time, energy, bits_total, acc,
                                        float(np.mean(losses)) if losses else float("nan"),
                                        *(breakdown[k] for k in ENERGY_KINDS), wire_bits))
                    curve.append((acc, sim_time, energy, float(bits_total)))
                    losses = []
                if on_step is not None:
                    on_step(done, self.total_steps)
        per_worker = np.sum(np.array(step_bits, dtype=np.int64), axis=0)
        n = self.exchange.elements
        codec = self.codec
        first = self.cluster.device(self.workers[0])
        summary = {
            "final_test_accuracy": rows[-1].test_accuracy, "sim_time_s": sim_time, "energy_j": energy,
            "energy_breakdown_j": breakdown, "step_time_s": sim_time / self.total_steps,
            "bits_per_worker": float(per_worker.mean()), "bits_per_worker_each": per_worker.tolist(),
            "bits_up_total": int(bits_total),
            "wire_bits_per_worker": float(np.mean([wire_host[h] for h in self.workers])),
            "wire_bits_per_host": wire_host,
            "steps": self.total_steps, "epochs": self.total_steps / self.steps_per_epoch,
            "sync": self.sync, "overlap": cfg.overlap, "buckets": len(self.buckets),
            "compressor": cfg.compressor, "workers": cfg.workers, "parameters": n,
            "bits_per_element": float(bits_total / (self.total_steps * cfg.workers * n)),
            "encode_s_per_element": (cfg.encode_s_per_element if cfg.encode_s_per_element is not None
                                     else first.codec_time(codec.encode) / n),
            "decode_s_per_element": (cfg.decode_s_per_element if cfg.decode_s_per_element is not None
                                     else first.codec_time(codec.decode) / n),
            "codec_work": {"encode_flops": codec.encode.flops, "encode_bytes": codec.encode.bytes,
                           "encode_calls": codec.encode.calls, "decode_flops": codec.decode.flops,
                           "decode_bytes": codec.decode.bytes, "decode_calls": codec.decode.calls},
            "energy_per_host_j": energy_host, "step_graphs_simulated": self.coster.simulated,
            "forward_flops_per_sample": self.costs.forward_flops,
            "peak_memory_B_per_worker": self.memory.total_B, "memory_B": self.memory.parts(), **to_target(curve, cfg.target_accuracy),
            "status": "ok" if diverged_at is None else "diverged", "diverged_at_step": diverged_at,
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
