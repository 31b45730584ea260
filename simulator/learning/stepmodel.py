"""The timing side of a training step: what it costs whatever the numbers are.

:class:`StepModel` holds a model's per-layer costs (:mod:`simulator.costs`), its backward
segments, DDP's gradient buckets (:func:`~.stepgraph.bucket_layout`) and each gradient tensor's
codec work (:meth:`Compressor.work`); :meth:`StepModel.plan` turns every worker's payload bits
per tensor into the :class:`~.stepgraph.StepPlan` the executor prices. The trainer feeds it the
exact bits of real payloads; :mod:`.priceonly` the bits of one synthetic gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from hwmodels import Work
from simulator.compression import CodecWork
from simulator.costs import model_cost

from .config import TrainConfig
from .exchange import GradientExchange
from .stepgraph import BucketPlan, StepPlan, bucket_layout

__all__ = ["StepModel", "UPDATE_FLOPS"]

UPDATE_FLOPS = {"sgd": 2, "momentum": 4, "adam": 12}   # per parameter per update


class StepModel:
    """One step of ``model`` under ``config`` for ``workers`` (and parameter-server ``servers``)."""

    def __init__(self, config: TrainConfig, model: nn.Module, input_shape: Sequence[int], exchange: GradientExchange,
                 workers: tuple[str, ...], servers: tuple[str, ...], sync: str) -> None:
        self.config, self.model, self.exchange = config, model, exchange
        self.workers, self.servers, self.sync = workers, servers, sync
        self.input_shape = tuple(input_shape)
        self.costs = model_cost(model, tuple(input_shape), backward_factor=config.backward_factor)
        self._tensor_work: list[CodecWork] | None = None
        self._layout()

    def _layout(self) -> None:
        """DDP's buckets, the backward segment that completes each, and the backward pass cut at
        those segments: the layers between two bucket boundaries are one node of the step graph
        (each layer still priced on its own roofline), since nothing between them waits on them."""
        cfg = self.config
        segments = self.costs.backward_segments(cfg.batch_size)
        names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        done_at = {name: s for s, (_, _, owned) in enumerate(segments) for name in owned}
        missing = [n for n in names if n not in done_at]
        if missing:   # a parameter torch.fx did not see: its gradient is ready when backward ends
            done_at.update({n: len(segments) - 1 for n in missing})
        sizes = [4.0 * p.numel() for p in self.exchange.params]
        layout = (bucket_layout(sizes, cfg.bucket_cap_B, cfg.first_bucket_B) if cfg.overlap == "ddp"
                  else [list(reversed(range(len(sizes))))])
        ready = [max(done_at[names[i]] for i in b) for b in layout]
        cuts = sorted(set(ready) | {len(segments) - 1})
        chunk = {cut: j for j, cut in enumerate(cuts)}
        bounds = [0, *(c + 1 for c in cuts)]
        self.backward = tuple(tuple((f, b) for f, b, _ in segments[lo:hi]) for lo, hi in zip(bounds, bounds[1:]))
        calls = self.costs.backward_segment_calls()
        self.backward_calls = tuple(float(sum(calls[lo:hi])) for lo, hi in zip(bounds, bounds[1:]))
        self.buckets = [(tuple(b), chunk[r]) for b, r in zip(layout, ready)]

    @property
    def codec(self) -> CodecWork:
        """One worker's encode and decode work for the whole gradient per step."""
        return sum(self.tensor_work, CodecWork())

    @property
    def tensor_work(self) -> list[CodecWork]:
        """Codec work of each gradient tensor, fixed at the first call (for a factors scheme,
        after the first training step: its shapes are the training batch's, not an evaluation's)."""
        if self._tensor_work is None:
            self._tensor_work = self.exchange.tensor_work()
        return self._tensor_work

    def plan(self, payload_bits: Sequence[Sequence[int]]) -> StepPlan:
        """The step's plan from every worker's payload bits per tensor."""
        cfg = self.config
        work = self.tensor_work
        enc_s, dec_s = cfg.encode_s_per_element, cfg.decode_s_per_element
        k = len(self.workers)
        buckets = []
        for params, ready_after in self.buckets:
            n = sum(self.exchange.params[i].numel() for i in params)
            bw = sum((work[i] for i in params), CodecWork())
            decode = bw.decode
            if self.sync == "allgather" and k > 1:   # each decoded payload is added into the mean
                decode = decode + Work(n, 12.0 * n, 1)
            buckets.append(BucketPlan(ready_after, tuple(math.ceil(sum(bits[i] for i in params) / 8) for bits in payload_bits),
                                      4.0 * n, (bw.encode.flops, bw.encode.bytes, bw.encode.calls),
                                      (decode.flops, decode.bytes, decode.calls),
                                      None if enc_s is None else enc_s * n, None if dec_s is None else dec_s * n))
        n = self.exchange.elements
        update = (UPDATE_FLOPS[cfg.optimizer] * n, (3.0 if cfg.optimizer == "sgd" else 5.0) * 4.0 * n)
        return StepPlan(self.workers, self.servers, self.sync, self.costs.forward(cfg.batch_size), self.backward,
                        tuple(buckets), update, cfg.compute_dtype, float(self.costs.forward_calls), self.backward_calls)

