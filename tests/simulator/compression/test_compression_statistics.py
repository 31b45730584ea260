"""Statistical claims: unbiasedness (bias ~ error / trials), QSGD's variance bound, QCS's gamma,
random-k's exact error and the contraction of top-k and natural compression."""

import math

import pytest
import torch

from simulator.compression import State, create
from simulator.compression.evaluate import measure
from simulator.compression.qcs import qcs_gamma
from simulator.compression.stochastic import qsgd_variance_bound


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)  # test data from torch's global generator is the same on every run

# For independent unbiased draws E||mean - g||^2 = E||g_hat - g||^2 / T, so bias T / error
# concentrates at 1 (over 2048 coordinates its spread is a few percent of 1).
UNBIASED = [("none", {}), ("qsgd", {}), ("qsgd", {"levels": 1, "bucket": 64, "coding": "elias"}), ("terngrad", {"clip": 0}),
            ("randomk", {"ratio": 0.25}), ("natural", {}), ("qcs", {}), ("qcs", {"k": 64, "levels": 3}),
            ("qcs", {"onebit": True}), ("qcs", {"bucket": 1024, "k": 512}), ("dqsg", {}), ("dqsg", {"levels": 4, "bucket": 64}),
            ("dithered-ec", {}), ("dithered-ec", {"step": 2.5, "bucket": 256})]


@pytest.mark.parametrize(("name", "params"), UNBIASED)
def test_unbiased_schemes_bias_shrinks_like_one_over_trials(name, params):
    for trials in (8, 32):
        row = measure(name, params, elements=2048, trials=trials, seed=3)
        assert row["unbiased"]
        if row["relative_error"] > 0:
            assert 0.6 < row["bias"] * trials / row["relative_error"] < 1.5, (trials, row)


@pytest.mark.parametrize(("name", "params"), [("qcs", {"estimator": "mmse"}), ("fp16", {}), ("signsgd", {}),
                                                  ("dithered-ec", {"estimator": "mmse", "step": 2.0})])
def test_biased_schemes_fail_the_same_check(name, params):
    row = measure(name, params, elements=2048, trials=32, seed=3)
    assert not row["unbiased"]
    assert row["bias"] * 32 / row["relative_error"] > 3, row


@pytest.mark.parametrize(("levels", "bucket", "distribution"), [(1, 512, "gaussian"), (4, 512, "gaussian"), (2, 64, "heavy-tailed"), (16, 4096, "laplace")])
def test_qsgd_under_its_variance_bound(levels, bucket, distribution):
    row = measure("qsgd", {"levels": levels, "bucket": bucket}, elements=8192, distribution=distribution, trials=10)
    assert row["relative_error"] <= qsgd_variance_bound(bucket, levels)


def test_qcs_gamma_closed_form():
    assert qcs_gamma(256, 1, 1) == 255
    assert qcs_gamma(256, 256, 1) == pytest.approx(64 * math.log(256) / 255)
    assert qcs_gamma(64, 16, 2) == pytest.approx(3 + 4 * math.log(16) / 15)


@pytest.mark.parametrize(("bucket", "k", "levels", "onebit"), [(256, 256, 1, False), (256, 64, 2, False), (64, 48, 1, False), (256, 256, 1, True), (128, 32, 1, True),
                                                                 (1024, 512, 2, False), (2048, 2048, 1, True)])
@pytest.mark.parametrize("distribution", ["gaussian", "heavy-tailed"])
def test_qcs_under_gamma_and_mmse_under_its_shrunk_bound(bucket, k, levels, onebit, distribution):
    gamma = qcs_gamma(bucket, k, 0.5 if onebit else levels)
    common = {"bucket": bucket, "k": k, "levels": levels, "onebit": onebit}
    unbiased = measure("qcs", common, elements=8192, distribution=distribution, trials=8)
    mmse = measure("qcs", {**common, "estimator": "mmse"}, elements=8192, distribution=distribution, trials=8)
    assert unbiased["relative_error"] <= gamma
    assert mmse["relative_error"] <= gamma / (1 + gamma)


@pytest.mark.parametrize(("distribution", "published"), [("gaussian", 0.79), ("heavy-tailed", 0.70)])
def test_qcs2_matches_the_specs_synthetic_check(distribution, published):
    # spec: QCS-2 (k = n = 256, Q = 1) relative error 0.79 Gaussian, 0.70 cubed Gaussian
    row = measure("qcs", {"bucket": 256, "levels": 1}, elements=2**15, distribution=distribution, trials=4, seed=5)
    assert row["relative_error"] == pytest.approx(published, abs=0.03)


def test_randomk_error_is_d_over_k_minus_one():
    d, k, trials = 1000, 100, 400
    g = torch.randn(d)
    c = create("randomk", k=k)
    errors = []
    for t in range(trials):
        state = State(step=t)
        errors.append(float((c.decompress(c.compress(g, state), state) - g).square().sum() / g.square().sum()))
    mean = sum(errors) / trials
    spread = (sum((e - mean) ** 2 for e in errors) / (trials - 1) / trials) ** 0.5
    assert abs(mean - (d / k - 1)) < 4 * spread


def test_topk_contraction_and_keeps_the_largest():
    g = torch.randn(5000)
    c = create("topk", k=50, ef=False)
    out = c.decompress(c.compress(g, State()), State())
    assert float((out - g).square().sum()) <= (1 - 50 / 5000) * float(g.square().sum())
    assert torch.equal(out.nonzero().reshape(-1).sort().values, g.abs().topk(50).indices.sort().values)


def test_topk_is_exact_on_large_tensors():
    g = torch.randn(300_000)
    for k in (3, 300, 3000):
        payload = create("topk", k=k, ef=False).compress(g, State())
        assert torch.equal(payload.data["indices"].sort().values, g.abs().topk(k).indices.sort().values)


def test_natural_error_at_most_one_eighth_per_entry():
    g = torch.randn(4096) * torch.logspace(-3, 3, 4096)
    row = measure("natural", elements=4096, trials=20)
    assert row["relative_error"] <= 1 / 8
    c = create("natural")
    out = c.decompress(c.compress(g, State()), State())
    magnitude = out.abs()
    assert torch.all((magnitude >= g.abs() / 2) & (magnitude <= 2 * g.abs()))
    assert torch.all(torch.log2(magnitude) == torch.round(torch.log2(magnitude)))
