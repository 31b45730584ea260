"""Price-only training: the simulated time, energy and bits of a step of a model this machine
cannot train (ResNet-50, BERT-base, GPT-2 small on 1,024 GPUs), with no data and no training.

The model is built on the meta device (no weights; :mod:`simulator.large_models`), priced from its
torch.fx costs (:mod:`simulator.costs`) like a trained one (:class:`~.stepmodel.StepModel`: forward,
per-layer backward, DDP's buckets, the compressor's codec work on each device). The payload bits
come from compressing one seeded Gaussian gradient of every parameter's shape: exact for
fixed-rate schemes (none, fp16, qsgd, topk, powersgd, qcs, ...), an estimate on Gaussian data for
data-dependent ones (Elias-coded QSGD, DGC's threshold); every worker sends that many. Factor
schemes (ISGQ) need real activations and are refused.
"""

from __future__ import annotations

from hwmodels import ENERGY_KINDS, SpecError
from simulator.cluster import Cluster
from simulator.memory import check_fits, probe_compressor, step_memory
from simulator.models import build

from .config import TrainConfig
from .exchange import SUMMABLE, GradientExchange
from .stepgraph import StepCoster
from .stepmodel import StepModel
from .trainer import TrainResult

__all__ = ["price_only", "DEFAULT_CLASSES"]

# Classes of a price-only run when the spec gives none: ImageNet, a 2-way classifier, GPT-2's vocabulary.
DEFAULT_CLASSES = {"resnet50": 1000, "bert-base": 2, "gpt2-small": 50257}


def price_only(config: TrainConfig, cluster: Cluster) -> TrainResult:
    """Price ``config.steps`` (default 1) steps of ``config.model`` on ``cluster``: the summary of a
    training run without accuracy (no rows)."""
    cfg = config
    if cfg.input_shape is None:
        raise SpecError("train: price_only needs input_shape (e.g. [3, 224, 224]) or seq_len (token models)")
    if len(cluster.hosts) < cfg.hosts:
        raise SpecError(f"train: the cluster has {len(cluster.hosts)} hosts, the run needs {cfg.hosts}")
    classes = cfg.classes if cfg.classes is not None else DEFAULT_CLASSES.get(cfg.model, 10)
    model = build(cfg.model, cfg.input_shape, classes, seed=cfg.seed, **cfg.model_params)
    exchange = GradientExchange(model, cfg.compressor, cfg.compressor_params, 1, cfg.seed)
    if exchange.factors:
        raise SpecError(f"train: price_only cannot price {cfg.compressor!r}: it compresses layer activations, "
                        f"which a price-only run does not compute")
    sync = cfg.sync if cfg.sync != "auto" else ("allreduce" if exchange.summable else "allgather")
    if sync == "allreduce" and not exchange.summable:
        raise SpecError(f"train: sync allreduce needs payloads that sum in compressed form ({', '.join(SUMMABLE)})")
    hosts = cluster.hosts
    workers = tuple(hosts[:cfg.workers])
    servers = tuple(hosts[cfg.workers:cfg.hosts]) if sync == "ps" else ()
    step = StepModel(cfg, model, cfg.input_shape, exchange, workers, servers, sync)
    # one worker's payload bits per tensor (a seeded Gaussian gradient of each parameter's shape)
    # and what the compressor keeps between steps
    bits, state_B = probe_compressor(exchange.compressor, [tuple(p.shape) for p in exchange.params], cfg.seed)
    memory = step_memory(step, bits, state_B)
    check_fits({h: memory for h in workers}, {h: cluster.device(h).mem_capacity_B for h in workers}, "train")
    cost = StepCoster(cluster, cfg.mode, cfg.seed).cost(step.plan([bits] * cfg.workers))
    steps = cfg.steps or 1
    n = exchange.elements
    per_worker = float(sum(bits))
    wire = [8.0 * cost.sent_bytes_per_host.get(h, 0.0) for h in workers]
    summary = {
        "price_only": True, "model": cfg.model, "input_shape": list(cfg.input_shape), "classes": classes,
        "parameters": n, "steps": steps, "sim_time_s": steps * cost.makespan_s, "step_time_s": cost.makespan_s,
        "energy_j": steps * cost.energy_j,
        "energy_breakdown_j": {k: steps * cost.energy_breakdown_j.get(k, 0.0) for k in ENERGY_KINDS},
        "energy_j_per_step": cost.energy_j, "bits_per_worker": steps * per_worker,
        "bits_per_worker_per_step": per_worker, "bits_per_element": per_worker / n,
        "wire_bits_per_worker": steps * sum(wire) / len(wire), "sync": sync, "overlap": cfg.overlap,
        "buckets": len(step.buckets), "compressor": cfg.compressor, "workers": cfg.workers,
        "forward_flops_per_sample": step.costs.forward_flops, "final_test_accuracy": None,
        "peak_memory_B_per_worker": memory.total_B, "memory_B": memory.parts(),
    }
    return TrainResult([], summary, [[int(per_worker)] * cfg.workers] * steps, [cost.makespan_s] * steps)
