"""A plan as a task graph: per layer a ``Compute`` per worker (2 FLOPs per surviving multiply-add,
times the batch) and one ``Send`` per (source, destination) worker pair carrying every
activation the destination needs and does not own, at ``activation_bits`` per value."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hwmodels import DTYPE_BYTES, SpecError
from hwmodels.checks import is_int

from ..taskgraph import TaskGraph
from .accounting import PlanAccounting

__all__ = ["PlanGraph"]


class PlanGraph(PlanAccounting):
    """The task-graph methods of :class:`~.plan.PartitionPlan` (a base class of it), built on its
    accounting."""

    def task_graph(self, hosts: Sequence[str], *, batch: int = 1, activation_bits: int = 32,
                   dtype: str = "fp32") -> TaskGraph:
        """One inference of ``batch`` samples as a task graph on ``hosts`` (worker k is ``hosts[k]``)."""
        hosts = self.check_graph_args(hosts, batch, activation_bits, dtype)
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

    def check_graph_args(self, hosts: Sequence[str], batch: int, activation_bits: int, dtype: str) -> list[str]:
        """``hosts`` as strings, one per worker; SpecError naming the field when ``hosts``, ``batch``
        (samples), ``activation_bits`` or ``dtype`` is wrong."""
        hosts = [str(h) for h in hosts]
        if len(hosts) != self.workers:
            raise SpecError(f"plan has {self.workers} workers but the cluster gives {len(hosts)} hosts")
        if not is_int(batch) or batch < 1:
            raise SpecError(f"batch must be a positive integer, got {batch!r}")
        if not is_int(activation_bits) or not 1 <= activation_bits <= 64:
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
