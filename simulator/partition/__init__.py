"""Partitioned inference: plans, partitioners, Net-Trim, RePurpose-style restructuring and the
cost-driven optimiser (see docs/inference.md).

``partition(name, model, ctx, **params) -> PartitionPlan`` runs a registered partitioner:
``central``, ``direct``, ``pipeline``, ``graphcut``, ``sparse``, ``distill``, ``repurpose``.
"""

from . import central, direct, distill, graphcut, pipeline, repurpose, sparse  # noqa: F401  (registration by import)
from .common import PartitionContext, sensor_owner
from .optimiser import DEFAULT_KEEPS, Evaluation, OptimiserConfig, OptimiseResult, Target, evaluate, optimise, pareto_front
from .wireless_cost import WirelessHardware, wireless_cost
from .nettrim import NetTrimResult, nettrim_cascade, nettrim_layer, nettrim_parallel
from .layers import LayerSpec, dense_layers, extract, linear_specs
from .maskednet import MaskedNet
from .plan import PartitionPlan
from .registry import PARTITIONERS, partition, register

__all__ = ["WirelessHardware", "wireless_cost", "DEFAULT_KEEPS", "Evaluation", "OptimiserConfig", "OptimiseResult", "Target", "evaluate", "optimise", "pareto_front", "PARTITIONERS", "LayerSpec", "MaskedNet", "extract", "linear_specs", "NetTrimResult", "PartitionContext", "PartitionPlan", "dense_layers",
           "nettrim_cascade", "nettrim_layer", "nettrim_parallel", "partition", "register", "sensor_owner"]
