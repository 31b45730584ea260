"""The loopback link of this host: latency, shared copy bandwidth and oversubscription
latency fitted to measured gloo timings.

The processes of a measured run talk over 127.0.0.1, which ddlsim models as the ``loopback``
topology (:class:`simulator.network.LoopbackTopology`): a message costs ``alpha`` (two hops of
the link's latency), plus ``delta`` per process beyond the host's cores, and every message in
flight shares one copy capacity ``C``. Under the algorithm gloo runs
(:data:`GLOO_ALGORITHMS`), a measured point at ``world`` processes is then

    t = fixed + a alpha + b / C + e delta

with ``a`` the program's steps, ``b`` the sum over its steps of the bytes in flight, ``e = a x
max(0, world - cores)`` and ``fixed`` the reductions at a known ``gamma_s_per_B``: the
coefficients of :func:`simulator.collectives.shared_time` at unit inputs. (alpha, 1/C, delta)
are fitted by relative least squares (:func:`~.fit.fit_linear`). As a catalog link the latency is
alpha / 2, the bandwidth C, ``host_cores`` the cores and ``oversubscription_latency_s`` delta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .fit import fit_linear
from .records import Measurement

__all__ = ["GLOO_ALGORITHMS", "HOPS", "LoopbackFit", "coefficients", "fit_link"]

# What gloo runs on CPU tensors, in ddlsim's algorithm names (gloo's ring all-reduce and
# all-gather, its binomial-tree broadcast); the fit's residuals say how well each matches.
GLOO_ALGORITHMS = {"allreduce": "ring", "allgather": "ring", "broadcast": "binomial-tree"}
HOPS = 2   # links of the loopback topology a message crosses besides the shared bus


@dataclass(frozen=True)
class LoopbackFit:
    """``alpha_s`` per message, the shared ``bandwidth_Bps``, ``oversubscription_latency_s`` per
    message and process beyond ``cores``; residuals (model - measured) / measured per point."""

    alpha_s: float
    bandwidth_Bps: float
    oversubscription_latency_s: float
    cores: int
    residuals: tuple[float, ...]


def _excess(world: int, cores: int) -> int:
    return max(0, int(world) - int(cores)) if cores else 0


def coefficients(op: str, world: int, size_B: float, cores: int = 0,
                 gamma_s_per_B: float = 0.0) -> tuple[float, float, float, float]:
    """(a, b, e, fixed): the measured time of ``op`` is modelled as ``fixed + a alpha + b / C + e delta``."""
    from simulator.collectives import NetParams, build_program, shared_time  # noqa: PLC0415

    if op == "p2p":
        return 1.0, float(size_B), float(_excess(world, cores)), 0.0
    program = build_program(op, GLOO_ALGORITHMS[op], world, size_B)
    a = shared_time(program, NetParams(1.0, 0.0, None, 0.0, 0.0))
    b = shared_time(program, NetParams(0.0, 0.0, None, 0.0, 1.0))
    fixed = shared_time(program, NetParams(0.0, 0.0, None, gamma_s_per_B, 0.0)) if gamma_s_per_B else 0.0
    return a, b, a * _excess(world, cores), fixed


def fit_link(points: Sequence[Measurement], gamma_s_per_B: float = 0.0, cores: int = 0) -> LoopbackFit:
    """The loopback figures fitted to p2p and collective measurements (configurations with
    ``op``, ``world``, ``size_B``) of a host with ``cores`` cores (0: not limited); without a
    point beyond the cores the oversubscription latency is 0."""
    rows = np.array([coefficients(m.config["op"], m.config["world"], m.config["size_B"], cores, gamma_s_per_B)
                     for m in points])
    over = bool(np.any(rows[:, 2] > 0))
    design = rows[:, :3] if over else rows[:, :2]
    coef, residuals = fit_linear(design, [m.measured_s for m in points], rows[:, 3], names=("alpha", "1/bandwidth", "delta"))
    return LoopbackFit(float(coef[0]), 1.0 / float(coef[1]), float(coef[2]) if over else 0.0, int(cores), residuals)
