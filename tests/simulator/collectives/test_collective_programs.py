"""Step programs: bytes conservation, known per-rank totals, shared patterns, tree shapes."""

import math

import numpy as np
import pytest

from hwmodels import SpecError
from simulator.collectives import Pattern, StepProgram, build_program, pairs, totals
from simulator.collectives.tree import double_binary_trees, nccl_btree, _dbt_port_load

N = 12_000_000.0


def counts(op, alg, p):
    """Worker counts each pair accepts among a few sizes."""
    pow2 = alg in ("halving-doubling", "recursive-doubling")
    return [q for q in (1, 2, 3, 4, 5, 7, 8, 12, 16) if not pow2 or q & (q - 1) == 0]


@pytest.mark.parametrize("op,alg", pairs())
def test_every_pair_conserves_bytes_and_matches_totals(op, alg):
    for p in counts(op, alg, 0):
        prog = build_program(op, alg, p, N)
        prog.validate()
        sent, recv = prog.bytes_sent_per_rank(), prog.bytes_received_per_rank()
        assert sent.sum() == pytest.approx(recv.sum(), rel=1e-12)
        assert sent.sum() == pytest.approx(prog.bytes_sent_total, rel=1e-12)
        steps, messages, nbytes = totals(op, alg, p, N)
        assert (steps, messages) == (prog.num_steps, prog.messages)
        assert nbytes == pytest.approx(prog.bytes_sent_total, rel=1e-12)
        for pat in {id(x): x for x in prog.steps()}.values():
            assert np.all(pat.src != pat.dst)
            assert np.all(pat.reduce_bytes <= pat.nbytes)


@pytest.mark.parametrize("p", [2, 3, 5, 8, 13])
def test_ring_allreduce_sends_2_p_minus_1_over_p_n_per_rank_with_two_shared_patterns(p):
    prog = build_program("allreduce", "ring", p, N)
    assert np.allclose(prog.bytes_sent_per_rank(), 2 * (p - 1) / p * N, rtol=1e-12)
    assert prog.num_steps == 2 * (p - 1) and prog.messages == 2 * p * (p - 1)
    assert len(prog.patterns) == 2            # 2(p-1) steps reuse two arrays
    assert prog.reduce_bytes_per_rank() == pytest.approx(np.full(p, (p - 1) / p * N))


@pytest.mark.parametrize("p", [2, 4, 16])
def test_doubling_totals_per_rank(p):
    L = int(math.log2(p))
    hd = build_program("allreduce", "halving-doubling", p, N)
    assert np.allclose(hd.bytes_sent_per_rank(), 2 * (p - 1) / p * N)
    assert hd.num_steps == 2 * L
    rd = build_program("allreduce", "recursive-doubling", p, N)
    assert np.allclose(rd.bytes_sent_per_rank(), L * N)
    ag = build_program("allgather", "recursive-doubling", p, N)
    assert np.allclose(ag.bytes_received_per_rank(), (p - 1) / p * N)


@pytest.mark.parametrize("p", [2, 3, 6, 9, 16])
@pytest.mark.parametrize("root", [0, 1])
def test_binomial_trees_reach_every_rank_once(p, root):
    root = root % p
    bcast = build_program("broadcast", "binomial-tree", p, N, root=root)
    got = bcast.bytes_received_per_rank()
    assert got[root] == 0 and np.allclose(np.delete(got, root), N)
    red = build_program("reduce", "binomial-tree", p, N, root=root)
    sent = red.bytes_sent_per_rank()
    assert sent[root] == 0 and np.allclose(np.delete(sent, root), N)
    gat = build_program("gather", "binomial-tree", p, N, root=root)
    assert gat.bytes_received_per_rank()[root] == pytest.approx((p - 1) / p * N)
    assert bcast.num_steps == red.num_steps == math.ceil(math.log2(p))


@pytest.mark.parametrize("p", [3, 5, 8])
def test_direct_alltoall_sends_one_block_to_every_peer(p):
    prog = build_program("alltoall", "direct", p, N)
    matrix = np.zeros((p, p))
    for pat in prog.steps():
        np.add.at(matrix, (pat.src, pat.dst), pat.nbytes)
    expected = np.full((p, p), N / p)
    np.fill_diagonal(expected, 0)
    assert np.allclose(matrix, expected)


@pytest.mark.parametrize("p,shards", [(4, 1), (5, 2), (3, 4)])
def test_parameter_server_uses_dedicated_server_ranks(p, shards):
    prog = build_program("allreduce", "parameter-server", p, N, shards=shards)
    assert prog.ranks == p + shards and prog.workers == p
    sent = prog.bytes_sent_per_rank()
    assert np.allclose(sent[:p], N) and np.allclose(sent[p:], p * N / shards)


def test_nccl_btree_matches_its_bit_rule_and_depth():
    # p = 8: 0 -> 4 -> {2, 6} -> {1, 3, 5, 7}
    assert nccl_btree(8).tolist() == [-1, 2, 4, 2, 0, 6, 4, 6]
    for p in (2, 3, 5, 6, 8, 13, 64, 100):
        (pa, da), (pb, db) = double_binary_trees(p)
        assert da.max() == db.max() == math.ceil(math.log2(p))
        assert (pa < 0).sum() == (pb < 0).sum() == 1         # one root each, a tree (depth finite)
        children_a = np.bincount(pa[pa >= 0], minlength=p)
        assert children_a.max() <= 2


@pytest.mark.parametrize("p", [2, 3, 4, 7, 8, 12, 33, 64])
@pytest.mark.parametrize("c", [1, 2, 3, 8])
def test_double_binary_tree_chunks_and_port_load_table(p, c):
    prog = build_program("allreduce", "double-binary-tree", p, N, chunks=c)
    # every tree edge carries every chunk once up and once down
    assert prog.messages == 4 * c * (p - 1)
    assert prog.bytes_sent_total == pytest.approx(2 * (p - 1) * N)
    assert prog.num_steps == c + 2 * math.ceil(math.log2(p)) - 1
    load = max(max(np.bincount(pat.src).max(), np.bincount(pat.dst).max()) for pat in prog.patterns)
    assert load <= _dbt_port_load(p, c)
    assert len(prog.patterns) <= 4 * math.ceil(math.log2(p)) - 1   # the steady state is one shared pattern


def test_pattern_and_program_validation():
    with pytest.raises(SpecError, match="differ in length"):
        Pattern([0, 1], [1], 1.0, ranks=2)
    bad = Pattern([0], [0], 1.0, ranks=2)
    with pytest.raises(SpecError, match="itself"):
        bad.validate()
    with pytest.raises(SpecError, match="outside"):
        Pattern([0], [5], 1.0, ranks=2).validate()
    with pytest.raises(SpecError, match="index"):
        StepProgram("allreduce", "x", 2, 1.0, 2, [], np.array([0]))
    pat = Pattern(np.array([0, 1]), np.array([1, 0]), 2.0, ranks=2)
    assert not pat.src.flags.writeable and not pat.nbytes.flags.writeable


def test_relabel_moves_the_root():
    prog = build_program("broadcast", "binomial-tree", 4, N).relabel(np.array([2, 3, 0, 1]))
    assert prog.bytes_received_per_rank()[2] == 0
