"""The contract: registry and parameter validation, seeds, error feedback and the
hand-checkable behaviour of each baseline."""

import numpy as np
import pytest
import scipy.linalg
import torch

from hwmodels import SpecError
from simulator.compression import ErrorFeedback, State, create, get, parse_params, schemes
from simulator.compression.fwht import fwht
from simulator.compression.sparse import DGC_SCHEDULE


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)  # test data from torch's global generator is the same on every run


def roundtrip(c, g, state):
    return c.decompress(c.compress(g, state), state)


@pytest.mark.parametrize(("name", "params", "fragment"), [
    ("nope", {}, "known: dgc"), ("qsgd", {"levels": 0}, "levels must be an integer in [1,"),
    ("qsgd", {"bogus": 1}, "its parameters: levels, bucket, coding"), ("qcs", {"bucket": 100}, "power of two"),
    ("qcs", {"k": 300}, "k must be an integer in [1, 256]"), ("qsgd", {"coding": "huffman"}, "one of fixed, elias"),
    ("topk", {"ratio": 0}, "ratio must be a number in (0.0, 1.0]"), ("qcs", {"beta": 1.5}, "beta"),
    ("qsgd", {"levels": "2.5"}, "levels must be an integer"), ("topk", {"ef": "maybe"}, "true or false")])
def test_bad_parameters_name_the_valid_range(name, params, fragment):
    with pytest.raises(SpecError) as info:
        create(name, **params)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_k_larger_than_the_tensor_and_non_float_input_are_user_errors():
    with pytest.raises(SpecError, match=r"k must be an integer in \[1, 10\]"):
        create("topk", k=11).compress(torch.randn(10), State())
    for name in [s.name for s in schemes("tensor")]:
        with pytest.raises(SpecError, match="floating-point"):
            create(name).compress(torch.arange(10), State())


def test_parse_params_converts_command_line_strings():
    params = parse_params(["levels=8", "coding=elias", "bucket = 64"])
    assert get("qsgd").resolve(params) == {"levels": 8, "bucket": 64, "coding": "elias"}
    assert get("topk").resolve({"ef": "false"})["ef"] is False
    with pytest.raises(SpecError, match="KEY=VALUE"):
        parse_params(["levels"])


def test_same_seed_same_result_and_randomness_per_step_worker_and_bucket():
    g = torch.randn(1000)
    c = create("qcs", bucket=64)
    first = roundtrip(c, g, State(seed=5, worker=1, step=2, bucket=3))
    assert torch.equal(first, roundtrip(c, g, State(seed=5, worker=1, step=2, bucket=3)))
    for other in (State(seed=6, worker=1, step=2, bucket=3), State(seed=5, worker=0, step=2, bucket=3),
                  State(seed=5, worker=1, step=3, bucket=3), State(seed=5, worker=1, step=2, bucket=4)):
        assert not torch.equal(first, roundtrip(c, g, other))


def test_shared_randomness_is_regenerated_by_the_receiver():
    g = torch.randn(500)
    c = create("randomk", k=50)
    payload = c.compress(g, State(seed=1, step=4))
    assert set(payload.data) == {"values"}  # no indices travel
    out = c.decompress(payload, State(seed=1, step=4))
    kept = out.nonzero().reshape(-1)
    assert kept.numel() == 50 and torch.allclose(out[kept], g[kept] * 10)


def test_error_feedback_by_hand():
    c = create("ef-signsgd")
    assert isinstance(c, ErrorFeedback) and c.beta == 1
    state = State()
    g1, g2 = torch.tensor([1.0, -3.0, 2.0]), torch.tensor([0.5, 0.5, -1.0])
    out1 = roundtrip(c, g1, state)
    assert torch.allclose(out1, torch.tensor([2.0, -2.0, 2.0]))
    e1 = g1 - out1
    p2 = g2 + e1  # [-0.5, -0.5, -1.0]
    out2 = roundtrip(c, g2, state)
    assert torch.allclose(out2, p2.abs().mean() * torch.sign(p2))
    assert torch.allclose(state.memory["ef"], p2 - out2)


def test_weighted_error_feedback_update():
    c = create("qcs", ef=True, bucket=16, k=8)
    gamma = c.inner.gamma
    assert c.beta == pytest.approx(1 / (1 + gamma))
    state = State()
    g = torch.randn(32)
    memory = torch.randn(32)
    state.memory["ef"] = memory.clone()
    z = g + c.beta * memory
    z_hat = roundtrip(c.inner, z, state)
    c.compress(g, state)
    assert torch.allclose(state.memory["ef"], (1 - c.beta) * memory + z - z_hat, atol=1e-5)
    assert create("qcs", ef=True, estimator="mmse").beta == 1


def test_plain_feedback_diverges_for_unbiased_qcs_and_weighted_feedback_does_not():
    # spec: with gamma > 1, beta = 1 blows the memory up; beta = 1/(1+gamma) keeps it bounded
    g = torch.randn(2048)
    growth = {}
    for beta in (1.0, None):
        c = create("qcs", bucket=256, k=16, ef=True, **({} if beta is None else {"beta": beta}))
        assert c.inner.gamma > 1
        state = State()
        for step in range(30):
            state.step = step
            c.compress(g, state)
        growth[beta] = float(state.memory["ef"].norm() / g.norm())
    assert growth[1.0] > 1e6 and growth[None] < 2 * (1 + c.inner.gamma)


def test_signsgd_majority_vote_and_onebit_column_means():
    c = create("signsgd")
    votes = [torch.tensor([1.0, -1.0, 2.0]), torch.tensor([-1.0, -1.0, 0.5]), torch.tensor([3.0, 2.0, -0.1])]
    states = [State(worker=i) for i in range(3)]
    assert torch.equal(c.aggregate([c.compress(v, s) for v, s in zip(votes, states)], states), torch.tensor([1.0, -1.0, 1.0]))
    onebit = create("onebit", ef=False)
    m = torch.tensor([[1.0, -1.0], [3.0, -3.0], [-2.0, 5.0]])
    assert torch.allclose(roundtrip(onebit, m, State()), torch.tensor([[2.0, -2.0], [2.0, -2.0], [-2.0, 5.0]]))


def test_powersgd_exact_on_low_rank_and_warm_started():
    a, b = torch.randn(40, 2), torch.randn(2, 30)
    m = a @ b
    c = create("powersgd", rank=2, ef=False)
    state = State()
    assert float((roundtrip(c, m, state) - m).norm() / m.norm()) < 1e-5
    assert state.memory["powersgd_q"].shape == (30, 2)
    vector = torch.randn(50)
    assert torch.equal(roundtrip(c, vector, State()), vector)


def test_dgc_warmup_schedule_masks_momentum_and_memory():
    c = create("dgc", warmup=2, ratio=0.001, momentum=0.9)
    sparsifier = c.sparsifier.inner
    assert [sparsifier.density(s) for s in range(0, 12, 2)] == pytest.approx(
        [1 - DGC_SCHEDULE[0], 1 - DGC_SCHEDULE[1], 1 - DGC_SCHEDULE[2], 1 - DGC_SCHEDULE[3], 0.001, 0.001])
    state = State()
    g = torch.randn(20000)
    for step in range(3):
        state.step = step
        payload = c.compress(g, state)
        sent = payload.data["indices"]
        assert sent.numel() <= int(np.ceil(sparsifier.density(step) * g.numel()))
        assert torch.all(state.memory["momentum"].reshape(-1)[sent] == 0)
        assert torch.all(state.memory["ef"].reshape(-1)[sent] == 0)
    assert payload.nbits == sent.numel() * (32 + 15)


def test_fwht_matches_the_hadamard_matrix():
    x = torch.randn(5, 64, dtype=torch.float64)
    expected = x @ torch.as_tensor(scipy.linalg.hadamard(64), dtype=torch.float64).T
    assert torch.allclose(fwht(x), expected)
    with pytest.raises(ValueError):
        fwht(torch.randn(3, 12))
