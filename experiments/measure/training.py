"""Measured data-parallel training steps: real DDP on a gloo group on 127.0.0.1.

A :class:`TrainCase` is one configuration: a shipped model (:func:`simulator.models.build`)
on inputs of a data set's shape, a per-worker batch, ``workers`` processes, a compressor run
by the communication hook of :mod:`simulator.compression.ddp_hooks` (``none`` uses DDP's own
all-reduce) and overlap on or off:

* overlap off: DDP with one bucket holding the whole model (``bucket_cap_mb`` set to the
  model's gradient size, so also the first bucket), so communication starts after the whole
  backward pass;
* overlap on: buckets capped at an eighth of the model's gradient bytes (or ``bucket_B``), so
  the exchange of the last layers' buckets runs while earlier layers' gradients are computed.

The record's ``bucket_sizes_B`` lists DDP's buckets (after its first-iteration rebuild) in the
order they are reduced, for the simulated step to use the same layout.

A step is zero_grad, forward, cross-entropy, backward (the hook's exchange completes inside
it) and an SGD update, on a fixed random batch of the data set's shape (timing does not
depend on the values). ``train-step`` records time that; ``train-compute`` records the same
step of the bare model (no DDP) run at the same time on every rank, the compute under the
same sharing of the cores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hwmodels import SpecError

from .collectives import repeats_for
from .records import Measurement, measurement
from .world import run_world, timed

__all__ = ["TrainCase", "DATA_SHAPES", "OVERLAP_BUCKETS", "measure_training"]

# Overlap on: bucket cap of 1/8 of the gradient bytes. DDP closes a bucket once it reaches the
# cap, so a layer larger than the cap fills a bucket alone: the MLP gets 2 buckets, ResNet-8 and
# the 1-D CNN more; the record keeps DDP's actual bucket sizes.
OVERLAP_BUCKETS = 8

# Input shape and classes of the data sets the shipped models train on (simulator.data).
DATA_SHAPES: dict[str, tuple[tuple[int, ...], int]] = {"digits": ((1, 8, 8), 10), "mnist1d": ((1, 40), 10)}


@dataclass(frozen=True)
class TrainCase:
    """One measured (and simulated) data-parallel training configuration."""

    model: str
    data: str
    workers: int
    batch_size: int = 32
    compressor: str = "none"
    compressor_params: Mapping[str, Any] = field(default_factory=dict)
    overlap: bool = False
    bucket_B: float | None = None
    model_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data not in DATA_SHAPES:
            raise SpecError(f"data: unknown data set {self.data!r}; known: {', '.join(DATA_SHAPES)}")
        if self.workers < 1 or self.batch_size < 1:
            raise SpecError(f"workers and batch_size must be >= 1, got {self.workers}, {self.batch_size}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape (no batch dimension) of the case's data set."""
        return DATA_SHAPES[self.data][0]

    @property
    def classes(self) -> int:
        """Output classes of the case's data set."""
        return DATA_SHAPES[self.data][1]

    def __hash__(self) -> int:   # parameters are dicts: hash the flat configuration
        return hash(tuple(self.config().items()))

    def config(self) -> dict[str, Any]:
        """The flat configuration of a record (parameters as sorted ``k=v`` text)."""
        out = asdict(self)
        out["compressor_params"] = ",".join(f"{k}={v}" for k, v in sorted(self.compressor_params.items()))
        out["model_params"] = ",".join(f"{k}={v}" for k, v in sorted(self.model_params.items()))
        return out


def _buckets(ddp: Any) -> tuple[int, ...]:
    """Bytes of each of DDP's buckets in the order they are reduced (after its rebuild)."""
    info = ddp._get_ddp_logging_data()
    sizes = info.get("rebuilt_bucket_sizes") if info.get("has_rebuilt_buckets") else info.get("bucket_sizes")
    return tuple(int(s) for s in str(sizes).split(",") if s.strip())


def _case_job(rank: int, world: int, cfg: dict[str, Any]) -> list[Measurement]:
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415
    from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

    from simulator.compression.ddp_hooks import register  # noqa: PLC0415
    from simulator.models import build  # noqa: PLC0415

    out = []
    for case in cfg["cases"]:
        model = build(case.model, case.input_shape, case.classes, seed=0, **case.model_params)
        grad_B = 4.0 * sum(p.numel() for p in model.parameters() if p.requires_grad)
        cap_B = case.bucket_B or (grad_B / OVERLAP_BUCKETS if case.overlap else grad_B)
        ddp = DistributedDataParallel(model, bucket_cap_mb=cap_B / 2**20)
        hook = None if case.compressor == "none" else register(ddp, case.compressor, case.compressor_params, seed=0)
        gen = torch.Generator().manual_seed(rank)
        x = torch.randn(case.batch_size, *case.input_shape, generator=gen)
        y = torch.randint(0, case.classes, (case.batch_size,), generator=gen)

        def step(net: nn.Module, opt: torch.optim.Optimizer) -> None:
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()

        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        bare = build(case.model, case.input_shape, case.classes, seed=0, **case.model_params)
        bare_opt = torch.optim.SGD(bare.parameters(), lr=1e-3)
        runs = {"train-step": lambda: step(ddp, opt), "train-compute": lambda: step(bare, bare_opt)}
        for kind, fn in runs.items():
            first = timed(fn, 1, warmup=cfg["warmup"])[0]
            times = timed(fn, repeats_for(first, cfg["budget_s"], cfg["min_repeats"], cfg["max_repeats"]), warmup=0)
            extra: dict[str, Any] = {"grad_B": grad_B, "bucket_cap_B": cap_B, "bucket_sizes_B": _buckets(ddp)}
            if kind == "train-step" and hook is not None:
                extra.update(bits_per_step=hook.bits / hook.step, wire_B_per_step=hook.wire_bytes / hook.step)
            out.append(measurement(kind, {**case.config(), **extra}, times))
    return out


def measure_training(cases: Sequence[TrainCase], *, budget_s: float = 0.5, min_repeats: int = 5, max_repeats: int = 30,
                     warmup: int = 3, start_method: str = "spawn") -> list[Measurement]:
    """Median step time of every case (``train-step``) and of its bare compute
    (``train-compute``); cases with the same ``workers`` share one process group."""
    by_world: dict[int, list[TrainCase]] = {}
    for case in cases:
        by_world.setdefault(case.workers, []).append(case)
    out: list[Measurement] = []
    for world, group in sorted(by_world.items()):
        cfg = {"cases": group, "budget_s": budget_s, "min_repeats": min_repeats, "max_repeats": max_repeats,
               "warmup": warmup}
        out += run_world(_case_job, world, cfg, start_method=start_method)[0]
    return out
