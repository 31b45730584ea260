"""One data-parallel training step as a task graph, with DDP-style bucketed overlap.

:class:`StepPlan` holds every timing input of a step; :func:`step_graph` turns it into a DAG.
On every worker:

- ``fwd``: the forward pass (roofline of its FLOPs and bytes at the batch);
- ``bwd{i}``: the backward pass layer by layer in reverse (:meth:`ModelCost.backward_segments`),
  one node per segment ending at a layer with parameters;
- ``encode/b{j}``: as soon as every gradient of bucket j exists, the bucket is encoded (the
  compressor's declared work, ``work="codec"``, or the spec's seconds per element). It runs on
  the worker's device before the backward pass goes on, as a communication hook does (PyTorch
  DDP calls it from the autograd engine when the bucket is ready; its kernels are queued ahead
  of the remaining backward kernels).

Then per bucket j, in bucket order on one communication stream (bucket j+1's collective starts
after bucket j's, as DDP and Horovod launch them):

- ``allreduce``: a ring all-reduce of the bucket's payload (summable payloads), then ``decode``;
- ``allgather``: a ring all-gather of every worker's payload (blocks padded to the largest),
  then each worker decodes all K payloads and averages them;
- ``ps``: each worker pushes 1/S of its payload to each of the S shard hosts; a shard decodes
  its part of the K payloads once all have arrived and sends the dense fp32 aggregate of its
  part back to every worker.

``update`` (the optimizer step) waits for the whole backward pass and every bucket's decode (or
pull). Buckets follow DDP's assignment (:func:`bucket_layout`): gradients in reverse parameter
order, a first bucket of ``first_bucket_B`` (1 MiB in DDP), then ``bucket_cap_B`` (25 MiB).
``overlap="none"`` is one bucket of every gradient, after the whole backward pass (no overlap).

With one worker and a collective sync there is nothing to exchange. :class:`StepCoster` runs a
plan on the cluster and caches the result by plan: steps whose payload sizes repeat (every
fixed-rate compressor) are simulated once, steps whose sizes change (entropy-coded or
data-dependent payloads) each get their own run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from hwmodels import SpecError
from simulator import executor
from simulator.cluster import Cluster
from simulator.taskgraph import TaskGraph

from .config import DDP_BUCKET_CAP_B, DDP_FIRST_BUCKET_B, OVERLAPS

__all__ = ["StepPlan", "BucketPlan", "step_graph", "StepCoster", "bucket_layout", "OVERLAPS", "DDP_BUCKET_CAP_B",
           "DDP_FIRST_BUCKET_B"]



def bucket_layout(sizes_B: Sequence[float], cap_B: float = DDP_BUCKET_CAP_B,
                  first_B: float = DDP_FIRST_BUCKET_B) -> list[list[int]]:
    """DDP's bucket assignment of gradients of ``sizes_B`` bytes (in ``model.parameters()``
    order): parameters in reverse order fill a bucket until it holds at least the current cap
    (``first_B`` for the first bucket, ``cap_B`` after); a larger tensor gets a bucket of its own
    size. Returns the parameter indices of each bucket, first bucket first."""
    if not cap_B > 0 or not first_B > 0:
        raise SpecError(f"bucket sizes must be > 0 bytes, got cap {cap_B!r}, first {first_B!r}")
    buckets: list[list[int]] = []
    current: list[int] = []
    filled = 0.0
    for i in reversed(range(len(sizes_B))):
        current.append(i)
        filled += sizes_B[i]
        if filled >= (first_B if not buckets else cap_B):
            buckets.append(current)
            current, filled = [], 0.0
    if current:
        buckets.append(current)
    return buckets


@dataclass(frozen=True)
class BucketPlan:
    """One bucket of a step: after backward segment ``ready_after`` every gradient in it exists.
    Per worker the payload bytes; the dense fp32 bytes; encode and decode work (FLOPs, bytes and,
    optionally, calls: kernel launches or operator dispatches) of one worker's bucket, or fixed
    seconds when the spec gives per-element times."""

    ready_after: int
    payload_bytes: tuple[float, ...]
    dense_bytes: float
    encode: tuple[float, ...]
    decode: tuple[float, ...]
    encode_s: Optional[float] = None
    decode_s: Optional[float] = None


@dataclass(frozen=True)
class StepPlan:
    """Timing inputs of one step (hashable: equal plans cost the same). ``backward``: each backward
    node in execution order, as the (FLOPs, bytes) of its layers (each priced on its own roofline);
    ``update``: (FLOPs, bytes) of the optimizer step; ``dtype``: the forward and backward precision;
    ``forward_calls`` and ``backward_calls`` (one per backward node): the operators they dispatch,
    each charged the device's per-call overhead (none given: none charged)."""

    workers: tuple[str, ...]
    servers: tuple[str, ...]
    sync: str
    forward: tuple[float, float]
    backward: tuple[tuple[tuple[float, float], ...], ...]
    buckets: tuple[BucketPlan, ...]
    update: tuple[float, float]
    dtype: str = "fp32"
    forward_calls: float = 0.0
    backward_calls: tuple[float, ...] = ()


def _codec(g: TaskGraph, worker: str, work: tuple[float, ...], seconds: Optional[float], times: float,
           **kw: object) -> object:
    """A codec compute of ``times`` x the bucket's work (or seconds) on ``worker``."""
    if seconds is not None:
        return g.compute(worker, duration_s=times * seconds, **kw)
    calls = work[2] if len(work) > 2 else 0.0
    return g.compute(worker, times * work[0], times * work[1], work="codec", calls=times * calls, **kw)


def step_graph(plan: StepPlan) -> TaskGraph:
    """The task graph of ``plan`` (see the module doc)."""
    g = TaskGraph(name="train-step")
    k = len(plan.workers)
    ready: dict[int, list[int]] = {}
    for j, b in enumerate(plan.buckets):
        ready.setdefault(b.ready_after, []).append(j)
    encoded: list[list[int]] = [[] for _ in plan.buckets]
    last: dict[str, int] = {}
    for i, w in enumerate(plan.workers):
        prev = g.compute(w, *plan.forward, dtype=plan.dtype, calls=plan.forward_calls, name=f"fwd/{w}",
                         phase="forward").id
        for s, seg in enumerate(plan.backward):
            calls = plan.backward_calls[s] if plan.backward_calls else 0.0
            prev = g.compute(w, parts=seg, dtype=plan.dtype, calls=calls, deps=[prev], name=f"bwd{s}/{w}",
                             phase="backward").id
            for j in ready.get(s, []):
                b = plan.buckets[j]
                prev = _codec(g, w, b.encode, b.encode_s, 1, deps=[prev], name=f"encode/b{j}/{w}", phase=f"b{j}").id
                encoded[j].append(prev)
        last[w] = prev
    after: dict[str, list[int]] = {w: [last[w]] for w in plan.workers}
    comm: list[int] = []   # the previous bucket's communication: one stream
    for j, b in enumerate(plan.buckets):
        phase = f"b{j}"
        if plan.sync == "ps":
            s = len(plan.servers)
            for server in plan.servers:
                pushes = [g.send(w, server, b.payload_bytes[i] / s, deps=[encoded[j][i]], name=f"push/b{j}/{w}->{server}",
                                 phase=phase).id for i, w in enumerate(plan.workers)]
                dec = _codec(g, server, b.decode, b.decode_s, k / s, deps=pushes, name=f"decode/b{j}/{server}",
                             phase=phase)
                for w in plan.workers:
                    after[w].append(g.send(server, w, b.dense_bytes / s, deps=[dec], name=f"pull/b{j}/{server}->{w}",
                                           phase=phase).id)
            continue
        if k == 1:
            sync, decodes = encoded[j], 0
        elif plan.sync == "allreduce":
            sync = [g.collective("allreduce", plan.workers, max(b.payload_bytes), algorithm="ring",
                                 deps=encoded[j] + comm, name=f"allreduce/b{j}", phase=phase).id]
            decodes = 1
        else:
            sync = [g.collective("allgather", plan.workers, k * max(b.payload_bytes), algorithm="ring",
                                 deps=encoded[j] + comm, name=f"allgather/b{j}", phase=phase).id]
            decodes = k
        comm = sync if k > 1 else comm
        for i, w in enumerate(plan.workers):
            deps = sync if k > 1 else [encoded[j][i]]
            after[w].append(_codec(g, w, b.decode, b.decode_s, decodes, deps=deps, name=f"decode/b{j}/{w}",
                                   phase=phase).id)
    for w in plan.workers:
        g.compute(w, *plan.update, deps=after[w], name=f"update/{w}", phase="update")
    return g


class StepCoster:
    """Prices step plans on ``cluster`` (``mode`` "des" or "analytic"), caching by plan."""

    def __init__(self, cluster: Cluster, mode: str = "des", seed: int = 0) -> None:
        self.cluster = cluster
        self.mode = mode
        self.seed = seed
        self._cache: dict[StepPlan, executor.ExecutionResult] = {}

    @property
    def simulated(self) -> int:
        """Distinct plans simulated so far."""
        return len(self._cache)

    def cost(self, plan: StepPlan) -> executor.ExecutionResult:
        """The executor's result of one step of ``plan`` (without its trace; see :meth:`trace`)."""
        hit = self._cache.get(plan)
        if hit is None:
            hit = executor.run(step_graph(plan), self.cluster, seed=self.seed, mode=self.mode, trace=False)
            self._cache[plan] = hit
        return hit

    def trace(self, plan: StepPlan) -> executor.ExecutionResult:
        """One step of ``plan`` with its timeline of spans (for a Chrome trace or a Gantt chart)."""
        return executor.run(step_graph(plan), self.cluster, seed=self.seed, mode=self.mode, trace=True)
