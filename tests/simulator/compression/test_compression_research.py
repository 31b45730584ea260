"""NDQSG decoding with side information, ISGQ's unbiasedness and error formula, and the
yardsticks (Lloyd-Max table, CEO sum rate by water-filling and in closed form)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import optimize

from hwmodels import SpecError
from simulator.compression import State, create
from simulator.compression.bounds import LLOYD_MAX, ceo_distortion, ceo_sum_rate, ceo_sum_rate_equal, gaussian_distortion, lloyd_max, unbiased_bound
from simulator.compression.evaluate import measure_factors, measure_workers, sample
from simulator.compression.isgq import isgq_error


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)  # test data from torch's global generator is the same on every run


def test_ndqsg_decodes_exactly_when_side_information_is_close():
    w = torch.randn(4096)
    nested, direct = create("ndqsg", levels=3, coarse=1, bucket=256), create("dqsg", levels=3, bucket=256)
    state = State(seed=2, worker=1, step=5)
    payload = nested.compress(w, state)
    assert payload.nbits == 16 * (math.ceil(256 * math.log2(3)) + 32)
    scale = payload.data["scale"]
    # |w - y| < (rho - 1) scale / 2 = scale everywhere: exact decoding.
    side = w + (torch.rand(4096) - 0.5) * 1.8 * scale.repeat_interleave(256)
    decoded = nested.decode_with(payload, state, side)
    assert torch.equal(decoded, direct.decompress(direct.compress(w, state), state))
    assert nested.failures(payload, decoded, w) == 0
    far = nested.decode_with(payload, state, w + 2.0 * scale.repeat_interleave(256))
    assert nested.failures(payload, far, w) == 4096


def test_ndqsg_counts_failures_only_when_workers_disagree():
    close = measure_workers("ndqsg", elements=4096, workers=4, noise=0.01, trials=3)
    far = measure_workers("ndqsg", elements=4096, workers=4, noise=1.0, trials=3)
    assert close["failures"] == 0 and far["failures"] > 100
    # 8 buckets of 512: even workers ceil(512 log2 7) = 1438, odd ones ceil(512 log2 3) = 812, + 32 each
    assert close["bits_per_element"] == pytest.approx((2 * 8 * (1438 + 32) + 2 * 8 * (812 + 32)) / 4 / 4096)
    with pytest.raises(SpecError, match="side information"):
        create("ndqsg").decompress(create("ndqsg").compress(torch.randn(10), State(worker=1)), State(worker=1))


def test_isgq_is_unbiased_and_its_error_matches_the_formula():
    batch, d_in, d_out, levels, trials = 4, 24, 16, 2, 300
    x, delta = torch.randn(batch, d_in), torch.randn(batch, d_out)
    c = create("isgq", levels=levels, bucket=10**6)
    g = x.T @ delta
    estimates = []
    for t in range(trials):
        state = State(step=t)
        estimates.append(c.decompress(c.compress(x, delta, state), state))
    errors = torch.stack([(e - g).square().sum() for e in estimates])
    expected = isgq_error(x, delta, float(x.abs().max()) / levels, float(delta.abs().max()) / levels)
    assert abs(float(errors.mean()) - expected) < 4 * float(errors.std()) / trials**0.5
    bias = float((torch.stack(estimates).mean(0) - g).square().sum())
    assert bias < 2 * expected / trials


def test_isgq_zeros_are_exact_and_fallback_when_factors_cost_more():
    x, delta = torch.relu(torch.randn(4, 32)), torch.randn(4, 8)
    x[:, 3] = 0  # an input that is zero for the whole batch: its gradient row must decode to 0
    c = create("isgq", variant="lloyd-max")
    state = State()
    payload = c.compress(x, delta, state)
    # one bucket per factor, 2 bits per symbol (3 levels + zero), 3 refitted points per factor
    assert payload.nbits == (128 * 2 + 32) + (32 * 2 + 32) + 2 * 3 * 32
    assert torch.all(c.decompress(payload, state)[3] == 0)
    row = measure_factors("isgq", {"direct": "none"}, batch=512, d_in=8, d_out=8, trials=1)
    assert row["direct_fallback"] and row["bits_per_element"] == 32 and row["relative_error"] == 0
    assert not measure_factors("isgq", batch=8, d_in=256, d_out=128, trials=1)["direct_fallback"]
    dqsg = measure_factors("isgq", {"direct": "dqsg"}, batch=512, d_in=8, d_out=8, trials=1)
    assert dqsg["direct_fallback"] and dqsg["bits_per_element"] == (math.ceil(64 * math.log2(3)) + 32) / 64


def test_isgq_lloyd_max_refit_beats_the_dithered_variant():
    dithered = measure_factors("isgq", {"levels": 2}, batch=8, d_in=64, d_out=32, trials=5)
    lloyd = measure_factors("isgq", {"levels": 2, "variant": "lloyd-max"}, batch=8, d_in=64, d_out=32, trials=5)
    assert not lloyd["unbiased"] and lloyd["relative_error"] < dithered["relative_error"]


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 24), d_in=st.integers(1, 160), d_out=st.integers(1, 120), levels=st.integers(1, 9),
       bucket=st.sampled_from([16, 512]), seed=st.integers(0, 2**16))
def test_isgq_refit_never_increases_the_error(batch, d_in, d_out, levels, bucket, seed):
    gen = torch.Generator().manual_seed(seed)
    x, delta = torch.relu(torch.randn(batch, d_in, generator=gen)), torch.randn(batch, d_out, generator=gen)
    g = (x.T @ delta).double()
    assume(float(g.square().sum()) > 0)
    errors = []
    for refit in (True, False):
        c = create("isgq", variant="lloyd-max", levels=levels, bucket=bucket, refit=refit)
        state = State(seed=seed)
        payload = c.compress(x, delta, state)
        errors.append(float((c.decompress(payload, state).double() - g).square().sum() / g.square().sum()))
    assert errors[0] <= errors[1] * (1 + 1e-4) + 1e-9, errors


def test_isgq_refit_helps_on_a_large_layer():
    # ResNet-50's classifier layer at batch 32, 2 levels: the Lloyd-Max points alone give 0.148;
    # the refit must improve on that (a float32 least squares over the d_in d_out basis gave 0.72)
    refit = measure_factors("isgq", {"levels": 2, "variant": "lloyd-max"}, batch=32, d_in=2048, d_out=1000, trials=1)
    plain = measure_factors("isgq", {"levels": 2, "variant": "lloyd-max", "refit": False}, batch=32, d_in=2048,
                            d_out=1000, trials=1)
    assert refit["relative_error"] < 0.97 * plain["relative_error"] < 0.97 * 0.16
    assert refit["bits_per_element"] - plain["bits_per_element"] == pytest.approx(2 * 5 * 32 / (2048 * 1000))


def test_lloyd_max_iteration_reproduces_the_published_table():
    for bits, distortion in LLOYD_MAX.items():
        assert lloyd_max(2**bits)[2] == pytest.approx(distortion, rel=2e-3)
        assert gaussian_distortion(bits) < distortion
    assert unbiased_bound(1) == pytest.approx(1 / 3)


@pytest.mark.parametrize(("distortion", "workers"), [(0.5, 2), (0.2, 5), (0.05, 10), (2.0, 3)])
def test_ceo_water_filling_equals_the_closed_form_for_equal_noise(distortion, workers):
    total, rates = ceo_sum_rate(distortion, 1.0, [0.3] * workers)
    assert total == pytest.approx(ceo_sum_rate_equal(distortion, 1.0, 0.3, workers), rel=1e-9)
    assert rates == pytest.approx([rates[0]] * workers)


@pytest.mark.parametrize(("rate", "var_x", "noise", "workers", "distortion"), [
    # var 1, noise 1, L = 2, D = 1/2: 0.5 log2 2 - log2(1 - (1/2)(2 - 1)) = 0.5 + 1
    (1.5, 1.0, 1.0, 2, 0.5),
    # L = 4, noise 1/2, D = 1/4: 0.5 log2 4 - 2 log2(1 - (1/8) 3) = 1 - 2 log2(5/8)
    (1 - 2 * math.log2(5 / 8), 1.0, 0.5, 4, 0.25),
    # scaled source: var 4, noise 4, L = 2, D = 2: the first case times 4
    (1.5, 4.0, 4.0, 2, 2.0),
    (3.0, 1.0, 0.0, 3, 2.0**-6),  # no noise: one source at the sum rate, D(R) = 2^-2R
    (0.0, 2.0, 1.0, 5, 2.0),
])
def test_ceo_distortion_inverts_the_closed_form_at_hand_computed_points(rate, var_x, noise, workers, distortion):
    assert ceo_distortion(rate, var_x, noise, workers) == pytest.approx(distortion, rel=1e-9)


def test_ceo_distortion_approaches_the_floor_at_high_rate():
    floor = 1 / (1 + 4 / 0.1)  # 1/(1/var_x + L/noise)
    # 10 bits per worker leave about 2^-20 of the excess over the floor
    assert floor < ceo_distortion(40.0, 1.0, 0.1, 4) < floor * (1 + 1e-5)


def test_workers_are_scored_against_the_source_with_the_ceo_bound():
    var_x = float(sample("gaussian", (4096,), 0).square().mean())   # the source measure_workers draws
    # lossless: the server gets the workers' exact mean, whose error against the source is the
    # noise left after averaging, about noise^2 / L, not 0; at 32 bits the CEO bound is its floor
    lossless = measure_workers("none", elements=4096, workers=4, noise=0.2, trials=1)
    assert lossless["relative_error"] == pytest.approx(lossless["mean_error"], rel=1e-6)
    assert lossless["mean_error"] == pytest.approx(0.04 / 4, rel=0.1)
    floor = 1 / (1 / var_x + 4 / 0.04) / var_x
    assert lossless["rd_bound"] == pytest.approx(floor, rel=1e-6) and floor < lossless["relative_error"]
    for noise in (0.01, 0.3):
        row = measure_workers("ndqsg", elements=4096, workers=4, noise=noise, trials=2)
        expect = ceo_distortion(4 * row["bits_per_element"], var_x, noise**2, 4) / var_x
        assert row["rd_bound"] == pytest.approx(expect, rel=1e-9)
        assert row["mean_error"] < row["relative_error"] and row["rd_bound"] <= row["relative_error"]


def test_ceo_unequal_noise_matches_a_numerical_minimum():
    noise, distortion = np.array([0.1, 0.4, 2.0, 5.0]), 0.08
    total, rates = ceo_sum_rate(distortion, 1.0, noise)
    excess = 1 / distortion - 1

    result = optimize.minimize(lambda r: r.sum(), np.ones(4), method="SLSQP", bounds=[(0, 20)] * 4,
                               constraints=[{"type": "eq", "fun": lambda r: np.sum((1 - 2 ** (-2 * r)) / noise) - excess}])
    assert total == pytest.approx(0.5 * math.log2(1 / distortion) + result.fun, rel=1e-4)
    assert rates[-1] == 0.0  # the noisiest worker is not worth any bits
    with pytest.raises(SpecError, match="distortion must be in"):
        ceo_sum_rate(0.01, 1.0, noise)


@pytest.mark.parametrize("levels", [2**6, 2**14])
def test_isgq_symbols_fit_their_container_at_many_levels(levels):
    # The zero code 2Q+1 must survive the symbol container: at Q = 2**14 it exceeds int16's range
    # for a container sized by Q alone. With so many levels the estimate is nearly exact.
    x, delta = torch.randn(4, 24), torch.randn(4, 16)
    x[0, :3] = 0.0
    c = create("isgq", levels=levels, bucket=10**6)
    state = State(step=0)
    estimate = c.decompress(c.compress(x, delta, state), state)
    g = x.T @ delta
    assert float((estimate - g).square().sum() / g.square().sum()) < 1e-3
