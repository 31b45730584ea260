"""The configuration of a data-parallel training run: one frozen record, validated."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hwmodels import SpecError

__all__ = ["TrainConfig", "OPTIMIZERS", "SYNCS"]

OPTIMIZERS = ("sgd", "momentum", "adam")
# auto: all-reduce when the payloads can be summed in compressed form, all-gather otherwise.
SYNCS = ("auto", "allreduce", "allgather", "ps")


def _int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"train: {name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how to synchronise it (the hardware is the Cluster's business).

    ``batch_size`` is per worker. Give ``steps`` or ``epochs`` (an epoch is
    ``floor(train samples / (workers * batch_size))`` steps, at least 1). ``eval_every`` is in
    steps (0: at the end only). ``alpha`` set: non-IID Dirichlet split. ``shards``: parameter
    server shards (``sync="ps"``). ``encode_s_per_element`` / ``decode_s_per_element``: a
    measured codec time per gradient element, used on every device; None (the default)
    prices the compressor's declared work on each device (:mod:`simulator.learning.codec`).
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

    def __post_init__(self) -> None:
        _int("workers", self.workers, 1)
        _int("batch_size", self.batch_size, 1)
        _int("shards", self.shards, 1)
        _int("eval_every", self.eval_every, 0)
        _int("seed", self.seed, 0)
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(f"train: unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        if self.sync not in SYNCS:
            raise SpecError(f"train: unknown sync {self.sync!r}; known: {', '.join(SYNCS)}")
        if (self.steps is None) == (self.epochs is None):
            raise SpecError("train: give exactly one of steps or epochs")
        if self.steps is not None:
            _int("steps", self.steps, 1)
        if self.epochs is not None:
            _int("epochs", self.epochs, 1)
        for name in ("lr", "momentum", "weight_decay", "encode_s_per_element", "decode_s_per_element", "backward_factor"):
            value = getattr(self, name)
            if value is None and name.endswith("element"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SpecError(f"train: {name} must be a finite number >= 0, got {value!r}")
        if not self.lr > 0:
            raise SpecError(f"train: lr must be > 0, got {self.lr!r}")
        if self.alpha is not None and not self.alpha > 0:
            raise SpecError(f"train: alpha must be > 0 (Dirichlet concentration), got {self.alpha!r}")
        if self.mode not in ("des", "analytic"):
            raise SpecError(f"train: mode must be 'des' or 'analytic', got {self.mode!r}")

    @property
    def hosts(self) -> int:
        """Hosts the cluster needs: the workers, plus the shards of a parameter server."""
        return self.workers + (self.shards if self.sync == "ps" else 0)
