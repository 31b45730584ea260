"""Knowledge-distillation training of a plan's surviving weights (Hinton, Vinyals, Dean 2015).

:func:`kd_finetune` trains the weights a plan keeps, masks fixed (so ownership, transfers and bits
do not change), to match the teacher's softened outputs on the calibration inputs: KL divergence
at ``temperature`` (times temperature^2), Adam, minibatches in a seeded order. Gradients outside
the masks are zeroed, so pruned weights stay exactly zero. ``distill`` trains students from a
random start with it; ``repurpose(finetune=E)`` starts from the restructured weights.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from hwmodels import SpecError
from hwmodels.checks import is_int

from .layers import expand_mask
from .plan import PartitionPlan

__all__ = ["kd_finetune"]


def kd_finetune(plan: PartitionPlan, teacher: nn.Module, x: torch.Tensor, input_shape: tuple[int, ...], *,
                epochs: int, lr: float = 1e-3, temperature: float = 4.0, batch: int = 128,
                seed: int = 0) -> PartitionPlan:
    """A copy of ``plan`` with its surviving weights trained ``epochs`` passes over ``x``
    (samples first, any shape that flattens to the plan's inputs) towards ``teacher``'s outputs;
    its activation ranges are cleared (``plan.calibrate`` them before quantising)."""
    for name, v in (("epochs", epochs), ("batch", batch)):
        if not is_int(v) or v < (0 if name == "epochs" else 1):
            raise SpecError(f"fine-tuning: {name} must be a {'non-negative' if name == 'epochs' else 'positive'} "
                            f"integer, got {v!r}")
    if not temperature > 0 or not lr > 0:
        raise SpecError(f"fine-tuning: temperature and lr must be positive, got {temperature!r}, {lr!r}")
    if epochs == 0:
        return plan
    x = x.reshape(len(x), -1).float()
    with torch.no_grad():
        soft = F.softmax(teacher.eval()(x.reshape(len(x), *input_shape)).reshape(len(x), -1) / temperature, dim=1)
    net = plan.to_torch()
    masks = [expand_mask(sp, w, m).float() for sp, w, m in zip(plan.specs, net.weights, plan.mask)]
    params = list(net.weights) + list(net.biases)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            out = F.log_softmax(net(x[idx]) / temperature, dim=1)
            (F.kl_div(out, soft[idx], reduction="batchmean") * temperature ** 2).backward()
            for w, m in zip(net.weights, masks):
                w.grad.mul_(m)  # pruned weights get no update (Adam's moments stay zero there)
            opt.step()
    weights = [w.detach().clone() for w in net.weights]
    biases = [b.detach().clone() for b in net.biases]
    # the old activation ranges no longer hold; partition() calibrates the plan it returns
    return dataclasses.replace(plan, weight=weights, bias=biases, mask=list(plan.mask), owner=list(plan.owner),
                               specs=list(plan.specs), info={**plan.info, "finetune_epochs": epochs}, act_range=None)
