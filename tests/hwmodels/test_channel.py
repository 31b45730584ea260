"""Channel models against closed forms, scipy and Monte Carlo; placement; bad input."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from hwmodels import Radio, SpecError
from hwmodels.channel import (Channel, capacity_bits_per_use, ergodic_capacity_rayleigh, noise_power_W,
                              outage_probability, shannon_rate_bps)
from hwmodels.placement import place, uniform_disc


def test_noise_power_is_minus_174_dbm_per_hz_plus_noise_figure():
    dbm = 10 * math.log10(noise_power_W(20e6, 9.0) / 1e-3)
    assert dbm == pytest.approx(-174 + 10 * math.log10(20e6) + 9, abs=0.03)   # kT0 = -173.98 dBm/Hz
    radio = Radio("r", max_tx_power_W=0.2, bandwidth_Hz=20e6, carrier_frequency_Hz=2e9, noise_figure_dB=9.0)
    assert radio.noise_power_W() == pytest.approx(noise_power_W(20e6, 9.0), rel=1e-12)


def test_free_space_and_log_distance():
    fs = Channel("free-space")
    # FSPL at 1 m and 2.4 GHz is 40.05 dB (20 log10(4 pi / lambda), lambda = 0.1249 m)
    assert fs.path_loss_dB([1.0], 2.4e9)[0] == pytest.approx(40.05, abs=0.01)
    ld = Channel("log-distance", exponent=2.0)
    d = np.array([3.0, 30.0, 300.0])
    assert np.allclose(ld.path_loss_dB(d, 2.4e9), fs.path_loss_dB(d, 2.4e9))
    ld3 = Channel("log-distance", exponent=3.5)
    assert ld3.path_loss_dB([100.0], 2.4e9)[0] - ld3.path_loss_dB([10.0], 2.4e9)[0] == pytest.approx(35.0)


def test_3gpp_models_by_hand():
    ch = Channel("uma-los", bs_height_m=25.0, ut_height_m=1.5)
    d3 = math.hypot(100.0, 23.5)
    assert ch.path_loss_dB([100.0], 3.5e9)[0] == pytest.approx(28.0 + 22 * math.log10(d3) + 20 * math.log10(3.5))
    umi = Channel("umi-nlos", bs_height_m=10.0, ut_height_m=1.5)
    d3 = math.hypot(200.0, 8.5)
    nlos = 22.4 + 35.3 * math.log10(d3) + 21.3 * math.log10(3.5)
    assert umi.path_loss_dB([200.0], 3.5e9)[0] == pytest.approx(max(nlos, 32.4 + 21 * math.log10(d3) + 20 * math.log10(3.5)))
    assert Channel("macro-km").path_loss_dB([1000.0], 2e9)[0] == pytest.approx(128.1)
    assert umi.sigma_shadowing_dB == 7.82 and Channel("umi-nlos", shadowing_dB=0).sigma_shadowing_dB == 0


def test_shadowing_is_lognormal_with_the_model_sigma():
    ch = Channel("uma-nlos")
    g = ch.large_scale_gain(np.full(20000, 100.0), 3.5e9, np.random.default_rng(0))
    db = -10 * np.log10(g) - ch.path_loss_dB([100.0], 3.5e9)[0]
    assert abs(db.mean()) < 5 * 6.0 / math.sqrt(20000)
    assert db.std() == pytest.approx(6.0, rel=0.03)


@pytest.mark.parametrize("fading", ["none", "rayleigh", "rician"])
def test_fading_has_unit_power_and_its_cdf(fading):
    ch = Channel(fading=fading, rician_k=3.0)
    h2 = np.abs(ch.fade(np.random.default_rng(1), 40000)) ** 2
    assert h2.mean() == pytest.approx(1.0, abs=5 * max(h2.std(), 1e-9) / 200)
    for x in (0.3, 1.5):
        p = float(ch.fading_cdf(x))
        assert np.mean(h2 <= x) == pytest.approx(p, abs=5 * math.sqrt(max(p * (1 - p), 1e-12) / 40000) + 1e-12)


def test_capacity_and_outage_against_scipy():
    snr = np.array([0.1, 1.0, 10.0, 1000.0])
    assert np.allclose(capacity_bits_per_use(snr), np.log2(1 + snr))
    assert np.allclose(shannon_rate_bps(1e6, snr), 1e6 * np.log2(1 + snr))
    for s in snr:
        for rate in (0.5, 2.0):
            expected = stats.expon.cdf((2 ** rate - 1) / s)
            assert float(outage_probability(rate, s, Channel(fading="rayleigh"))) == pytest.approx(expected, rel=1e-12)
        ergodic, _ = integrate.quad(lambda x: math.log2(1 + s * x) * math.exp(-x), 0, np.inf)
        assert float(ergodic_capacity_rayleigh(s)) == pytest.approx(ergodic, rel=1e-7)
    rician = Channel(fading="rician", rician_k=2.0)
    x = (2 ** 1.0 - 1) / 3.0   # |h|^2 of Rician(K): scaled noncentral chi-square, checked by integration of the pdf
    pdf = lambda t: (1 + 2.0) * math.exp(-2.0 - 3.0 * t) * np.i0(2 * math.sqrt(2.0 * 3.0 * t))  # noqa: E731
    assert float(outage_probability(1.0, 3.0, rician)) == pytest.approx(integrate.quad(pdf, 0, x)[0], rel=1e-6)


def test_uniform_disc_is_uniform_over_the_area():
    d = uniform_disc(5000, 200.0, np.random.default_rng(2), min_distance_m=10.0)
    assert d.min() >= 10.0 and d.max() <= 200.0
    u = (d ** 2 - 100.0) / (200.0 ** 2 - 100.0)   # uniform on [0, 1] if uniform over the annulus
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_fixed_and_file_placement(tmp_path):
    assert place("fixed", 4, np.random.default_rng(0), distances_m=[10, 20]).tolist() == [10, 20, 10, 20]
    f = tmp_path / "pos.csv"
    f.write_text("x,y\n30,40\n# comment\n6,8\n")
    assert place("file", 2, np.random.default_rng(0), path=str(f)).tolist() == [50.0, 10.0]


@pytest.mark.parametrize("call, words", [
    (lambda: Channel("umi-los").check_distances([5.0]), "outside"),
    (lambda: place("fixed", 2, np.random.default_rng(0), distances_m=[300], radius_m=200), "outside the cell"),
    (lambda: place("hexagon", 2, np.random.default_rng(0)), "known: disc, fixed, file"),
    (lambda: Channel("okumura"), "known: free-space"),
    (lambda: Channel(fading="nakagami"), "known: none, rayleigh, rician"),
    (lambda: noise_power_W(0.0), "bandwidth"),
    (lambda: Radio("r", max_tx_power_W=-1.0, bandwidth_Hz=1e6, carrier_frequency_Hz=2e9), "max_tx_power"),
    (lambda: Radio("r", max_tx_power_W=1.0, bandwidth_Hz=0.0, carrier_frequency_Hz=2e9), "bandwidth"),
    (lambda: outage_probability(0.0, 1.0), "rate"),
])
def test_bad_input_is_a_spec_error(call, words):
    with pytest.raises(SpecError, match=words):
        call()
