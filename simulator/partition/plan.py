"""A partition plan: who owns every neuron, which weights survive, and what that costs.

A :class:`PartitionPlan` holds, for every layer ``l`` (Linear, or a convolution whose neurons are
its output channels; see :mod:`.layers`), its structure ``specs[l]``, the (possibly restructured)
weights ``weight[l]`` and ``bias[l]``, the surviving-connection ``mask[l]`` (out x in neurons or
channels, bool), the owner (worker index) of every output neuron ``owner[l]``, and the owner of
every input feature ``input_owner`` (the sensors). The last layer's outputs are gathered at the
``fusion`` worker.

It compiles to

- :meth:`PartitionPlan.to_torch`: a torch model computing exactly what the workers compute
  (each neuron reads only its surviving inputs), for accuracy;
- :meth:`PartitionPlan.task_graph`: per layer a ``Compute`` per worker (2 FLOPs per surviving
  multiply-add, times the batch) and one ``Send`` per (source, destination) worker pair carrying
  every activation the destination needs and does not own, each counted once however many of the
  destination's neurons read it, at ``activation_bits`` per value, times the batch.

Counting rules (per sample): layer ``l`` needs input unit ``i`` on worker ``k`` when a neuron
owned by ``k`` has a surviving weight from ``i`` and ``i``'s owner is not ``k``; a unit is one
activation of a dense layer or one feature map (all its positions) of a convolution. A first
convolution whose single input channel is split among sensors needs each foreign piece of it
(one transfer per (piece, destination), its values counted in bits). The final outputs not
owned by ``fusion`` are one transfer each. Flattened features keep their channel's owner. A layer
reads the output of its source layer (``LayerSpec.src``); a residual add needs channel j of the
shortcut layer on the worker owning channel j (free when the two share an assignment).

Activations cross workers at ``activation_bits``: 32 is exact fp32, 16 is IEEE half, fewer bits
a uniform quantiser over each layer's calibrated output range (:meth:`PartitionPlan.calibrate`,
done by :func:`~.registry.partition`); the torch model of :meth:`PartitionPlan.to_torch` applies
it to exactly the values that travel, so accuracy and bits describe the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwmodels import DTYPE_BYTES, SpecError

from ..taskgraph import TaskGraph
from .layers import LayerSpec, expand_mask, extract, finish, preact

__all__ = ["PartitionPlan", "ACTIVATIONS", "dense_layers", "linear_specs", "MaskedNet", "quantise"]

ACTIVATIONS = ("relu", "none")


def dense_layers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    """``[(weight (out x in), bias, activation)]`` of an MLP made of Flatten, Linear and ReLU."""
    first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise SpecError("partitioning: the model has no Linear layer")
    specs, weights, biases = extract(model, (first.in_features,))
    if any(sp.conv or sp.residual is not None or sp.src is not None for sp in specs):
        raise SpecError("this operation supports sequential MLPs only (Linear and ReLU layers)")
    return [(w, b, sp.act) for sp, w, b in zip(specs, weights, biases)]


def linear_specs(widths: list[int], acts: list[str]) -> list[LayerSpec]:
    """Layer structures of an MLP with layer widths ``widths`` (inputs first) and activations."""
    return [LayerSpec("linear", (a,), (b,), act=act) for a, b, act in zip(widths[:-1], widths[1:], acts)]


def quantise(x: torch.Tensor, bits: int, lo: float, hi: float) -> torch.Tensor:
    """``x`` as it arrives after travelling at ``bits`` per value: exact for 32 or more, IEEE
    half for 16, otherwise the nearest of 2**bits uniform levels over [lo, hi] (clipped)."""
    if bits >= 32:
        return x
    if bits == 16:
        return x.half().float()
    if hi <= lo:
        return torch.full_like(x, lo)
    step = (hi - lo) / (2 ** bits - 1)
    return lo + torch.round((x.clamp(lo, hi) - lo) / step) * step


class MaskedNet(nn.Module):
    """The partitioned model: each layer's weights are zero outside its mask, so every neuron
    sees only its surviving inputs. With ``activation_bits`` < 32 (and the plan's ownership and
    ranges), every value a worker receives from another is quantised on the way; local values
    stay exact."""

    def __init__(self, specs: Sequence[LayerSpec], weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor],
                 *, activation_bits: int = 32, feature_owner: Sequence[np.ndarray] | None = None,
                 owners: Sequence[np.ndarray] | None = None, ranges: Sequence[tuple[float, float]] | None = None,
                 fusion: int = 0) -> None:
        super().__init__()
        self.specs = list(specs)
        self.weights = nn.ParameterList([nn.Parameter(w.clone(), requires_grad=False) for w in weights])
        self.biases = nn.ParameterList([nn.Parameter(b.clone(), requires_grad=False) for b in biases])
        self.bits = int(activation_bits)
        self.feature_owner = [torch.as_tensor(f) for f in feature_owner] if feature_owner is not None else None
        self.owners = [torch.as_tensor(o) for o in owners] if owners is not None else None
        self.ranges = list(ranges) if ranges is not None else None
        self.fusion = fusion
        if self.bits < 32 and (self.feature_owner is None or self.owners is None or self.ranges is None):
            raise SpecError("quantised activations need the plan's ownership and calibrated ranges")

    def _q(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        lo, hi = self.ranges[layer + 1]  # ranges[0] is the model input
        return quantise(x, self.bits, lo, hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = {-1: x.reshape(len(x), -1)}
        for l, (spec, w, b) in enumerate(zip(self.specs, self.weights, self.biases)):
            src, res = spec.source(l), spec.residual
            inp = outs[src].reshape(len(x), -1)
            if self.bits >= 32:
                h = preact(spec, inp, w, b)
                r = None if res is None else outs[res]
            else:
                h = self._quantised_preact(l, spec, inp, w, b)
                r = None if res is None else self._residual_in(l, spec, outs[res])
            outs[l] = finish(spec, h, r)
        out = outs[len(self.specs) - 1].reshape(len(x), -1)
        if self.bits < 32:  # the final outputs travel to the fusion worker
            out = torch.where(self.owners[-1] != self.fusion, self._q(out, len(self.specs) - 1), out)
        return out

    def _quantised_preact(self, l: int, spec: LayerSpec, inp: torch.Tensor, w: torch.Tensor,
                          b: torch.Tensor) -> torch.Tensor:
        """Each worker's neurons read its own features exactly and the others' quantised."""
        q = self._q(inp, spec.source(l))
        owner, feat = self.owners[l], self.feature_owner[l]
        h = None
        for k in torch.unique(owner).tolist():
            rows = torch.nonzero(owner == k).flatten()
            part = preact(spec, torch.where(feat == k, inp, q), w[rows], b[rows])
            if h is None:
                h = torch.zeros(len(inp), len(owner), *part.shape[2:])
            h[:, rows] = part
        return h

    def _residual_in(self, l: int, spec: LayerSpec, r: torch.Tensor) -> torch.Tensor:
        flat = r.reshape(len(r), -1)
        held = self.feature_owner[len(self.specs) + l]  # owner of each shortcut value
        need = torch.repeat_interleave(self.owners[l], flat.shape[1] // len(self.owners[l]))
        return torch.where(held != need, self._q(flat, spec.residual), flat)


def _int_array(values: Any, n: int, workers: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise SpecError(f"{what}: needs one integer worker index per neuron ({n}), got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= workers):
        raise SpecError(f"{what}: worker indices must be in 0..{workers - 1}, got {int(arr.min())}..{int(arr.max())}")
    return arr.astype(np.int64)


@dataclass
class PartitionPlan:
    """Ownership and surviving weights of every layer on ``workers`` workers (see the module doc)."""

    workers: int
    input_owner: np.ndarray
    weight: list[torch.Tensor]
    bias: list[torch.Tensor]
    mask: list[torch.Tensor]
    owner: list[np.ndarray]
    specs: list[LayerSpec]
    fusion: int = 0
    name: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    act_range: list[tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, (int, np.integer)) or self.workers < 1:
            raise SpecError(f"plan: workers must be a positive integer, got {self.workers!r}")
        self.workers = int(self.workers)
        n = len(self.weight)
        if not (len(self.bias) == len(self.mask) == len(self.owner) == len(self.specs) == n) or n == 0:
            raise SpecError("plan: weight, bias, mask, owner and specs need one entry per layer")
        self.specs = [sp if isinstance(sp, LayerSpec) else LayerSpec(**sp) for sp in self.specs]
        self.input_owner = _int_array(self.input_owner, math.prod(self.specs[0].in_shape), self.workers,
                                      "plan: input_owner")
        for l, (w, b, m, sp) in enumerate(zip(self.weight, self.bias, self.mask, self.specs)):
            out, inp = w.shape[:2]
            src = sp.source(l)
            src_shape = self.specs[0].in_shape if src < 0 else self.specs[src].out_shape
            if b.shape != (out,) or tuple(m.shape) != (out, inp) or sp.out_shape[0] != out or sp.in_shape[0] != inp \
                    or not -1 <= src < l or math.prod(sp.in_shape) != math.prod(src_shape) \
                    or (sp.residual is not None and not -1 <= sp.residual < l):
                raise SpecError(f"plan: layer {l} shapes do not chain (weight {tuple(w.shape)}, bias {tuple(b.shape)}, "
                                f"mask {tuple(m.shape)}, in {sp.in_shape}, out {sp.out_shape})")
            self.owner[l] = _int_array(self.owner[l], out, self.workers, f"plan: layer {l} owner")
            self.mask[l] = m.bool()
            if sp.act not in ACTIVATIONS:
                raise SpecError(f"plan: layer {l} activation {sp.act!r}; known: {', '.join(ACTIVATIONS)}")
        if not 0 <= self.fusion < self.workers:
            raise SpecError(f"plan: fusion worker {self.fusion} is not in 0..{self.workers - 1}")

    # ------------------------------------------------------------------ accounting
    @property
    def num_layers(self) -> int:
        return len(self.weight)

    @property
    def acts(self) -> list[str]:
        return [sp.act for sp in self.specs]

    def unit_values(self, layer: int) -> np.ndarray:
        """(input units x workers): values of each input unit of ``layer`` each worker holds."""
        sp = self.specs[layer]
        src = sp.source(layer)
        if src < 0:
            per_unit = math.prod(sp.in_shape[1:]) if sp.conv else 1
            unit = np.arange(self.input_owner.size) // per_unit
            out = np.zeros((sp.in_shape[0], self.workers))
            np.add.at(out, (unit, self.input_owner), 1.0)
            return out
        prev = self.owner[src]
        if not sp.conv and self.specs[src].conv:  # flattened feature maps
            prev = np.repeat(prev, math.prod(self.specs[src].out_shape[1:]))
        out = np.zeros((len(prev), self.workers))
        out[np.arange(len(prev)), prev] = float(sp.unit_values)
        return out

    def feature_owner(self, layer: int) -> np.ndarray:
        """Owner of every value (flattened) of ``layer``'s output; layer -1 is the model input."""
        if layer < 0:
            return self.input_owner
        return np.repeat(self.owner[layer], math.prod(self.specs[layer].out_shape[1:]))

    def residual_matrix(self, layer: int, values: bool = False) -> np.ndarray:
        """(src x dst): shortcut units (or numbers) per sample ``layer``'s residual add moves."""
        out = np.zeros((self.workers, self.workers))
        res = self.specs[layer].residual
        if res is None:
            return out.astype(np.int64) if not values else out
        held = self.feature_owner(res).reshape(len(self.owner[layer]), -1)  # channel x positions
        need = np.broadcast_to(self.owner[layer][:, None], held.shape)
        moved = held != need
        if values:
            np.add.at(out, (held[moved], need[moved]), 1.0)
            return out
        channel = np.broadcast_to(np.arange(len(held))[:, None], held.shape)[moved]
        pairs = np.unique(np.stack([channel, held[moved]]), axis=1)  # each (channel, holder) once
        np.add.at(out, (pairs[1], self.owner[layer][pairs[0]]), 1.0)
        return out.astype(np.int64)

    def in_owner(self, layer: int) -> np.ndarray:
        """Owner of every input unit of ``layer`` (a split first channel: the sensor with most of it)."""
        return np.argmax(self.unit_values(layer), axis=1).astype(np.int64)

    def needs(self, layer: int) -> np.ndarray:
        """(workers x inputs) bool: worker k reads input i of ``layer`` (some neuron it owns keeps a weight from i)."""
        onehot = torch.zeros(self.workers, len(self.owner[layer]))
        onehot[torch.as_tensor(self.owner[layer]), torch.arange(len(self.owner[layer]))] = 1.0
        return (onehot @ self.mask[layer].float()).numpy() > 0

    def transfer_matrix(self, layer: int, values: bool = False) -> np.ndarray:
        """(src x dst): units (or, with ``values``, numbers) per sample worker src sends worker dst."""
        held = self.unit_values(layer)
        out = (self.needs(layer).astype(float) @ (held if values else (held > 0).astype(float))).T
        np.fill_diagonal(out, 0.0)
        out = out + self.residual_matrix(layer, values)
        return out if values else np.rint(out).astype(np.int64)

    def broadcast_values(self, layer: int) -> np.ndarray:
        """(workers,): numbers per sample each worker sends at ``layer`` when one transmission
        reaches every destination (a broadcast medium): each held unit some other worker needs,
        once."""
        held = self.unit_values(layer)
        wanted = self.needs(layer)  # workers x units
        out = np.zeros(self.workers)
        for s in range(self.workers):
            others = np.delete(wanted, s, axis=0).any(0)
            out[s] = float(held[others, s].sum())
        return out + self.residual_matrix(layer, values=True).sum(1)

    def gather_matrix(self) -> np.ndarray:
        """(workers x workers): final outputs each worker sends to the fusion worker."""
        out = np.zeros((self.workers, self.workers), dtype=np.int64)
        out[:, self.fusion] = np.bincount(self.owner[-1], minlength=self.workers)
        out[self.fusion, self.fusion] = 0
        return out

    def transfers_per_layer(self) -> list[int]:
        """Transfers per sample of every layer, then the final gather."""
        return [int(self.transfer_matrix(l).sum()) for l in range(self.num_layers)] + [int(self.gather_matrix().sum())]

    def transfers_per_sample(self) -> int:
        """(activation, destination worker) pairs per sample, the final gather included."""
        return int(sum(self.transfers_per_layer()))

    def values_per_sample(self) -> float:
        """Numbers sent per sample (feature maps count all their positions), the gather included."""
        return float(sum(self.transfer_matrix(l, values=True).sum() for l in range(self.num_layers))
                     + self.gather_matrix().sum())

    def macs_per_worker(self) -> np.ndarray:
        """(layers x workers) surviving multiply-adds per sample."""
        out = np.zeros((self.num_layers, self.workers))
        for l in range(self.num_layers):
            sp = self.specs[l]
            per_neuron = self.mask[l].sum(1).numpy() * (math.prod(self.weight[l].shape[2:]) * sp.preact_spatial)
            out[l] = np.bincount(self.owner[l], weights=per_neuron, minlength=self.workers)
        return out

    def weights_per_layer_worker(self, l: int) -> np.ndarray:
        per_neuron = self.mask[l].sum(1).numpy() * math.prod(self.weight[l].shape[2:]) + 1.0
        return np.bincount(self.owner[l], weights=per_neuron, minlength=self.workers)

    def weights_per_worker(self) -> np.ndarray:
        """Surviving weights (plus biases) each worker stores."""
        return sum(self.weights_per_layer_worker(l) for l in range(self.num_layers))

    def summary(self) -> dict[str, Any]:
        """Counts per sample: transfers (per layer and total), MACs and weights per worker, sparsity."""
        total = sum(m.numel() for m in self.mask)
        kept = sum(int(m.sum()) for m in self.mask)
        return {"plan": self.name, "workers": self.workers, "transfers_per_sample": self.transfers_per_sample(),
                "values_per_sample": self.values_per_sample(),
                "transfers_per_layer": self.transfers_per_layer(),
                "macs_per_worker": self.macs_per_worker().sum(0).tolist(),
                "weights_per_worker": self.weights_per_worker().tolist(), "weights_kept_fraction": kept / total}

    # ------------------------------------------------------------------ compilation
    def to_torch(self, activation_bits: int = 32) -> MaskedNet:
        """The model the workers compute together (weights outside the masks are zero), every value
        crossing workers sent at ``activation_bits`` (see the module doc)."""
        masked = [w * expand_mask(sp, w, m) for sp, w, m in zip(self.specs, self.weight, self.mask)]
        if activation_bits >= 32:
            return MaskedNet(self.specs, masked, self.bias).eval()
        if self.act_range is None:
            raise SpecError("plan: quantised activations need calibrated ranges; call plan.calibrate(x) with "
                            "calibration inputs first")
        feats = [self.feature_owner(sp.source(l)) for l, sp in enumerate(self.specs)]
        feats += [self.feature_owner(sp.residual) if sp.residual is not None else np.zeros(0, dtype=np.int64)
                  for sp in self.specs]
        return MaskedNet(self.specs, masked, self.bias, activation_bits=activation_bits, feature_owner=feats,
                         owners=self.owner, ranges=self.act_range, fusion=self.fusion).eval()

    def calibrate(self, x: torch.Tensor) -> PartitionPlan:
        """Record the range (min, max) of the model input and of every layer's output on ``x``,
        the fixed ranges quantised activations use (sent once with the plan, not per sample)."""
        net = self.to_torch()
        ranges = [(float(x.min()), float(x.max()))]
        outs = {-1: x.reshape(len(x), -1).float()}
        with torch.no_grad():
            for l, (sp, w, b) in enumerate(zip(net.specs, net.weights, net.biases)):
                outs[l] = finish(sp, preact(sp, outs[sp.source(l)], w, b),
                                 None if sp.residual is None else outs[sp.residual])
                ranges.append((float(outs[l].min()), float(outs[l].max())))
        self.act_range = ranges
        return self

    def task_graph(self, hosts: Sequence[str], *, batch: int = 1, activation_bits: int = 32,
                   dtype: str = "fp32") -> TaskGraph:
        """One inference of ``batch`` samples as a task graph on ``hosts`` (worker k is ``hosts[k]``)."""
        hosts = self._check_graph_args(hosts, batch, activation_bits, dtype)
        g = TaskGraph(self.name or "inference", workers=hosts)
        # ready[l][k]: the node worker k's output of layer l waits on (none for the sensors' inputs)
        ready: dict[int, list[list[int]]] = {-1: [[] for _ in range(self.workers)]}
        for l in range(self.num_layers):
            sp = self.specs[l]
            src, res = sp.source(l), sp.residual
            sends = self._sends(g, self.transfer_matrix(l, values=True) - self.residual_matrix(l, values=True), hosts,
                                ready[src], batch, activation_bits, f"L{l}")
            if res is not None:
                extra = self._sends(g, self.residual_matrix(l, values=True), hosts, ready[res], batch, activation_bits,
                                    f"L{l}")
                sends = [a + b + ready[res][k] for k, (a, b) in enumerate(zip(sends, extra))]
            ready[l] = [[] for _ in range(self.workers)]
            for k, flops, nbytes in self.layer_work(l, batch, dtype):
                node = g.compute(hosts[k], flops=flops, bytes=nbytes, dtype=dtype, deps=ready[src][k] + sends[k],
                                 name=f"L{l}/w{k}", phase=f"L{l}")
                ready[l][k] = [node.id]
        self._sends(g, self.gather_matrix(), hosts, ready[self.num_layers - 1], batch, activation_bits, "gather")
        return g

    def _check_graph_args(self, hosts: Sequence[str], batch: int, activation_bits: int, dtype: str) -> list[str]:
        hosts = [str(h) for h in hosts]
        if len(hosts) != self.workers:
            raise SpecError(f"plan has {self.workers} workers but the cluster gives {len(hosts)} hosts")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise SpecError(f"batch must be a positive integer, got {batch!r}")
        if isinstance(activation_bits, bool) or not isinstance(activation_bits, int) or not 1 <= activation_bits <= 64:
            raise SpecError(f"activation_bits must be an integer in 1..64, got {activation_bits!r}")
        if dtype not in DTYPE_BYTES:
            raise SpecError(f"dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
        return hosts

    def layer_work(self, l: int, batch: int, dtype: str = "fp32") -> list[tuple[int, float, float]]:
        """``[(worker, FLOPs, memory bytes)]`` of layer ``l`` on ``batch`` samples, for every worker
        that owns a unit of it: 2 FLOPs per surviving multiply-add; the worker's weights read once
        and its inputs and outputs at the compute precision."""
        sp = self.specs[l]
        value_bytes = DTYPE_BYTES[dtype]
        macs = self.macs_per_worker()[l]
        width_in, per_out = math.prod(sp.in_shape), math.prod(sp.out_shape[1:])
        weights = self.weights_per_layer_worker(l)
        out = []
        for k in np.flatnonzero(np.bincount(self.owner[l], minlength=self.workers)).tolist():
            n_out = int((self.owner[l] == k).sum())
            out.append((k, 2.0 * macs[k] * batch,
                        weights[k] * value_bytes + batch * (width_in + n_out * per_out) * value_bytes))
        return out

    def _sends(self, g: TaskGraph, counts: np.ndarray, hosts: list[str], ready: list[list[int]], batch: int,
               bits: int, tag: str) -> list[list[int]]:
        into: list[list[int]] = [[] for _ in range(self.workers)]
        for s, d in zip(*np.nonzero(counts > 0)):
            node = g.send(hosts[s], hosts[d], float(counts[s, d]) * bits * batch / 8.0, deps=ready[s],
                          name=f"{tag}/w{s}->w{d}", phase=tag)
            into[d].append(node.id)
        return into

    # ------------------------------------------------------------------ persistence
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
    def load(cls, path: str | Path) -> PartitionPlan:
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
