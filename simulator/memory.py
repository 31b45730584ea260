"""Memory a worker needs, against what its device has (``Device.mem_capacity_B``).

Everything in bytes. A worker holds:

* ``weights_B``: the parameters at the compute precision (``DTYPE_BYTES[dtype]`` per value);
  ``buffers_B``: the module's buffers at their own size (BatchNorm running statistics);
* ``activations_B``: for inference, the peak over the layer schedule of the activations alive at
  once on ``batch`` samples (:func:`activation_peak_B`: a tensor lives from the node that writes it
  to the last node that reads it; reshapes and other zero-cost nodes are views of their input);
  for training, every node's output is kept for the backward pass (an upper bound on what
  autograd saves: the tests hold it above torch's saved tensors) plus the two largest gradients
  alive while one layer is differentiated (:func:`training_activations_B`);
* training only: ``gradients_B`` (one per parameter, compute precision), ``optimizer_B``
  (fp32 slots per parameter, :data:`OPTIMIZER_SLOTS`: SGD 0, momentum 1, Adam 2), ``comm_B`` (DDP's
  gradient buckets, a flat fp32 copy of the gradient, plus the receive buffer of the largest
  bucket's payload: one, or one per other worker under all-gather), ``compressor_B`` (what the
  compressor keeps between steps, measured: error-feedback residuals, PowerSGD's warm-start
  factors; :func:`probe_compressor`).

A partition plan's worker (:func:`plan_memory`) holds its surviving weights (values only: a
worker's neurons share one support, so the index overhead is one list per worker, not counted)
and, per layer, the inputs it owns or receives, its residual inputs and its outputs on the
batch (the fusion worker also the gathered outputs); the peak over the layers.

:func:`check_fits` refuses a configuration with one line naming the worker, what it needs and
what it has (:class:`DoesNotFit`, a :class:`~hwmodels.SpecError`: exit code 2 on the command
line, status ``infeasible`` in a sweep, dropped from a Pareto search).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError
from hwmodels.device import DTYPE_BYTES
from hwmodels.registry import Registry

from .costs import ModelCost

__all__ = ["DoesNotFit", "MemoryNeed", "OPTIMIZER_SLOTS", "activation_peak_B", "training_activations_B",
           "inference_memory", "training_memory", "step_memory", "probe_compressor", "plan_memory", "check_fits", "neuron_slots"]

OPTIMIZER_SLOTS: Registry[int] = Registry("optimizer")   # name -> fp32 state tensors per parameter
for _name, _slots in (("sgd", 0), ("momentum", 1), ("adam", 2)):
    OPTIMIZER_SLOTS.add(_name, _slots)
_TRACED_BYTES = 4.0   # costs are traced on fp32 samples and fp32 weights


class DoesNotFit(SpecError):
    """A worker needs more memory than its device has (the message names both)."""


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes one worker holds, by kind (see the module doc)."""

    weights_B: float = 0.0
    buffers_B: float = 0.0
    activations_B: float = 0.0
    gradients_B: float = 0.0
    optimizer_B: float = 0.0
    comm_B: float = 0.0
    compressor_B: float = 0.0

    @property
    def total_B(self) -> float:
        """Bytes of every kind together."""
        return float(sum(asdict(self).values()))

    def parts(self) -> dict[str, float]:
        """The non-zero kinds, for messages and JSON."""
        return {k: v for k, v in asdict(self).items() if v}


def _scale(dtype: str) -> float:
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"memory: dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype] / _TRACED_BYTES


def _live_ranges(cost: ModelCost, input_B: float) -> list[tuple[float, int, int]]:
    """(bytes per sample, first node, last node) of every activation tensor of the schedule (the
    model input first); views are folded into the tensor they view."""
    layers = [lay for lay in cost.layers if lay.op != "parameter"]
    params = {lay.name for lay in cost.layers if lay.op == "parameter"}
    root: dict[str, str] = {}
    size: dict[str, float] = {}
    span: dict[str, list[int]] = {}
    for i, lay in enumerate(layers):
        sources = [root.get(n, n) for n in lay.inputs if n not in params]
        for s in sources:
            if s not in size:   # not written by a node: the model's input
                size[s], span[s] = input_B, [0, i]
            span[s][1] = i
        if lay.activation_bytes > 0 or not sources:
            root[lay.name] = lay.name
            size[lay.name], span[lay.name] = lay.activation_bytes, [i, i]
        else:
            root[lay.name] = sources[0]
    if layers:   # the model's output lives to the end
        span[root[layers[-1].name]][1] = len(layers) - 1
    return [(size[t], span[t][0], span[t][1]) for t in size]


def activation_peak_B(cost: ModelCost, input_shape: Sequence[int], batch: int = 1, dtype: str = "fp32") -> float:
    """Peak bytes of activations alive at once in a forward pass of ``batch`` samples."""
    ranges = _live_ranges(cost, _TRACED_BYTES * math.prod(input_shape))
    if not ranges:
        return 0.0
    end = max(last for _, _, last in ranges)
    alive = np.zeros(end + 1)
    for nbytes, first, last in ranges:
        alive[first:last + 1] += nbytes
    return float(alive.max()) * batch * _scale(dtype)


def training_activations_B(cost: ModelCost, input_shape: Sequence[int], batch: int = 1, dtype: str = "fp32") -> float:
    """Activations of a training step on ``batch`` samples: the input and every node's output kept
    for the backward pass, plus the two largest outputs' gradients (the gradient a layer receives
    and the one it passes back)."""
    acts = sorted((lay.activation_bytes for lay in cost.layers), reverse=True)
    kept = _TRACED_BYTES * math.prod(input_shape) + sum(acts)
    return (kept + sum(acts[:2])) * batch * _scale(dtype)


def _buffers_B(model: nn.Module) -> float:
    return float(sum(b.numel() * b.element_size() for b in model.buffers()))


def inference_memory(model: nn.Module, cost: ModelCost, input_shape: Sequence[int], *, batch: int = 1,
                     dtype: str = "fp32") -> MemoryNeed:
    """One worker running all of ``model`` (whose per-layer costs are ``cost``) on ``batch`` samples."""
    return MemoryNeed(weights_B=cost.param_bytes * _scale(dtype), buffers_B=_buffers_B(model),
                      activations_B=activation_peak_B(cost, input_shape, batch, dtype))


def _tensor_bytes(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.numel() * value.element_size())
    if isinstance(value, Mapping):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0.0


def probe_compressor(compressor: Any, shapes: Sequence[tuple[int, ...]], seed: int) -> tuple[list[int], float]:
    """Compress one seeded Gaussian gradient of every shape on fresh states: (payload bits per
    tensor, bytes the states keep afterwards: error-feedback residuals, warm-start factors)."""
    from .compression import State  # noqa: PLC0415  (compression imports torch-heavy modules)

    gen = torch.Generator().manual_seed(seed)
    bits, kept = [], 0.0
    for i, shape in enumerate(shapes):
        state = State(seed, 0, 0, i)
        g = torch.randn(tuple(shape), generator=gen) * 1e-3
        bits.append(int(compressor.compress(g, state).nbits))
        kept += _tensor_bytes(state.memory)
    return bits, kept


def training_memory(model: nn.Module, cost: ModelCost, input_shape: Sequence[int], *, batch: int, dtype: str,
                    optimizer: str, buckets: Sequence[Sequence[int]], payload_bits: Sequence[int], sync: str,
                    workers: int, compressor_B: float) -> MemoryNeed:
    """One data-parallel worker's training step: ``buckets`` lists the parameter indices of each
    gradient bucket, ``payload_bits`` the bits of each parameter's compressed gradient."""
    slots = OPTIMIZER_SLOTS.get(optimizer, where="memory")
    elements = cost.param_bytes / _TRACED_BYTES
    scale = _scale(dtype)
    payload = max((math.ceil(sum(payload_bits[i] for i in b) / 8) for b in buckets), default=0)
    receivers = max(workers - 1, 1) if sync == "allgather" else 1
    return MemoryNeed(weights_B=cost.param_bytes * scale, buffers_B=_buffers_B(model),
                      activations_B=training_activations_B(cost, input_shape, batch, dtype),
                      gradients_B=cost.param_bytes * scale, optimizer_B=slots * 4.0 * elements,
                      comm_B=cost.param_bytes + receivers * payload, compressor_B=compressor_B)


def step_memory(step: Any, payload_bits: Sequence[int], compressor_B: float) -> MemoryNeed:
    """A worker of a :class:`~simulator.learning.stepmodel.StepModel` (its model, costs, buckets,
    sync and config), given each parameter's payload bits and the compressor's state bytes."""
    cfg = step.config
    return training_memory(step.model, step.costs, step.input_shape, batch=cfg.batch_size, dtype=cfg.compute_dtype,
                           optimizer=cfg.optimizer, buckets=[b for b, _ in step.buckets], payload_bits=payload_bits,
                           sync=step.sync, workers=len(step.workers), compressor_B=compressor_B)


def plan_memory(plan: Any, batch: int = 1, dtype: str = "fp32") -> list[MemoryNeed]:
    """Per worker of a :class:`~simulator.partition.PartitionPlan`: surviving weights and the peak
    activations over its layers on ``batch`` samples (see the module doc)."""
    v = _scale(dtype) * _TRACED_BYTES
    k = plan.workers
    peak = np.zeros(k)
    for l, sp in enumerate(plan.specs):
        held = plan.unit_values(l).sum(0) + plan.transfer_matrix(l, values=True).sum(0)
        if sp.residual is not None:
            held = held + np.bincount(plan.feature_owner(sp.residual), minlength=k)
        out = np.bincount(plan.owner[l], minlength=k) * math.prod(sp.out_shape[1:])
        if l == plan.num_layers - 1:
            out = out + plan.gather_matrix().sum(0)
        peak = np.maximum(peak, held + out)
    weights = plan.weights_per_worker()
    return [MemoryNeed(weights_B=float(weights[w]) * v, activations_B=float(peak[w]) * batch * v) for w in range(k)]


def neuron_slots(rows: int, total_B: float, capacity_B: Sequence[float]) -> np.ndarray:
    """Neurons of a layer of ``rows`` each worker can hold when a model of ``total_B`` bytes of
    weights is spread so that every worker keeps the same fraction of every layer: worker k holds at
    most ``capacity_B[k] / total_B`` of the rows (rounded down)."""
    cap = np.asarray(capacity_B, dtype=float)
    if total_B <= 0:
        return np.full(len(cap), rows, dtype=np.int64)
    return np.minimum(np.floor(rows * cap / total_B + 1e-9), rows).astype(np.int64)


def _fmt(nbytes: float) -> str:
    return f"{nbytes:,.0f} B ({nbytes / 1024:,.1f} KiB)"


def check_fits(needs: Mapping[str, MemoryNeed], capacity_B: Mapping[str, float], what: str) -> None:
    """Raise :class:`DoesNotFit` for the first worker whose need exceeds its capacity."""
    for host, need in needs.items():
        have = capacity_B[host]
        if need.total_B > have:
            parts = ", ".join(f"{k[:-2]} {v:,.0f}" for k, v in need.parts().items())
            raise DoesNotFit(f"{what}: worker {host} needs {_fmt(need.total_B)} of memory ({parts}) but its device has "
                             f"{_fmt(have)} (mem_capacity); use more workers, a smaller batch or model, or a device "
                             f"with more memory")
