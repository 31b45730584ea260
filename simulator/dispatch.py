"""Counting the torch operators a piece of code dispatches (what a device's per-call overhead,
:attr:`hwmodels.Device.call_overhead_s`, is charged for)."""

from __future__ import annotations

from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["DispatchCounter"]


class DispatchCounter(TorchDispatchMode):
    """``with DispatchCounter() as c: ...`` counts in ``c.calls`` every aten operator dispatched
    inside, views, scalars and allocations included: each is one trip through eager PyTorch's
    dispatcher (one kernel launch on a GPU), whatever its arithmetic."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls += 1
        return func(*args, **(kwargs or {}))
