"""The loopback link of this host: latency and bandwidth fitted to measured gloo timings.

Each measured point (a p2p message or a collective at ``world`` processes) is written as
``t = fixed + a alpha + b beta`` with the coefficients of ddlsim's own closed form of the
algorithm gloo runs (:data:`GLOO_ALGORITHMS`; evaluated by
:func:`simulator.collectives.analytic_time` at unit alpha, unit beta and unit gamma), the
reduction term ``fixed`` priced with a known ``gamma_s_per_B``, and (alpha, beta) fitted by
least squares (:func:`~.fit.fit_alpha_beta`). alpha and beta are those of one message
between two processes; as a catalog link for the ``switch`` topology (every message crosses
two links) the link's latency is alpha / 2 and its bandwidth 1 / beta.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .fit import AlphaBetaFit, fit_alpha_beta
from .records import Measurement

__all__ = ["GLOO_ALGORITHMS", "coefficients", "fit_link", "HOPS"]

# What gloo runs on CPU tensors, in ddlsim's algorithm names (gloo's ring all-reduce and
# all-gather, its tree broadcast); the fit's residuals say how well each matches.
GLOO_ALGORITHMS = {"allreduce": "ring", "allgather": "ring", "broadcast": "binomial-tree"}
HOPS = 2   # links per message on the switch topology the catalog link is meant for


def coefficients(op: str, world: int, size_B: float, gamma_s_per_B: float = 0.0) -> tuple[float, float, float]:
    """(a, b, fixed): the measured time of ``op`` is modelled as ``fixed + a alpha + b beta``."""
    from simulator.collectives import NetParams, analytic_time  # noqa: PLC0415

    if op == "p2p":
        return 1.0, float(size_B), 0.0
    alg = GLOO_ALGORITHMS[op]
    a = analytic_time(op, alg, world, size_B, NetParams(1.0, 0.0))
    b = analytic_time(op, alg, world, size_B, NetParams(0.0, 1.0))
    fixed = analytic_time(op, alg, world, size_B, NetParams(0.0, 0.0, None, gamma_s_per_B)) if gamma_s_per_B else 0.0
    return a, b, fixed


def fit_link(points: Sequence[Measurement], gamma_s_per_B: float = 0.0) -> AlphaBetaFit:
    """alpha (s) and beta (s/B) of one message, fitted to p2p and collective measurements
    (configurations with ``op``, ``world``, ``size_B``); residuals in the order given."""
    rows = np.array([coefficients(m.config["op"], m.config["world"], m.config["size_B"], gamma_s_per_B) for m in points])
    return fit_alpha_beta(rows[:, 0], rows[:, 1], [m.measured_s for m in points], rows[:, 2])
