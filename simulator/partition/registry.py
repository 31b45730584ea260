"""Partitioners by name: ``@register(name)`` on ``fn(model, ctx, **params) -> PartitionPlan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from hwmodels.registry import Registry, bind_params

from .common import PartitionContext
from .plan import PartitionPlan

__all__ = ["PARTITIONERS", "register", "partition"]

Partitioner = Callable[..., PartitionPlan]
PARTITIONERS: Registry[Partitioner] = Registry("partitioner")
register = PARTITIONERS.register


def partition(name: str, model: nn.Module, ctx: PartitionContext, **params: Any) -> PartitionPlan:
    """Plan ``model`` on ``ctx``'s workers with the partitioner ``name`` and its ``params``; the
    plan's activation ranges are calibrated on ``ctx.calibration``."""
    fn = PARTITIONERS.get(name)
    plan = fn(model, ctx, **bind_params(fn, params, f"partitioner {name!r}", given=("model", "ctx")))
    plan.name = plan.name or name
    return plan.calibrate(ctx.calibration)
