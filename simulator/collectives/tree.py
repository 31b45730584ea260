"""Tree algorithms: binomial trees (Thakur et al. 2005) and the NCCL-style double
binary tree (Sanders, Speck & Traff 2009).

Binomial trees work on virtual ranks v = (r - root) mod p, any p, K = ceil(log2 p) steps:
- reduce: in step k, v with v mod 2^(k+1) = 2^k sends n to v - 2^k, which reduces it:
  K (alpha + n beta + n gamma).
- broadcast: in step k (k = K-1 .. 0), v with v mod 2^(k+1) = 0 sends n to v + 2^k:
  K (alpha + n beta).
- gather: as reduce, each sender carrying its subtree's blocks of n/p:
  K alpha + (p-1)/p n beta (the root receives every block once, in sequence).
- allreduce: reduce to rank 0 then broadcast from it: 2K (alpha + n beta) + K n gamma.
All exact for any p: the root's chain of messages is the critical path.

Double binary tree (allreduce, any p): two binary trees (NCCL's construction: tree A
from the bit pattern of ranks, tree B its mirror for even p or its shift by one for odd
p), each reducing and broadcasting half of the vector in ``chunks`` pipelined chunks of
n/(2c). A node at depth d of a tree of depth D sends chunk j up in step j + D - d and,
once the root has it, down in step j + D + d: c + 2D - 1 steps, D = ceil(log2 p). A rank
is busy in both trees at once, so its port carries several flows per step: 2 while the
phases do not overlap (c = 1), up to 4 in the steady state of a pipeline (c >= 2). The
closed form charges every step that load,
  T = (c + 2D - 1) (alpha + k n/(2c) max(beta, ...port)) + (c + D - 1) n/c gamma,
which is the spec's shape (c = 1: about 2 log2(p) n beta; large c: the ring's 2 n beta).
It is an upper estimate on a switch (the pipeline's fill and drain carry fewer flows)
and the DES lies between the no-sharing lower bound (c + 2D - 1)(alpha + n/(2c) beta)
and it; the tests hold both bounds.
"""

from __future__ import annotations

import numpy as np

from .analytic import NetParams
from .registry import ceil_log2, register
from .schedule import Pattern, StepProgram, concat

__all__ = ["binomial_scatter", "nccl_btree", "double_binary_trees"]


def _virtual(p: int, root: int) -> tuple[np.ndarray, np.ndarray]:
    """(v, to_real): v runs 0..p-1; real rank of v is (v + root) mod p."""
    v = np.arange(p, dtype=np.int64)
    return v, (v + root) % p


def _empty(op: str, alg: str, p: int, n: float, **params: object) -> StepProgram:
    return StepProgram(op, alg, p, n, p, [], np.empty(0, dtype=np.int64), dict(params))


def _binomial_up(op: str, p: int, n: float, root: int, *, gather: bool) -> StepProgram:
    if p == 1:
        return _empty(op, "binomial-tree", p, n, root=root)
    v, real = _virtual(p, root)
    patterns = []
    for k in range(ceil_log2(p)):
        step = 1 << k
        senders = v[(v % (2 * step)) == step]
        if gather:
            size = np.minimum(step, p - senders) * (n / p)
            pat = Pattern(real[senders], real[senders - step], size, None, ranks=p)
        else:
            pat = Pattern(real[senders], real[senders - step], n, n, ranks=p)
        patterns.append(pat)
    return StepProgram(op, "binomial-tree", p, n, p, patterns, np.arange(len(patterns)), {"root": root})


def _binomial_down(op: str, p: int, n: float, root: int, *, scatter: bool) -> StepProgram:
    if p == 1:
        return _empty(op, "binomial-tree", p, n, root=root)
    v, real = _virtual(p, root)
    patterns = []
    for k in reversed(range(ceil_log2(p))):
        step = 1 << k
        senders = v[((v % (2 * step)) == 0) & (v + step < p)]
        receivers = senders + step
        size = np.minimum(step, p - receivers) * (n / p) if scatter else n
        patterns.append(Pattern(real[senders], real[receivers], size, None, ranks=p))
    return StepProgram(op, "binomial-tree", p, n, p, patterns, np.arange(len(patterns)), {"root": root})


def binomial_scatter(p: int, n: float, root: int = 0) -> StepProgram:
    """Binomial scatter of p blocks of n/p from ``root``: ceil(log2 p) alpha + (p-1)/p n beta."""
    return _binomial_down("scatter", p, n, root, scatter=True)


def _tree_time(p: int, n: float, net: NetParams, reduce: bool) -> float:
    return ceil_log2(p) * (net.step(n) + (n * net.gamma_s_per_B if reduce else 0.0))


@register("reduce", "binomial-tree", time=lambda p, n, net, root=0: _tree_time(p, n, net, True),
          summary="binomial tree towards the root, reducing at each hop")
def binomial_reduce(p: int, n: float, root: int = 0) -> StepProgram:
    """Binomial-tree reduce of ``n`` bytes towards ``root``, reducing at each hop (ceil(log2 p) steps)."""
    return _binomial_up("reduce", p, n, root, gather=False)


@register("broadcast", "binomial-tree", time=lambda p, n, net, root=0: _tree_time(p, n, net, False),
          summary="binomial tree from the root")
def binomial_broadcast(p: int, n: float, root: int = 0) -> StepProgram:
    """Binomial-tree broadcast of ``n`` bytes from ``root`` (ceil(log2 p) steps)."""
    return _binomial_down("broadcast", p, n, root, scatter=False)


def _gather_time(p: int, n: float, net: NetParams, root: int = 0) -> float:
    if p == 1:
        return 0.0
    return ceil_log2(p) * net.alpha_s + (p - 1) / p * n * net.beta_s_per_B


@register("gather", "binomial-tree", time=_gather_time,
          summary="binomial tree towards the root, each hop carrying its subtree's blocks")
def binomial_gather(p: int, n: float, root: int = 0) -> StepProgram:
    """Binomial-tree gather of ``n`` bytes in all (n/p per rank) to ``root``."""
    return _binomial_up("gather", p, n, root, gather=True)


@register("allreduce", "binomial-tree", time=lambda p, n, net: _tree_time(p, n, net, True) + _tree_time(p, n, net, False),
          summary="binomial reduce to rank 0, then binomial broadcast")
def binomial_allreduce(p: int, n: float) -> StepProgram:
    """Binomial-tree all-reduce of ``n`` bytes: reduce to rank 0, then broadcast from it."""
    if p == 1:
        return _empty("allreduce", "binomial-tree", p, n)
    return concat("allreduce", "binomial-tree", [binomial_reduce(p, n, 0), binomial_broadcast(p, n, 0)])


# ----------------------------------------------------------------- double binary tree
def nccl_btree(p: int) -> np.ndarray:
    """Parent of every rank in NCCL's binary tree over p ranks (root 0 has parent -1):
    rank r with lowest set bit b has parent (r ^ b) | 2b, or r ^ b if that is >= p."""
    r = np.arange(p, dtype=np.int64)
    parent = np.full(p, -1, dtype=np.int64)
    if p < 2:
        return parent
    nz = r[1:]
    low = nz & -nz
    up = (nz ^ low) | (low << 1)
    up = np.where(up >= p, nz ^ low, up)
    parent[1:] = up
    return parent


def _depths(parent: np.ndarray) -> np.ndarray:
    p = parent.shape[0]
    depth = np.zeros(p, dtype=np.int64)
    cur = parent.copy()
    active = cur >= 0
    while active.any():
        depth[active] += 1
        cur[active] = parent[cur[active]]
        active = cur >= 0
    return depth


def double_binary_trees(p: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((parentA, depthA), (parentB, depthB)): NCCL's tree and its mirror (even p) or
    shift by one (odd p), so that most ranks are a leaf in one tree."""
    pa = nccl_btree(p)
    r = np.arange(p, dtype=np.int64)
    if p % 2 == 0:
        # rank x of B is rank p-1-x of A
        to_a = p - 1 - r
        pb = np.where(pa[to_a] >= 0, p - 1 - pa[to_a], -1)
    else:
        # rank x of B is rank x-1 of A
        to_a = (r - 1) % p
        pb = np.where(pa[to_a] >= 0, (pa[to_a] + 1) % p, -1)
    return (pa, _depths(pa)), (pb, _depths(pb))


def _dbt_port_load(p: int, c: int) -> int:
    """The most messages a rank sends (or receives) in one step of the program: both
    trees' up and down phases overlap more as the pipeline gets longer (the tests check
    this table against the programs)."""
    if p <= 3:
        return 1 if c == 1 else min(c, p)
    return 2 if c <= 2 else min(c, 4)


def _dbt_time(p: int, n: float, net: NetParams, chunks: int = 1) -> float:
    if p == 1:
        return 0.0
    c = chunks
    depth = ceil_log2(p)
    chunk = n / (2 * c)
    steps = c + 2 * depth - 1
    return steps * net.step(chunk, _dbt_port_load(p, c)) + (c + depth - 1) * 2 * chunk * net.gamma_s_per_B


@register("allreduce", "double-binary-tree", time=_dbt_time,
          summary="two complementary binary trees, each reducing and broadcasting n/2 in c pipelined chunks")
def double_binary_tree_allreduce(p: int, n: float, chunks: int = 1) -> StepProgram:
    """NCCL's double-binary-tree all-reduce of ``n`` bytes: each tree reduces and broadcasts half, pipelined in ``chunks``."""
    c = int(chunks)
    if p == 1:
        return _empty("allreduce", "double-binary-tree", p, n, chunks=c)
    trees = double_binary_trees(p)
    depth = int(max(trees[0][1].max(), trees[1][1].max()))
    chunk = n / (2 * c)
    nsteps = c + 2 * depth - 1
    ranks = np.arange(p, dtype=np.int64)

    def step_messages(s: int) -> Pattern:
        srcs, dsts, reds = [], [], []
        for parent, dep in trees:
            child = ranks[parent >= 0]
            d = dep[child]
            j_up = s - depth + d                  # chunk sent up by a node of depth d
            up = (j_up >= 0) & (j_up < c)
            srcs.append(child[up]); dsts.append(parent[child[up]]); reds.append(np.full(int(up.sum()), chunk))
            j_down = s - depth - d + 1            # chunk received from the parent
            down = (j_down >= 0) & (j_down < c)
            srcs.append(parent[child[down]]); dsts.append(child[down]); reds.append(np.zeros(int(down.sum())))
        return Pattern(np.concatenate(srcs), np.concatenate(dsts), chunk, np.concatenate(reds), ranks=p)

    # steps in [2D-1, c-1] are the pipeline's steady state (every node sends up and
    # receives down): all the same pattern
    patterns: list[Pattern] = []
    order = np.empty(nsteps, dtype=np.int64)
    steady: int | None = None
    lo, hi = 2 * depth - 1, c - 1
    for s in range(nsteps):
        if lo <= s <= hi:
            if steady is None:
                steady = len(patterns)
                patterns.append(step_messages(s))
            order[s] = steady
        else:
            order[s] = len(patterns)
            patterns.append(step_messages(s))
    return StepProgram("allreduce", "double-binary-tree", p, n, p, patterns, order, {"chunks": c})
