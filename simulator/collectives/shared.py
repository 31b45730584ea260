"""Collectives on a shared capacity: every message in flight draws on one bus (a host's
loopback, :class:`simulator.network.LoopbackTopology`), so a step costs by its total bytes.

Step k of a program runs its pattern's messages at once; they share the bus, so the step
takes ``alpha + max(m_max beta, B_k bus_beta) + gamma r_k``: ``m_max`` its largest message,
``B_k`` the bytes of all its messages, ``r_k`` the most bytes one rank reduces. The program's
time is the sum over its steps (ranks in lock step, as the closed forms assume).
"""

from __future__ import annotations

import numpy as np

from .analytic import NetParams
from .schedule import StepProgram

__all__ = ["shared_time"]


def shared_time(program: StepProgram, net: NetParams) -> float:
    """Seconds of ``program`` when its messages share the capacity ``1 / net.bus_beta_s_per_B``
    (B/s); without one (``None``), each message alone at ``net.beta_s_per_B``."""
    bus = net.bus_beta_s_per_B or 0.0
    uses = np.bincount(program.order, minlength=len(program.patterns)) if len(program.order) else np.zeros(0, int)
    total = 0.0
    for i in np.flatnonzero(uses).tolist():
        pat = program.patterns[i]
        if len(pat) == 0:
            continue
        nbytes = np.asarray(pat.nbytes, dtype=float)
        wire = max(float(nbytes.max()) * net.beta_s_per_B, float(nbytes.sum()) * bus)
        reduce = float(pat.recv_reduce_bytes.max()) * net.gamma_s_per_B if net.gamma_s_per_B else 0.0
        total += int(uses[i]) * (net.alpha_s + wire + reduce)
    return total
