"""What happens: workloads become task graphs run as events on a modelled cluster.

``run(TaskGraph(...), Cluster(...)) -> ExecutionResult``; the subpackages hold the rest (network,
collectives, compression, partition, learning, federated).
"""

from importlib import import_module
from typing import Any

# name -> the module defining it. Imported on first use (PEP 562), so that importing one light
# module (simulator.taskgraph, simulator.streams) does not load the executor and its backends.
_HOME = {"Cluster": "cluster", "TaskGraph": "taskgraph", "Simulation": "engine", "Timeline": "timeline",
         "ExecutionResult": "executor", "run": "executor"}

__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    """``simulator.<name>`` for the names of ``__all__``, imported from their module on first use."""
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
