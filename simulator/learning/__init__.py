"""Data-parallel training on a simulated cluster (docs/training.md).

``train(TrainConfig(...), cluster) -> TrainResult``: K workers compute real gradients on their
own data, pass them through any registered compressor, aggregate them by a collective or a
parameter server, and step an optimizer; every step is a task graph priced on the cluster.
"""

from .config import OPTIMIZERS, OVERLAPS, SYNCS, TrainConfig
from .exchange import SUMMABLE, GradientExchange
from .stepgraph import BucketPlan, StepCoster, StepPlan, bucket_layout, step_graph
from .trainer import EvalRow, Trainer, TrainResult, train
from .priceonly import price_only

__all__ = ["TrainConfig", "OPTIMIZERS", "OVERLAPS", "SYNCS", "SUMMABLE", "GradientExchange", "StepPlan", "BucketPlan",
           "StepCoster", "bucket_layout", "step_graph", "EvalRow", "Trainer", "TrainResult", "train", "price_only"]
