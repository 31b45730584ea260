"""The configuration of a data-parallel training run: one frozen record, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hwmodels import DTYPES, SpecError
from hwmodels.checks import is_int, is_number, require_int

__all__ = ["TrainConfig", "OPTIMIZERS", "SYNCS", "OVERLAPS", "DDP_BUCKET_CAP_B", "DDP_FIRST_BUCKET_B"]

OPTIMIZERS = ("sgd", "momentum", "adam")
# auto: all-reduce when the payloads can be summed in compressed form, all-gather otherwise.
SYNCS = ("auto", "allreduce", "allgather", "ps")
# ddp: gradients in buckets, each communicated as soon as its layers' backward is done; none:
# one bucket after the whole backward pass.
OVERLAPS = ("ddp", "none")
DDP_BUCKET_CAP_B = 25 * 2 ** 20     # torch.nn.parallel.DistributedDataParallel(bucket_cap_mb=25)
DDP_FIRST_BUCKET_B = 2 ** 20        # DDP's first bucket (torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES)


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how to synchronise it (the hardware is the Cluster's business).

    ``batch_size`` is per worker. Give ``steps`` or ``epochs`` (an epoch is
    ``floor(train samples / (workers * batch_size))`` steps, at least 1). ``eval_every`` is in
    steps (0: at the end only). ``alpha`` set: non-IID Dirichlet split. ``shards``: parameter
    server shards (``sync="ps"``). ``encode_s_per_element`` / ``decode_s_per_element``: a
    measured codec time per gradient element, used on every device; None (the default)
    prices the compressor's declared work on each device (:mod:`simulator.learning.codec`).
    ``overlap`` (:data:`OVERLAPS`), ``bucket_cap_B`` and ``first_bucket_B``: the step's gradient
    buckets (:mod:`simulator.learning.stepgraph`). ``target_accuracy``: report the simulated
    time, energy and bits until an evaluation first reaches it. ``price_only``: no data and no
    training: price steps of the model built for ``input_shape`` and ``classes``
    (:mod:`simulator.learning.priceonly`).
    """

    model: str = "mlp"
    data: str = "digits"
    workers: int = 4
    batch_size: int = 32
    model_params: dict[str, Any] = field(default_factory=dict)
    data_params: dict[str, Any] = field(default_factory=dict)
    alpha: float | None = None
    compressor: str = "none"
    compressor_params: dict[str, Any] = field(default_factory=dict)
    sync: str = "auto"
    shards: int = 1
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    steps: int | None = None
    epochs: int | None = None
    eval_every: int = 0
    seed: int = 0
    encode_s_per_element: float | None = None
    decode_s_per_element: float | None = None
    backward_factor: float = 2.0
    mode: str = "des"
    overlap: str = "ddp"
    bucket_cap_B: float = DDP_BUCKET_CAP_B
    first_bucket_B: float = DDP_FIRST_BUCKET_B
    target_accuracy: float | None = None
    price_only: bool = False
    compute_dtype: str = "fp32"
    input_shape: tuple[int, ...] | None = None
    classes: int | None = None

    def __post_init__(self) -> None:
        for name, low in (("workers", 1), ("batch_size", 1), ("shards", 1), ("eval_every", 0), ("seed", 0)):
            require_int(getattr(self, name), f"train: {name}", low=low)
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(f"train: unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        if self.sync not in SYNCS:
            raise SpecError(f"train: unknown sync {self.sync!r}; known: {', '.join(SYNCS)}")
        if (self.steps is None) == (self.epochs is None):
            raise SpecError("train: give exactly one of steps or epochs")
        if self.steps is not None:
            require_int(self.steps, "train: steps", low=1)
        if self.epochs is not None:
            require_int(self.epochs, "train: epochs", low=1)
        for name in ("lr", "momentum", "weight_decay", "encode_s_per_element", "decode_s_per_element", "backward_factor"):
            value = getattr(self, name)
            if value is None and name.endswith("element"):
                continue
            if not is_number(value) or value < 0:
                raise SpecError(f"train: {name} must be a finite number >= 0, got {value!r}")
        if not self.lr > 0:
            raise SpecError(f"train: lr must be > 0, got {self.lr!r}")
        if self.alpha is not None and not self.alpha > 0:
            raise SpecError(f"train: alpha must be > 0 (Dirichlet concentration), got {self.alpha!r}")
        if self.mode not in ("des", "analytic"):
            raise SpecError(f"train: mode must be 'des' or 'analytic', got {self.mode!r}")
        if self.overlap not in OVERLAPS:
            raise SpecError(f"train: overlap must be one of {', '.join(OVERLAPS)}, got {self.overlap!r}")
        for name in ("bucket_cap_B", "first_bucket_B"):
            value = getattr(self, name)
            if not is_number(value) or not value > 0:
                raise SpecError(f"train: {name} must be a positive size in bytes (e.g. 25MiB), got {value!r}")
        if self.compute_dtype not in DTYPES:
            raise SpecError(f"train: compute_dtype must be one of {', '.join(DTYPES)}, got {self.compute_dtype!r}")
        if not isinstance(self.price_only, bool):
            raise SpecError(f"train: price_only must be true or false, got {self.price_only!r}")
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if not shape or any(not is_int(d) or d < 1 for d in shape):
                raise SpecError(f"train: input_shape must be positive integers (no batch dimension), got {self.input_shape!r}")
            object.__setattr__(self, "input_shape", shape)
        if self.classes is not None:
            require_int(self.classes, "train: classes", low=2)
        t = self.target_accuracy
        if t is not None and (not is_number(t) or not 0 < t <= 1):
            raise SpecError(f"train: target_accuracy must be a test accuracy in (0, 1], got {t!r}")

    @property
    def hosts(self) -> int:
        """Hosts the cluster needs: the workers, plus the shards of a parameter server."""
        return self.workers + (self.shards if self.sync == "ps" else 0)
