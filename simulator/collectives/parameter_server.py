"""Parameter server all-reduce (push, reduce, pull) with S shards.

Servers are **dedicated ranks** numbered after the workers: program ranks 0..p-1 are the
workers and p..p+S-1 the servers, so a topology for p workers and S shards needs p+S
hosts (the CLI builds it so). This is what the spec's closed form assumes: with S = 1
on a switch the server's link carries p flows each way.

Push: every worker sends n/S to every server at once; each server reduces the p slices
it receives (p n/S gamma). Pull: every server sends its reduced n/S to every worker.
  T = 2 (alpha + n/S max(beta, S port_beta, p port_beta)) + p n/S gamma
On a switch, S = 1: 2 (alpha + p n beta) + p n gamma (the spec's T = 2(alpha + p n beta)).
"""

from __future__ import annotations

import numpy as np

from .analytic import NetParams
from .registry import register
from .schedule import Pattern, StepProgram


def _time(p: int, n: float, net: NetParams, shards: int = 1) -> float:
    s = shards
    m = n / s
    phase = net.alpha_s + m * max(net.beta_s_per_B, s * net.port_beta, p * net.port_beta) if m else net.alpha_s
    return 2 * phase + p * m * net.gamma_s_per_B


@register("allreduce", "parameter-server", time=_time,
          extra_ranks=lambda p, params: int(params["shards"]),
          summary="workers push n/S to each of S dedicated servers, which reduce and send back")
def ps_allreduce(p: int, n: float, shards: int = 1) -> StepProgram:
    """Parameter-server all-reduce of ``n`` bytes: workers push n/S to each of ``shards`` servers (ranks p..p+S-1), which reduce and send back."""
    s = int(shards)
    workers = np.repeat(np.arange(p, dtype=np.int64), s)
    servers = np.tile(np.arange(p, p + s, dtype=np.int64), p)
    m = n / s
    push = Pattern(workers, servers, m, m, ranks=p + s)
    pull = Pattern(servers, workers, m, None, ranks=p + s)
    return StepProgram("allreduce", "parameter-server", p, n, p + s, [push, pull], np.arange(2), {"shards": s})
