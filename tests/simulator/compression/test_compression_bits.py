"""Bit accounting: code lengths by hand, scheme bit formulas, and no scheme beating D(R)."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simulator.compression import State, block_bits, create, elias_gamma_bits, index_bits, schemes
from simulator.compression.evaluate import measure


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)  # test data from torch's global generator is the same on every run


def test_code_lengths_by_hand():
    assert block_bits(4, 11) == 14  # 4 log2 11 = 13.84
    assert block_bits(5, 3) == 8  # 3^5 = 243 <= 256
    assert block_bits(6, 3) == 10  # 3^6 = 729 > 512
    assert block_bits(10, 4) == 20
    assert [index_bits(d) for d in (1, 2, 3, 4, 5, 1000, 1024, 1025)] == [0, 1, 2, 2, 3, 10, 10, 11]
    assert elias_gamma_bits(torch.tensor([1, 2, 3, 4, 5, 8])) == 1 + 3 + 3 + 5 + 5 + 7


@given(count=st.integers(1, 3000), alphabet=st.integers(2, 2000))
def test_block_bits_is_the_length_of_the_largest_block_number(count, alphabet):
    # the block is a number in [0, A^count): exactly bit_length(A^count - 1) bits
    assert block_bits(count, alphabet) == (alphabet**count - 1).bit_length()


@given(d=st.integers(2, 10**12))
def test_index_bits_is_ceil_log2(d):
    bits = index_bits(d)
    assert 2**bits >= d > 2 ** (bits - 1)


def test_qsgd_bits_fixed_and_elias_by_hand():
    # |v| / ||v|| * s = [3, 0, 0, 4] exactly, so the rounding is deterministic.
    v = torch.tensor([3.0, 0.0, 0.0, -4.0])
    fixed = create("qsgd", levels=5, bucket=4)
    payload = fixed.compress(v, State())
    assert payload.nbits == 14 + 32
    assert torch.allclose(fixed.decompress(payload, State()), v)
    # norm 32 + gamma(nnz+1=3) 3 + gaps 1, 3 -> 1 + 3 + signs 2 + gamma(3) 3 + gamma(4) 5
    assert create("qsgd", levels=5, bucket=4, coding="elias").compress(v, State()).nbits == 32 + 3 + 4 + 2 + 8


@pytest.mark.parametrize(("d", "k"), [(1000, 7), (1024, 1), (4097, 300)])
def test_topk_and_randomk_bits_match_formulas(d, k):
    g = torch.randn(d)
    assert create("topk", k=k).compress(g, State()).nbits == k * (32 + math.ceil(math.log2(d)))
    assert create("randomk", k=k).compress(g, State()).nbits == 32 * k


def test_fixed_rate_formulas():
    g = torch.randn(64, 48)
    d = g.numel()
    expected = {
        "none": 32 * d, "fp16": 16 * d, "signsgd": d, "ef-signsgd": d + 32, "onebit": d + 64 * 48,
        "natural": 9 * d, "terngrad": math.ceil(d * math.log2(3)) + 32, "powersgd": 32 * (64 + 48),
        "qcs": 12 * (406 + 32),  # 3072 / 256 buckets of ceil(256 log2 3) + 32
        "dqsg": 6 * (812 + 32),  # 3072 / 512 buckets of ceil(512 log2 3) + 32
    }
    for name, bits in expected.items():
        assert create(name).compress(g, State()).nbits == bits, name


# Each tensor scheme at its defaults and at settings that spend more or fewer bits.
VARIANTS = [(s.name, {}) for s in schemes("tensor") if s.name != "none"] + [
    ("qsgd", {"levels": 64, "bucket": 4096, "coding": "elias"}), ("qsgd", {"levels": 1, "coding": "elias"}),
    ("qsgd", {"levels": 255, "bucket": 64}), ("qcs", {"levels": 8}), ("qcs", {"k": 64, "estimator": "mmse"}),
    ("qcs", {"onebit": True}), ("dqsg", {"levels": 31}), ("topk", {"ratio": 0.3}), ("powersgd", {"rank": 8}),
    ("randomk", {"ratio": 0.5}), ("dgc", {"ratio": 0.05}), ("terngrad", {"clip": 0})]


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_no_scheme_beats_gaussian_rate_distortion(name, params):
    row = measure(name, params, elements=4096, rows=64, trials=3, seed=7)
    assert row["relative_error"] >= row["rd_bound"], row


def test_lossless_none_costs_32_bits():
    row = measure("none", elements=1000, trials=1)
    assert row["relative_error"] == 0 and row["bits_per_element"] == 32
