"""The gradient exchange of one step: every worker's gradients through the compressor, the
server's (or the collective's) aggregate, and the exact bits each worker sends.

Tensor schemes compress each parameter's gradient with one :class:`~simulator.compression.State`
per (worker, parameter), kept across steps (error feedback, warm starts); the aggregate is the
scheme's own ``aggregate`` (majority vote for signSGD, side information for NDQSG, the mean of
the decoded tensors otherwise). The decoder reads the SHARED stream of the same (seed, worker,
step, bucket), as the receiver's twin state would.

ISGQ (``isgq``, a "factors" scheme) hooks every ``nn.Linear``: a forward hook keeps the layer's
inputs X and a gradient hook on its output the output gradients Delta (leading dimensions flattened into the
batch); the weight's payload is ISGQ's, decoded to G_hat = X_hat^T Delta_hat (transposed to
torch's out x in). Biases and every other parameter go through ISGQ's direct compressor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from simulator.compression import SCHEMES, CodecWork, Payload, State, create

__all__ = ["GradientExchange", "SUMMABLE"]

# Schemes whose payloads the network can sum in compressed form (plain floats): all-reduce.
SUMMABLE = tuple(name for name, scheme in SCHEMES.items() if scheme.factory.summable)


class _FactorHooks:
    """Inputs and output gradients of the model's linear layers, by weight parameter."""

    def __init__(self, model: nn.Module) -> None:
        self.x: dict[int, torch.Tensor] = {}
        self.delta: dict[int, torch.Tensor] = {}
        self.handles = []
        for mod in model.modules():
            if isinstance(mod, nn.Linear):
                key = id(mod.weight)
                self.handles.append(mod.register_forward_hook(self._forward(key)))

    def _forward(self, key: int) -> Any:
        def hook(mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            self.x[key] = args[0].detach().reshape(-1, args[0].shape[-1])
            if out.requires_grad:
                out.register_hook(self._backward(key))
        return hook

    def _backward(self, key: int) -> Any:
        def hook(grad: torch.Tensor) -> None:
            self.delta[key] = grad.detach().reshape(-1, grad.shape[-1])
        return hook


class GradientExchange:
    """Compress, count and aggregate the gradients of ``model``'s parameters for ``workers``."""

    def __init__(self, model: nn.Module, compressor: str, params: dict[str, Any], workers: int, seed: int) -> None:
        self.compressor = create(compressor, **params)
        self.name = compressor
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.elements = sum(p.numel() for p in self.params)
        self.states = [[State(seed, w, 0, i) for i in range(len(self.params))] for w in range(workers)]
        self.factors = self.compressor.takes_factors
        self.hooks = _FactorHooks(model) if self.factors else None
        self._direct = self.compressor.direct

    @property
    def summable(self) -> bool:
        """Whether the payloads can be summed in compressed form (all-reduce)."""
        return self.compressor.summable

    def tensor_work(self) -> list[CodecWork]:
        """Encode and decode work of every parameter's gradient, in parameter order; for a factors
        scheme call after a worker's training step (the hooks hold the factors' shapes)."""
        out = []
        for p in self.params:
            key = id(p)
            if self.factors and p.dim() == 2 and key in self.hooks.x:
                x, delta = self.hooks.x[key], self.hooks.delta[key]
                out.append(self.compressor.work((x.shape[0], x.shape[1], delta.shape[1])))
            else:
                out.append(self._direct.work(tuple(p.shape)))
        return out

    def compress(self, worker: int, step: int) -> list[Payload]:
        """Payloads of ``worker``'s current ``.grad`` of every parameter (call after backward)."""
        out = []
        for i, p in enumerate(self.params):
            state = self.states[worker][i]
            state.step = step
            key = id(p)
            if self.factors and p.dim() == 2 and key in self.hooks.x:
                out.append(self.compressor.compress(self.hooks.x[key], self.hooks.delta[key], state))
            else:
                out.append(self._direct.compress(p.grad.detach(), state))
        return out

    def aggregate(self, payloads: Sequence[Sequence[Payload]]) -> list[torch.Tensor]:
        """The aggregate (mean estimate) of every parameter's gradient, from all workers' payloads."""
        grads = []
        for i, p in enumerate(self.params):
            per_tensor = [payloads[w][i] for w in range(len(payloads))]
            states = [self.states[w][i] for w in range(len(payloads))]
            if self.factors and p.dim() == 2 and id(p) in self.hooks.x:
                g = torch.stack([self.compressor.decompress(pl, st).T for pl, st in zip(per_tensor, states)]).mean(0)
            else:
                g = self._direct.aggregate(per_tensor, states)
            grads.append(g.reshape(p.shape))
        return grads
