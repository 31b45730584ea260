"""Simulated counterparts of measured configurations that do not need a training step graph.

* :func:`collective_s`: a :class:`~.cases.CollectiveCase` priced in closed form on the
  ``loopback`` topology of the calibrated link (what gloo runs: :data:`~.link.GLOO_ALGORITHMS`),
  reductions and torch's staging copies (:func:`staging_bytes`) on the calibrated device.
* :func:`compute_work`: the (FLOPs, bytes) of one training step of a
  :class:`~.training.TrainCase` on one worker (:func:`simulator.costs.model_cost`), which the
  device prices with its roofline (``device.time(flops, bytes)``, or at a fitted efficiency).
"""

from __future__ import annotations

from hwmodels import Device, LinkSpec

from .cases import CollectiveCase
from .link import GLOO_ALGORITHMS
from .training import TrainCase

__all__ = ["collective_s", "compute_work", "staging_bytes"]


def staging_bytes(op: str, world: int, size_B: float) -> float:
    """Memory bytes (read plus written) each process copies around the collective in torch's
    gloo backend: ``all_gather`` into a list copies the input into a freshly allocated flat
    buffer (n/p) and each rank's part back out to the list (n), each copy a read and a write;
    all-reduce and broadcast work in place (0)."""
    if op != "allgather":
        return 0.0
    return 2.0 * (1.0 + 1.0 / world) * float(size_B)


def collective_s(case: CollectiveCase, device: Device, link: LinkSpec) -> float:
    """Seconds of the collective (or one p2p message) of ``case`` among ``case.world`` processes
    on the ``loopback`` topology of ``link``, in closed form, plus torch's staging copies on
    ``device``."""
    from simulator.collectives import NetParams, analytic_time, reduction_gamma  # noqa: PLC0415
    from simulator.network import LoopbackTopology  # noqa: PLC0415

    topology = LoopbackTopology(case.world, link)
    if case.op == "p2p":
        return topology.path_latency_s(0, 1) + case.size_B / topology.bottleneck_Bps(0, 1)
    net = NetParams.from_topology(topology, gamma_s_per_B=reduction_gamma(device))
    staging = staging_bytes(case.op, case.world, case.size_B)
    return (analytic_time(case.op, GLOO_ALGORITHMS[case.op], case.world, case.size_B, net)
            + (device.time(0.0, staging) if staging else 0.0))


def compute_work(case: TrainCase) -> tuple[float, float]:
    """(FLOPs, memory bytes) of forward, backward and update of one worker's batch."""
    from simulator.costs import model_cost  # noqa: PLC0415
    from simulator.models import build  # noqa: PLC0415

    model = build(case.model, case.input_shape, case.classes, seed=0, **case.model_params)
    return model_cost(model, case.input_shape).training_step(case.batch_size)
