"""What every partitioner shares: the context, sensor ownership, contiguous blocks, affinity,
support selection under per-destination budgets, and the least-squares refit."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from hwmodels import SpecError
from hwmodels.checks import is_int, is_number
from hwmodels.registry import Registry

from .layers import LayerSpec, unfold

__all__ = ["PartitionContext", "Keep", "SENSORS", "sensor_owner", "blocks", "check_width", "affinity", "magnitude", "assign", "capacities", "memory_slots",
           "destinations", "one_thread", "select_support", "layer_budgets", "refit", "refit_layer", "forward_layer"]


@dataclass
class PartitionContext:
    """The setting a partitioner plans for.

    workers: number of workers K; input_owner: owner of every (flattened) input feature;
    calibration: inputs on which refits are fitted (samples first); fusion: the worker that
    gathers the outputs; seed: for any randomness; input_shape: one input without the batch
    dimension (default: the calibration's); memory_B: each worker's memory in bytes (None:
    unlimited), which bounds the neurons the assigning partitioners give it
    (:func:`memory_slots`).
    """

    workers: int
    input_owner: np.ndarray
    calibration: torch.Tensor
    fusion: int = 0
    seed: int = 0
    input_shape: tuple[int, ...] = ()
    memory_B: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if not is_int(self.workers) or self.workers < 1:
            raise SpecError(f"workers must be a positive integer, got {self.workers!r}")
        self.workers = int(self.workers)
        self.input_owner = np.asarray(self.input_owner, dtype=np.int64)
        calib = torch.as_tensor(self.calibration, dtype=torch.float32)
        self.input_shape = tuple(int(s) for s in (self.input_shape or calib.shape[1:]))
        self.calibration = calib.reshape(len(calib), -1)
        if math.prod(self.input_shape) != self.calibration.shape[1]:
            raise SpecError(f"input_shape {self.input_shape} does not match inputs of {self.calibration.shape[1]} features")
        if self.input_owner.shape != (self.calibration.shape[1],):
            raise SpecError(f"input ownership covers {self.input_owner.size} features but the inputs have "
                            f"{self.calibration.shape[1]}")
        if self.input_owner.min() < 0 or self.input_owner.max() >= self.workers:
            raise SpecError(f"input ownership names workers outside 0..{self.workers - 1}")
        if not 0 <= self.fusion < self.workers:
            raise SpecError(f"fusion worker {self.fusion} is not in 0..{self.workers - 1}")
        if self.memory_B is not None:
            mem = np.asarray(self.memory_B, dtype=float)
            if mem.shape != (self.workers,) or not np.all(np.isfinite(mem)) or np.any(mem <= 0):
                raise SpecError(f"memory_B: give one positive number of bytes per worker ({self.workers})")
            self.memory_B = [float(m) for m in mem]


def _grid(k: int) -> tuple[int, int]:
    r = int(math.isqrt(k))
    while k % r:
        r -= 1
    return r, k // r


# a restructuring budget: one kept fraction for every layer, or one per layer
Keep = float | Sequence[float]


# sensor layout name -> (input shape, workers) -> owner of every flattened input feature
SENSORS: Registry[Callable[[tuple[int, ...], int], np.ndarray]] = Registry("sensors")


@SENSORS.register("segments")
def _segments(shape: tuple[int, ...], workers: int) -> np.ndarray:
    length = shape[-1]
    check_width(length, workers, "sensors 'segments': the signal", "samples")
    return np.broadcast_to(blocks(length, workers), shape).reshape(-1).copy()


def _tiles(kind: str, shape: tuple[int, ...], workers: int) -> np.ndarray:
    if len(shape) != 3:
        raise SpecError(f"sensors {kind!r} need (channels, height, width) inputs, got shape {shape}")
    _, h, w = shape
    gr, gc = (workers, 1) if kind == "rows" else _grid(workers)
    if gr > h or gc > w:
        raise SpecError(f"sensors {kind!r}: {workers} workers need a {gr} x {gc} grid of tiles but the image is "
                        f"{h} x {w} pixels")
    tile = blocks(h, gr)[:, None] * gc + blocks(w, gc)[None, :]
    return np.broadcast_to(tile, shape).reshape(-1).copy()


SENSORS.add("quadrants", lambda shape, workers: _tiles("quadrants", shape, workers))
SENSORS.add("rows", lambda shape, workers: _tiles("rows", shape, workers))


def sensor_owner(kind: str | Sequence[int], input_shape: Sequence[int], workers: int) -> np.ndarray:
    """Owner of every flattened input feature.

    ``"quadrants"``: (C, H, W) images cut into a most-square grid of ``workers`` tiles (4: quadrants);
    ``"segments"``: the last axis cut into ``workers`` contiguous segments (signals);
    ``"rows"``: image rows in ``workers`` contiguous bands; or an explicit list, one owner per feature.
    """
    shape = tuple(int(s) for s in input_shape)
    n = math.prod(shape)
    if not isinstance(kind, str):
        owner = np.asarray(list(kind))
        if owner.shape != (n,) or not np.issubdtype(owner.dtype, np.integer):
            raise SpecError(f"sensors: an explicit map needs one integer owner per input feature ({n}), got {owner.size}")
        if owner.min() < 0 or owner.max() >= workers:
            raise SpecError(f"sensors: owners must be in 0..{workers - 1}")
        return owner.astype(np.int64)
    return SENSORS.get(kind, where="sensors (a name, or an explicit list of owners)")(shape, workers)


def check_width(n: int, workers: int, what: str, unit: str = "neurons") -> None:
    """SpecError when ``what`` has fewer ``unit`` (``n``) than there are ``workers``: every worker
    needs at least one."""
    if workers > n:
        raise SpecError(f"{what} has {n} {unit} but there are {workers} workers: every worker needs at least one")


def blocks(n: int, workers: int) -> np.ndarray:
    """Owner of ``n`` items cut into ``workers`` contiguous blocks of (nearly) equal size."""
    return (np.arange(n) * workers) // n


def affinity(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A_ji = ||W_ji||^2 E[x_i^2] (out x in; a convolution's kernel summed, x_i's positions
    averaged), x: (samples x in x positions...)."""
    w2 = (weight.double() ** 2).reshape(weight.shape[0], weight.shape[1], -1).sum(2)
    x2 = (x.double() ** 2).reshape(len(x), weight.shape[1], -1).mean((0, 2))
    return w2 * x2[None, :]


def magnitude(weight: torch.Tensor) -> torch.Tensor:
    """|W_ji| (out x in; a convolution's kernel norm)."""
    return weight.double().reshape(weight.shape[0], weight.shape[1], -1).norm(dim=2)


def capacities(n: int, workers: int, share: Sequence[float] | None = None,
               slots: Sequence[int] | None = None) -> np.ndarray:
    """Neurons each worker may own: ceil of its share of ``n`` (equal shares by default), at most
    its memory ``slots`` (:func:`memory_slots`); what memory takes from a worker's share goes to
    the workers with the most memory left."""
    w = np.ones(workers) if share is None else np.asarray(share, dtype=float)
    if w.shape != (workers,) or np.any(w < 0) or w.sum() <= 0:
        raise SpecError(f"capacity: give one non-negative share per worker ({workers}), not all zero")
    cap = np.ceil(n * w / w.sum() - 1e-9).astype(np.int64)
    if slots is not None:
        room = np.asarray(slots, dtype=np.int64)
        cap = np.minimum(cap, room)
        if room.sum() < n:
            from simulator.memory import DoesNotFit  # noqa: PLC0415

            raise DoesNotFit(f"capacity: the workers' memory holds {int(room.sum())} of the layer's {n} neurons "
                            f"(memory_B); use more workers or a smaller model")
        while cap.sum() < n:
            cap[int(np.argmax(room - cap))] += 1
    if cap.sum() < n:
        raise SpecError(f"capacity: the workers can hold {cap.sum()} neurons but the layer has {n}")
    return cap


def memory_slots(ctx: PartitionContext, rows: int, weights: Sequence[torch.Tensor],
                 biases: Sequence[torch.Tensor]) -> np.ndarray | None:
    """Neurons of a layer of ``rows`` each worker's memory (``ctx.memory_B``) holds when every
    worker keeps at most the fraction memory / (the model's fp32 weights) of every layer
    (:func:`simulator.memory.neuron_slots`); None without ``memory_B``."""
    if ctx.memory_B is None:
        return None
    from simulator.memory import neuron_slots  # noqa: PLC0415

    total = 4.0 * sum(w.numel() + b.numel() for w, b in zip(weights, biases))
    return neuron_slots(rows, total, ctx.memory_B)


def assign(cost: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Owner of each row (neuron) minimising the summed ``cost`` (neurons x workers) with at most
    ``cap[k]`` neurons on worker k: worker columns repeated ``cap[k]`` times, then Munkres."""
    n, k = cost.shape
    if cap.sum() < n:
        raise SpecError(f"assignment infeasible: capacities hold {int(cap.sum())} neurons, the layer has {n}")
    cols = np.repeat(np.arange(k), cap)
    rows, chosen = linear_sum_assignment(cost[:, cols])
    owner = np.empty(n, dtype=np.int64)
    owner[rows] = cols[chosen]
    return owner


def layer_budgets(keep: Keep, layers: int) -> list[float]:
    """Per-layer kept fraction of each destination's foreign inputs (a number for all layers, or a list)."""
    vals = [keep] * layers if isinstance(keep, (int, float)) else list(keep)
    if len(vals) != layers:
        raise SpecError(f"keep: give one fraction for all layers or exactly {layers}, got {len(vals)}")
    for v in vals:
        if not is_number(v) or not 0 <= v <= 1:
            raise SpecError(f"keep: every budget must be a fraction in [0, 1], got {v!r}")
    return [float(v) for v in vals]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside: loops of many small or medium products (ADMM iterations,
    support sweeps) lose more to intra-op synchronisation than they gain, 5-15x on a busy 2-core
    host (measured); the caller's thread count is restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def destinations(owner: np.ndarray, in_owner: np.ndarray, workers: int,
                 keep: float) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, int]]:
    """Every worker owning neurons, as (worker, its neuron rows, its local-input flags, its foreign
    input indices, its budget = round(``keep`` x foreign inputs)): the per-destination budget every
    support rule spends."""
    in_t = torch.as_tensor(np.asarray(in_owner))
    for k in range(workers):
        rows = torch.as_tensor(np.flatnonzero(owner == k), dtype=torch.long)
        if rows.numel() == 0:
            continue
        local = in_t == k
        foreign = torch.nonzero(~local).flatten()
        yield k, rows, local, foreign, int(round(keep * foreign.numel()))


def select_support(score: torch.Tensor, owner: np.ndarray, in_owner: np.ndarray, workers: int,
                   keep: float) -> torch.Tensor:
    """Mask (out x in): each neuron keeps its worker's local inputs plus that worker's shared set of
    foreign inputs, chosen greedily by summed ``score`` over the worker's neurons, ``keep`` of them."""
    mask = torch.zeros(score.shape, dtype=torch.bool)
    for _, rows, local, foreign, budget in destinations(owner, in_owner, workers, keep):
        allowed = local.clone()
        if budget:
            summed = score[rows][:, foreign].sum(0)
            allowed[foreign[torch.topk(summed, budget).indices]] = True
        mask[rows] = allowed
    return mask


def refit(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, ridge: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Least squares of ``target`` (rows x out, pre-activations) on each neuron's allowed columns
    of ``x`` (rows x in) and a bias; one solve per distinct support (neurons sharing it share it).
    Returns (weight out x in, zero outside the mask; bias)."""
    xd = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], 1)
    gram = xd.T @ xd
    rhs = xd.T @ target.double()
    scale = ridge * float(torch.diagonal(gram).mean())
    supports, inverse = torch.unique(mask, dim=0, return_inverse=True)
    weight = torch.zeros(mask.shape, dtype=torch.float64)
    bias = torch.zeros(mask.shape[0], dtype=torch.float64)
    for s in range(len(supports)):
        cols = torch.cat([torch.nonzero(supports[s]).flatten(), torch.tensor([mask.shape[1]])])
        rows = torch.nonzero(inverse == s).flatten()
        g = gram[cols][:, cols] + scale * torch.eye(len(cols), dtype=torch.float64)
        sol = torch.linalg.solve(g, rhs[cols][:, rows])
        weight[rows[:, None], cols[None, :-1]] = sol[:-1].T
        bias[rows] = sol[-1]
    return weight.float(), bias.float()


def forward_layer(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, act: str) -> torch.Tensor:
    """A dense layer on ``x`` (samples x in): ``x W^T + b``, then ``act`` ("relu" or "none")."""
    h = x @ weight.T + bias
    return torch.relu(h) if act == "relu" else h


def refit_layer(spec: LayerSpec, x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                kernel: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`refit` of a Linear or convolution layer: ``target`` is its pre-activation on ``x``
    (samples, out, positions...); a convolution's inputs are unfolded into patches."""
    k = math.prod(kernel)
    cols = unfold(spec, x, kernel)
    rows = target.reshape(len(target), target.shape[1], -1).transpose(1, 2).reshape(-1, target.shape[1])
    w, b = refit(cols, rows, mask.repeat_interleave(k, dim=1))
    return w.reshape(mask.shape[0], mask.shape[1], *kernel), b