"""Partitioners by name: ``register(name)`` decorates ``fn(model, ctx, **params) -> PartitionPlan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from hwmodels import SpecError

from ..registry import registrar
from .common import PartitionContext
from .plan import PartitionPlan

__all__ = ["PARTITIONERS", "register", "partition"]

Partitioner = Callable[..., PartitionPlan]
PARTITIONERS: dict[str, Partitioner] = {}


register = registrar(PARTITIONERS, "partitioner")


def partition(name: str, model: nn.Module, ctx: PartitionContext, **params: Any) -> PartitionPlan:
    """Plan ``model`` on ``ctx``'s workers with the partitioner ``name`` and its ``params``; the
    plan's activation ranges are calibrated on ``ctx.calibration``."""
    fn = PARTITIONERS.get(name)
    if fn is None:
        raise SpecError(f"unknown partitioner {name!r}; known: {', '.join(sorted(PARTITIONERS))}")
    try:
        plan = fn(model, ctx, **params)
    except TypeError as exc:
        raise SpecError(f"partitioner {name!r}: {exc}") from None
    plan.name = plan.name or name
    return plan.calibrate(ctx.calibration)
