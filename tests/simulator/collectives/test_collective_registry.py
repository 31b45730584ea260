"""Which (op, algorithm) pairs exist, and the errors for the ones that do not."""

import pytest

from hwmodels import SpecError
from simulator.collectives import OPS, algorithms, build_program, get, pairs

EXPECTED = {
    ("allreduce", "ring"), ("allreduce", "halving-doubling"), ("allreduce", "recursive-doubling"),
    ("allreduce", "binomial-tree"), ("allreduce", "double-binary-tree"), ("allreduce", "direct"),
    ("allreduce", "parameter-server"),
    ("reducescatter", "ring"), ("reducescatter", "halving-doubling"), ("reducescatter", "direct"),
    ("allgather", "ring"), ("allgather", "recursive-doubling"), ("allgather", "direct"),
    ("broadcast", "ring"), ("broadcast", "binomial-tree"), ("broadcast", "direct"),
    ("reduce", "binomial-tree"), ("reduce", "direct"),
    ("gather", "binomial-tree"), ("gather", "direct"),
    ("alltoall", "direct"),
}


def test_registered_pairs():
    assert set(pairs()) == EXPECTED
    assert {op for op, _ in pairs()} == set(OPS)


def test_unknown_op_and_algorithm_list_the_known_ones():
    with pytest.raises(SpecError, match="known ops: allreduce"):
        get("allsum", "ring")
    with pytest.raises(SpecError, match="known algorithms: .*double-binary-tree.*ring"):
        get("allreduce", "butterfly")
    with pytest.raises(SpecError, match="for alltoall use one of: direct"):
        get("alltoall", "ring")


def test_power_of_two_error_names_option_and_fix():
    with pytest.raises(SpecError, match=r"halving-doubling needs a power-of-two.*got 6.*--workers 4 or 8"):
        build_program("allreduce", "halving-doubling", 6, 1e6)
    with pytest.raises(SpecError, match="recursive-doubling"):
        build_program("allgather", "recursive-doubling", 12, 1e6)


@pytest.mark.parametrize("kwargs,match", [
    ({"chunks": 0}, "chunks must be a positive integer"),
    ({"chunks": 2.5}, "chunks must be a positive integer"),
    ({"shards": 3}, "takes no parameter 'shards'"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(SpecError, match=match):
        build_program("allreduce", "double-binary-tree", 4, 1e6, **kwargs)


@pytest.mark.parametrize("workers,size,match", [(0, 1e6, "--workers"), (-3, 1e6, "--workers"), (2.5, 1e6, "--workers"),
                                                (4, -1.0, "--size"), (4, float("inf"), "--size")])
def test_bad_counts_and_sizes(workers, size, match):
    with pytest.raises(SpecError, match=match):
        build_program("allreduce", "ring", workers, size)


def test_root_out_of_range():
    with pytest.raises(SpecError, match="root must be a worker rank in 0..3"):
        build_program("broadcast", "binomial-tree", 4, 1e6, root=4)


def test_algorithms_per_op():
    assert algorithms("alltoall") == ["direct"]
    assert "parameter-server" in algorithms("allreduce")
