"""Simulated counterparts of measured configurations that do not need a training step graph.

* :func:`collective_s`: a :class:`~.cases.CollectiveCase` priced in closed form on the
  ``loopback`` topology of the calibrated link (what gloo runs: :data:`~.link.GLOO_ALGORITHMS`),
  reductions on the calibrated device.
* :func:`compute_work`: the (FLOPs, bytes) of one training step of a
  :class:`~.training.TrainCase` on one worker (:func:`simulator.costs.model_cost`), which the
  device prices with its roofline (``device.time(flops, bytes)``, or at a fitted efficiency).
"""

from __future__ import annotations

from hwmodels import Device, LinkSpec

from .cases import CollectiveCase
from .link import GLOO_ALGORITHMS
from .training import TrainCase

__all__ = ["collective_s", "compute_work"]


def collective_s(case: CollectiveCase, device: Device, link: LinkSpec) -> float:
    """Seconds of the collective (or one p2p message) of ``case`` among ``case.world`` processes
    on the ``loopback`` topology of ``link``, in closed form."""
    from simulator.collectives import NetParams, analytic_time, reduction_gamma  # noqa: PLC0415
    from simulator.network import LoopbackTopology  # noqa: PLC0415

    topology = LoopbackTopology(case.world, link)
    if case.op == "p2p":
        return topology.path_latency_s(0, 1) + case.size_B / topology.bottleneck_Bps(0, 1)
    net = NetParams.from_topology(topology, gamma_s_per_B=reduction_gamma(device))
    return analytic_time(case.op, GLOO_ALGORITHMS[case.op], case.world, case.size_B, net)


def compute_work(case: TrainCase) -> tuple[float, float]:
    """(FLOPs, memory bytes) of forward, backward and update of one worker's batch."""
    from simulator.costs import model_cost  # noqa: PLC0415
    from simulator.models import build  # noqa: PLC0415

    model = build(case.model, case.input_shape, case.classes, seed=0, **case.model_params)
    return model_cost(model, case.input_shape).training_step(case.batch_size)
