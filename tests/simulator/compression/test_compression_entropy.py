"""dithered-ec: the bits are the code stream that travels and it decodes exactly; subtractive
dither makes it unbiased with error Delta^2/12; on Gaussian data the stream is near the ideal
code length and the MMSE form is within 1.5x of D(R) at 1-2 bits per element."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from simulator.compression import SHARED, State, create
from simulator.compression.entropy import relative_error
from simulator.compression.evaluate import measure


def _symbols(g: torch.Tensor, step: float, bucket: int, state: State) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Independent re-derivation of what the scheme sends: per-bucket step, dither, symbols."""
    rows = -(-g.numel() // bucket)
    u = torch.rand((rows, bucket), generator=state.generator(SHARED)) - 0.5
    w = torch.cat([g.reshape(-1), g.new_zeros(rows * bucket - g.numel())]).view(rows, bucket)
    delta = w.square().mean(1, keepdim=True).sqrt() * step
    return torch.round(w / delta + u), u, delta


def test_bits_are_the_stream_and_decoding_is_exact():
    g = torch.randn(3000)   # 3 buckets of 1024, the last one padded
    c = create("dithered-ec", step=1.3, bucket=1024)
    state = State(seed=4, step=2)
    payload = c.compress(g, state)
    words = payload.data["stream"].numel()
    assert payload.nbits == 32 * words + 3 * 32 + 64
    q, u, delta = _symbols(g, 1.3, 1024, state)
    expect = ((q - u) * delta).reshape(-1)[:3000]
    assert torch.equal(c.decompress(payload, state), expect)   # every symbol decoded exactly
    # the stream is an entropy code, not a fixed-length one: its length is the ideal code
    # length sum -log2 P(q | u) under the Gaussian model, up to the coder's fixed-point
    # probabilities and its final words
    s = 1 / 1.3
    q, u = q.reshape(-1)[:3000].double().numpy(), u.reshape(-1)[:3000].double().numpy()
    ideal = -np.log2(stats.norm.cdf((q + 0.5 - u) / s) - stats.norm.cdf((q - 0.5 - u) / s)).sum()
    assert ideal <= 32 * words <= ideal * 1.002 + 64
    assert 32 * words < 3000 * math.log2(q.max() - q.min() + 1)


def test_zero_and_tiny_tensors():
    c = create("dithered-ec")
    zero = c.compress(torch.zeros(100), State())
    assert zero.nbits == 32 and torch.equal(c.decompress(zero, State()), torch.zeros(100))
    one = torch.tensor([2.5])
    assert torch.allclose(c.decompress(c.compress(one, State(step=1)), State(step=1)), one, atol=2.5)


@pytest.mark.parametrize(("step", "distribution"), [(0.7, "gaussian"), (2.0, "gaussian"), (1.0, "heavy-tailed")])
def test_unbiased_with_error_delta_squared_over_twelve(step, distribution):
    trials = 200
    g = torch.randn(512) ** (3 if distribution == "heavy-tailed" else 1)
    c = create("dithered-ec", step=step, bucket=512)
    delta2 = float(g.square().mean()) * step**2
    errors = torch.stack([c.decompress(c.compress(g, State(step=t)), State(step=t)) - g for t in range(trials)])
    per_entry = errors.square().mean()
    # mean square of 512 x 200 uniform errors: Delta^2/12 with relative spread sqrt(0.8 / n)
    assert float(per_entry) == pytest.approx(delta2 / 12, rel=4 * math.sqrt(0.8 / errors.numel()))
    # the mean over dithers converges to g: each entry's mean error has variance Delta^2/12/trials
    assert float(errors.mean(0).square().mean()) == pytest.approx(delta2 / 12 / trials, rel=0.2)


@pytest.mark.parametrize("step", [1.1, 1.6, 2.2])
def test_within_one_and_a_half_of_rate_distortion_on_gaussian_data(step):
    mmse = measure("dithered-ec", {"step": step, "estimator": "mmse"}, elements=2**16, trials=2, seed=3)
    unbiased = measure("dithered-ec", {"step": step}, elements=2**16, trials=2, seed=3)
    assert 1.0 <= mmse["bits_per_element"] <= 2.0
    assert mmse["relative_error"] <= 1.5 * mmse["rd_bound"]
    assert mmse["relative_error"] == pytest.approx(relative_error(step, "mmse"), rel=0.03)
    # unbiased costs the same bits; no unbiased code beats 1/(2^2R - 1), this scalar one is within 1.7x
    assert unbiased["bits_per_element"] == mmse["bits_per_element"]
    assert unbiased["relative_error"] == pytest.approx(relative_error(step), rel=0.03)
    assert unbiased["relative_error"] <= 1.7 / (4 ** unbiased["bits_per_element"] - 1)
    # the bits are the ideal rate I(W; W + Delta U) plus side information and coder overhead
    ideal = create("dithered-ec", step=step).rate()
    assert ideal < unbiased["bits_per_element"] < ideal + 0.02


@pytest.mark.parametrize("variant", ["dithered", "lloyd-max"])
def test_isgq_ans_coding_is_exact_and_zeros_are_cheap(variant):
    gen = torch.Generator().manual_seed(5)
    x, delta = torch.relu(torch.randn(16, 300, generator=gen)), torch.randn(16, 100, generator=gen)
    fixed, coded = (create("isgq", levels=2, variant=variant, coding=c) for c in ("fixed", "ans"))
    state = State(seed=1, step=3)
    p_fixed, p_coded = fixed.compress(x, delta, state), coded.compress(x, delta, state)
    assert torch.equal(coded.decompress(p_coded, state), fixed.decompress(p_fixed, state))   # lossless code
    data = p_coded.data
    side = (10 + 4) * 32 + (2 * 5 * 32 if variant == "lloyd-max" else 0)   # 10 + 4 bucket scales, refitted points
    symbols = 0
    for name, m in (("x", 10 * 512), ("d", 4 * 512)):   # whole buckets: the padding is coded as zeros
        assert "stream" + name in data and "q" + name not in data
        counts = data["counts" + name].numpy()
        assert counts.sum() == m
        words = data["stream" + name].numel()
        symbols += 1 + 32 * words + 6 * m.bit_length()   # flag, stream, 6 letter counts of 0..m each
        # the stream is the empirical entropy of the letters, up to the coder's last words
        p = counts[counts > 0] / m
        entropy = float(-(counts[counts > 0] * np.log2(p)).sum())
        assert entropy <= 32 * words <= entropy * 1.002 + 64
    assert p_coded.nbits == side + symbols
    # ReLU zeros are half of X: its symbols cost far less than the 6-letter block code
    assert 32 * data["streamx"].numel() < 0.8 * math.ceil(512 * math.log2(6)) * 10


def test_isgq_ans_falls_back_to_the_block_code_when_it_is_shorter():
    x, delta = torch.randn(2, 3), torch.randn(2, 2)   # six letters' counts outweigh six symbols
    c = create("isgq", levels=2, coding="ans")
    payload = c.compress(x, delta, State())
    assert "qx" in payload.data and "streamx" not in payload.data
    # two scales, ceil(6 log2 6) + ceil(4 log2 6) for the block codes, a flag bit per factor
    assert payload.nbits == create("isgq", levels=2).compress(x, delta, State()).nbits + 2 == 64 + 16 + 11 + 2
    assert torch.equal(c.decompress(payload, State()), create("isgq", levels=2).decompress(payload, State()))
