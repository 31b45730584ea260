"""Plans on disk: one torch file of tensors and plain values, format ``ddlsim-partition-plan/1``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from hwmodels import SpecError

from .layers import LayerSpec

__all__ = ["PlanPersistence"]

P = TypeVar("P", bound="PlanPersistence")


class PlanPersistence:
    """:meth:`save` and :meth:`load` of :class:`~.plan.PartitionPlan` (a base class of it)."""

    workers: int
    input_owner: np.ndarray
    weight: list[torch.Tensor]
    bias: list[torch.Tensor]
    mask: list[torch.Tensor]
    owner: list[np.ndarray]
    specs: list[LayerSpec]
    fusion: int
    name: str
    info: dict[str, Any]
    act_range: list[tuple[float, float]] | None

    def save(self, path: str | Path) -> Path:
        """Write the plan to ``path`` (a torch file of tensors and plain values)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": "ddlsim-partition-plan/1", "workers": self.workers,
                    "input_owner": torch.as_tensor(self.input_owner), "weight": self.weight, "bias": self.bias,
                    "mask": self.mask, "owner": [torch.as_tensor(o) for o in self.owner],
                    "specs": [sp.to_dict() for sp in self.specs],
                    "fusion": self.fusion, "name": self.name, "info": _plain(self.info),
                    "act_range": self.act_range}, path)
        return path

    @classmethod
    def load(cls: type[P], path: str | Path) -> P:
        """Read a plan written by :meth:`save`."""
        data = torch.load(Path(path), weights_only=True)
        if not isinstance(data, dict) or data.get("format") != "ddlsim-partition-plan/1":
            raise SpecError(f"{path}: not a ddlsim partition plan")
        return cls(workers=data["workers"], input_owner=data["input_owner"].numpy(), weight=data["weight"],
                   bias=data["bias"], mask=data["mask"], owner=[o.numpy() for o in data["owner"]],
                   specs=[LayerSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in sp.items()}) for sp in data["specs"]],
                   fusion=data["fusion"], name=data["name"], info=data["info"],
                   act_range=[tuple(r) for r in data["act_range"]] if data.get("act_range") else None)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
