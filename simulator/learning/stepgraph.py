"""One training step as a task graph, and its price on a cluster.

:class:`StepPlan` holds every timing input of a step; :func:`step_graph` turns it into a DAG:

- on every worker: ``fwd+bwd`` (roofline of the model's FLOPs and bytes at its batch), then
  ``encode`` (that worker's codec seconds);
- ``allreduce``: one ring all-reduce of the largest payload, then ``decode`` and ``update``
  on every worker;
- ``allgather``: one ring all-gather of every worker's payload (blocks padded to the largest),
  then each worker decodes all K payloads and updates;
- ``ps``: each worker pushes 1/S of its payload to each of the S shard hosts; a shard decodes
  its part of the K payloads once all have arrived and sends the dense fp32 aggregate of its
  part back to every worker; a worker updates when all shards have answered.

With one worker and a collective sync there is nothing to exchange. :class:`StepCoster` runs a
plan on the cluster and caches the result by plan: steps whose payload sizes repeat (every
fixed-rate compressor) are simulated once, steps whose sizes change (entropy-coded or
data-dependent payloads) each get their own run.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator import executor
from simulator.cluster import Cluster
from simulator.taskgraph import TaskGraph

__all__ = ["StepPlan", "StepCost", "step_graph", "StepCoster"]


@dataclass(frozen=True)
class StepPlan:
    """Timing inputs of one step (hashable: equal plans cost the same)."""

    workers: tuple[str, ...]
    servers: tuple[str, ...]
    sync: str
    compute_flops: float
    compute_bytes: float
    payload_bytes: tuple[float, ...]
    encode_s: tuple[float, ...]   # per worker
    decode_s: tuple[float, ...]   # per worker, then per server: seconds to decode one payload
    dense_bytes: float
    update_flops: float
    update_bytes: float


@dataclass(frozen=True)
class StepCost:
    """What one step cost: makespan, energy (total and per host), bytes on the network."""

    time_s: float
    energy_j: float
    energy_per_host_j: dict[str, float]
    network_bytes: float


def step_graph(plan: StepPlan) -> TaskGraph:
    """The task graph of ``plan`` (see the module doc)."""
    g = TaskGraph(name="train-step")
    k = len(plan.workers)
    encoded = []
    for i, w in enumerate(plan.workers):
        c = g.compute(w, plan.compute_flops, plan.compute_bytes, name=f"fwd+bwd/{w}")
        encoded.append(g.compute(w, duration_s=plan.encode_s[i], deps=[c], name=f"encode/{w}"))
    largest = max(plan.payload_bytes)
    if plan.sync == "ps":
        s = len(plan.servers)
        pulls: dict[str, list] = {w: [] for w in plan.workers}
        for j, server in enumerate(plan.servers):
            pushes = [g.send(w, server, plan.payload_bytes[i] / s, deps=[encoded[i]], name=f"push/{w}->{server}")
                      for i, w in enumerate(plan.workers)]
            dec = g.compute(server, duration_s=k * plan.decode_s[k + j] / s, deps=pushes, name=f"decode/{server}")
            for w in plan.workers:
                pulls[w].append(g.send(server, w, plan.dense_bytes / s, deps=[dec], name=f"pull/{server}->{w}"))
        for w in plan.workers:
            g.compute(w, plan.update_flops, plan.update_bytes, deps=pulls[w], name=f"update/{w}")
        return g
    if k == 1:
        sync = encoded
        decodes = 0
    elif plan.sync == "allreduce":
        sync = [g.collective("allreduce", plan.workers, largest, algorithm="ring", deps=encoded, name="allreduce")]
        decodes = 1
    else:
        sync = [g.collective("allgather", plan.workers, k * largest, algorithm="ring", deps=encoded, name="allgather")]
        decodes = k
    for i, w in enumerate(plan.workers):
        dec = g.compute(w, duration_s=decodes * plan.decode_s[i], deps=sync if k > 1 else [encoded[i]], name=f"decode/{w}")
        g.compute(w, plan.update_flops, plan.update_bytes, deps=[dec], name=f"update/{w}")
    return g


class StepCoster:
    """Prices step plans on ``cluster`` (``mode`` "des" or "analytic"), caching by plan."""

    def __init__(self, cluster: Cluster, mode: str = "des", seed: int = 0) -> None:
        self.cluster = cluster
        self.mode = mode
        self.seed = seed
        self._cache: dict[StepPlan, StepCost] = {}

    @property
    def simulated(self) -> int:
        """Distinct plans simulated so far."""
        return len(self._cache)

    def cost(self, plan: StepPlan) -> StepCost:
        hit = self._cache.get(plan)
        if hit is None:
            res = executor.run(step_graph(plan), self.cluster, seed=self.seed, mode=self.mode, trace=False)
            hit = StepCost(res.makespan_s, res.energy_j, dict(res.energy_per_worker_j), res.bytes)
            self._cache[plan] = hit
        return hit
