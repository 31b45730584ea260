"""Measured collectives and point-to-point messages on a real gloo group on 127.0.0.1.

Sizes follow :mod:`simulator.collectives`: ``allreduce`` reduces a float32 vector of
``size_B``; ``allgather`` gathers ``size_B`` in total, ``size_B / world`` from each rank;
``broadcast`` sends ``size_B`` from rank 0; ``p2p`` is one message of ``size_B`` from rank 0
to rank 1, timed as half a ping-pong. Sizes are rounded down to whole float32 elements (per
rank for all-gather); the record holds the size that travelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwmodels import SpecError

from .records import Measurement, measurement
from .world import run_world, timed

__all__ = ["OPS", "SIZES_B", "measure_collectives", "repeats_for"]

OPS = ("allreduce", "allgather", "broadcast", "p2p")
SIZES_B = tuple(4096 * 4**i for i in range(8))   # 4 KiB .. 64 MiB


def repeats_for(first_s: float, budget_s: float, low: int, high: int) -> int:
    """Repeats that fit ``budget_s`` at ``first_s`` each, within [low, high]."""
    return int(min(high, max(low, budget_s // max(first_s, 1e-9))))


def _operation(op: str, size_B: float, rank: int, world: int) -> tuple[Any, float]:
    """(a no-argument function running ``op`` once, the bytes it moves as ``size_B`` counts them)."""
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415

    if op == "allreduce":
        x = torch.ones(max(1, int(size_B) // 4))
        return (lambda: dist.all_reduce(x)), 4.0 * x.numel()
    if op == "allgather":
        x = torch.ones(max(1, int(size_B) // (4 * world)))
        out = [torch.empty_like(x) for _ in range(world)]
        return (lambda: dist.all_gather(out, x)), 4.0 * x.numel() * world
    if op == "broadcast":
        x = torch.ones(max(1, int(size_B) // 4))
        return (lambda: dist.broadcast(x, 0)), 4.0 * x.numel()
    if op == "p2p":
        x = torch.ones(max(1, int(size_B) // 4))

        def ping_pong() -> None:
            if rank == 0:
                dist.send(x, 1)
                dist.recv(x, 1)
            elif rank == 1:
                dist.recv(x, 0)
                dist.send(x, 0)

        return ping_pong, 4.0 * x.numel()
    raise SpecError(f"unknown operation {op!r}; known: {', '.join(OPS)}")


def _job(rank: int, world: int, cfg: dict[str, Any]) -> list[Measurement]:
    out = []
    for op in cfg["ops"]:
        for size in cfg["sizes_B"]:
            fn, moved = _operation(op, size, rank, world)
            first = timed(fn, 1, warmup=cfg["warmup"])[0]   # the slowest rank's: the same on every rank
            times = timed(fn, repeats_for(first, cfg["budget_s"], cfg["min_repeats"], cfg["max_repeats"]), warmup=0)
            if op == "p2p":
                times = [t / 2 for t in times]   # one way of the ping-pong
            out.append(measurement("p2p" if op == "p2p" else "collective",
                                   {"op": op, "world": world, "size_B": moved}, times))
    return out


def measure_collectives(world: int, ops: Sequence[str] = OPS, sizes_B: Sequence[float] = SIZES_B, *,
                        budget_s: float = 0.3, min_repeats: int = 5, max_repeats: int = 50, warmup: int = 2,
                        start_method: str = "spawn") -> list[Measurement]:
    """Median seconds of each (op, size) on ``world`` gloo processes on 127.0.0.1 (each
    repeat opened by a barrier, scored by the slowest rank; about ``budget_s`` of repeats per
    point, at least ``min_repeats``, at most ``max_repeats``, after ``warmup`` runs)."""
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise SpecError(f"unknown operation {unknown[0]!r}; known: {', '.join(OPS)}")
    if "p2p" in ops and world < 2:
        raise SpecError("p2p needs a world of at least 2 processes")
    cfg = {"ops": list(ops), "sizes_B": [float(s) for s in sizes_B], "budget_s": budget_s, "min_repeats": min_repeats,
           "max_repeats": max_repeats, "warmup": warmup}
    return run_world(_job, world, cfg, start_method=start_method)[0]
