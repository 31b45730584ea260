"""What a plan costs per sample, counted from its masks and owners (the counting rules are in
:mod:`.plan`'s module doc): units and values each worker sends each other at every layer, the
final gather, multiply-adds and weights per worker."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .layers import LayerSpec

__all__ = ["PlanAccounting"]


class PlanAccounting:
    """The counting methods of :class:`~.plan.PartitionPlan` (a base class of it): they read the
    plan's ``workers``, ``input_owner``, ``weight``, ``mask``, ``owner``, ``specs`` and ``fusion``."""

    workers: int
    input_owner: np.ndarray
    weight: list[torch.Tensor]
    mask: list[torch.Tensor]
    owner: list[np.ndarray]
    specs: list[LayerSpec]
    fusion: int
    name: str

    @property
    def num_layers(self) -> int:
        """Layers of the plan."""
        return len(self.weight)

    @property
    def acts(self) -> list[str]:
        """Activation of every layer ('relu' or 'none')."""
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
        """(workers,): surviving weights (plus one bias per neuron) of layer ``l`` each worker stores."""
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
