"""Algorithm and bus bandwidth of a collective, as nccl-tests reports them.

nccl-tests (``doc/PERFORMANCE.md`` in github.com/NVIDIA/nccl-tests) prints for every size
``algbw = S / t`` and ``busbw = algbw x factor``, where ``S`` is the message size in bytes (the
same size ddlsim's collectives take, see :mod:`simulator.collectives`) and the factor makes busbw
the rate each rank's link must carry for an optimal point-to-point algorithm, whatever the rank
count: ``2 (n - 1) / n`` for all-reduce (a ring sends and receives that many times S per rank),
``(n - 1) / n`` for all-gather, reduce-scatter, gather and all-to-all, ``1`` for broadcast and
reduce. A busbw near the link's rate means the algorithm runs the link at its speed.
"""

from __future__ import annotations

from hwmodels import SpecError

__all__ = ["bus_factor", "bus_bandwidth"]


def bus_factor(op: str, ranks: int) -> float:
    """nccl-tests' busbw / algbw for ``op`` on ``ranks`` ranks (dimensionless)."""
    if ranks < 1:
        raise SpecError(f"bus bandwidth needs at least one rank, got {ranks}")
    n = float(ranks)
    if op == "allreduce":
        return 2.0 * (n - 1.0) / n
    if op in ("allgather", "reducescatter", "gather", "alltoall"):
        return (n - 1.0) / n
    if op in ("broadcast", "reduce"):
        return 1.0
    raise SpecError(f"no bus-bandwidth factor for op {op!r}")


def bus_bandwidth(op: str, ranks: int, size_B: float, time_s: float) -> tuple[float, float]:
    """``(algbw, busbw)`` in B/s of ``op`` moving ``size_B`` bytes on ``ranks`` ranks in ``time_s``
    (both 0.0 for a collective that takes no time, e.g. of an empty message)."""
    if time_s <= 0.0:
        return 0.0, 0.0
    algbw = size_B / time_s
    return algbw, algbw * bus_factor(op, ranks)
