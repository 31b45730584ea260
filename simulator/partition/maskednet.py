"""The torch model of a plan: every neuron reads only its surviving inputs, and every value that
crosses workers arrives as it travels (exact at 32 bits, IEEE half at 16, fewer bits a uniform
quantiser over the layer's calibrated range), so accuracy and bits describe the same plan."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hwmodels import SpecError

from .layers import LayerSpec, finish, preact

__all__ = ["MaskedNet", "quantise"]


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
        """Logits of ``x`` (batch x inputs, any shape per sample) as the workers compute them together."""
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

