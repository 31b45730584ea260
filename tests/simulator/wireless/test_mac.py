"""The wireless MAC: digital airtime and energy by hand, analog estimators by Monte Carlo."""

import math

import numpy as np
import pytest
import torch
from scipy import special

from hwmodels import Radio, SpecError
from hwmodels.channel import Channel
from simulator.engine import Simulation
from simulator.network.wireless import POWER_POLICIES, create_mac, power_plan

RADIO = Radio("test", max_tx_power_W=0.1, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, noise_figure_dB=5.0,
              circuit_power_W=0.01)
DIST = np.array([20.0, 50.0, 80.0, 120.0, 200.0])


def mac(scheme, channel=None, distances=DIST, seed=3, **params):
    return create_mac(scheme, Simulation(seed), RADIO, channel or Channel("log-distance"), distances, **params)


def shannon_time(m, bits, band, rnd):
    snr = RADIO.max_tx_power_W * np.abs(m.gains(rnd)) ** 2 / (m.noise_W * band / RADIO.bandwidth_Hz)
    return bits / (band * np.log2(1 + snr))


def test_tdma_airtime_is_the_sum_and_ofdma_the_maximum():
    bits = np.array([1e5, 2e5, 3e5, 4e5, 5e5])
    t = mac("tdma")
    tx = t.upload(bits, 0)
    expected = shannon_time(t, bits, 1e6, 0)
    assert np.allclose(tx.tx_time_s, expected) and tx.airtime_s == pytest.approx(expected.sum())
    spans = sorted(t.sim.trace.spans(), key=lambda s: s.start_s)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(spans, spans[1:]))   # one after another
    o = mac("ofdma")
    tx = o.upload(bits, 0)
    expected = shannon_time(o, bits, 1e6 / 5, 0)
    assert np.allclose(tx.tx_time_s, expected) and tx.airtime_s == pytest.approx(expected.max())


@pytest.mark.parametrize("scheme", ["tdma", "ofdma"])
def test_energy_is_power_times_time_and_idle_devices_spend_nothing(scheme):
    m = mac(scheme)
    bits = np.array([1e5, 0, 3e5, 0, 5e5])
    tx = m.upload(bits, 4)
    assert np.allclose(tx.energy_j, (RADIO.max_tx_power_W + RADIO.circuit_power_W) * tx.tx_time_s)
    assert tx.energy_j[[1, 3]].tolist() == [0, 0] and tx.tx_time_s[[1, 3]].tolist() == [0, 0]


def test_fixed_rate_outage_matches_the_closed_form():
    ch = Channel("log-distance", shadowing_dB=0.0)
    m = mac("tdma", ch, distances=np.full(200, 150.0), rate_bits_per_use=2.0, max_attempts=1)
    snr = m.mean_snr()[0]
    p_out = 1 - math.exp(-(2 ** 2.0 - 1) / snr)
    lost = np.mean([~m.upload(np.full(200, 1e4), r).delivered for r in range(30)])
    assert lost == pytest.approx(p_out, abs=5 * math.sqrt(p_out * (1 - p_out) / 6000))
    retry = mac("tdma", ch, distances=np.full(200, 150.0), rate_bits_per_use=2.0, max_attempts=50)
    tx = retry.upload(np.full(200, 1e4), 0)   # each attempt costs B / (W R); attempts are geometric
    assert tx.delivered.all()
    assert np.allclose(tx.tx_time_s, tx.attempts * 1e4 / (1e6 * 2.0))
    assert tx.attempts.mean() == pytest.approx(1 / (1 - p_out), rel=5 * math.sqrt(p_out) / (1 - p_out) / math.sqrt(200) + 0.02)


def estimates(policy, rounds, channel, x, **params):
    m = mac("analog", channel, distances=np.full(x.shape[0], 60.0), seed=11)
    err, active_counts = [], []
    for r in range(rounds):
        tx = m.superpose(x, r, policy, **params)
        act = tx.plan.active
        if not act.any():
            continue
        est = tx.received.real / (tx.plan.eta * act.sum())
        err.append((est - x.double()[torch.from_numpy(act)].mean(0)).numpy())
        active_counts.append(act.sum())
    return np.array(err), m


@pytest.mark.parametrize("policy, params", [("inversion", {}), ("truncated", {"threshold": 0.2}),
                                            ("truncated", {"threshold": 0.2, "average": False}), ("cotaf", {}),
                                            ("energy-budget", {"budget_J": 1e-6}), ("power-cap", {"peak_W": 0.02})])
def test_every_inversion_policy_gives_an_unbiased_estimate(policy, params):
    x = torch.randn(6, 50, generator=torch.Generator().manual_seed(0))
    err, _ = estimates(policy, 400, Channel("log-distance", exponent=3.8), x, **params)
    se = err.std(0) / math.sqrt(len(err))
    assert np.all(np.abs(err.mean(0)) < 5 * se + 1e-12)
    assert err.std() > 0   # noise is there


def test_baa_truncation_probability_and_the_e1_power_identity():
    g = 0.3
    x = torch.ones(40, 20)
    m = mac("analog", Channel("log-distance", shadowing_dB=0.0), distances=np.full(40, 100.0), seed=5)
    silent, power = [], []
    for r in range(300):
        tx = m.superpose(x, r, "truncated", threshold=g, extra_uses=1)
        silent.append(~tx.plan.active)
        power.append(tx.tx_power_W)
    silent, power = np.array(silent), np.array(power)
    p = 1 - math.exp(-g)
    assert silent.mean() == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / silent.size))
    assert np.all(power[silent] == 0)
    # average power (silent rounds count as 0) is rho0 E1(g) = P_max for equal devices
    assert power.mean() * 21 / 20 == pytest.approx(RADIO.max_tx_power_W, rel=5 * power.std() / power.mean() / math.sqrt(power.size))
    rng = np.random.default_rng(0)
    h2 = (rng.standard_normal(200000) ** 2 + rng.standard_normal(200000) ** 2) / 2   # |CN(0,1)|^2
    kept = np.where(h2 >= g, 1 / h2, 0.0)
    assert kept.mean() == pytest.approx(special.exp1(g), rel=5 * kept.std() / kept.mean() / math.sqrt(h2.size))


def test_a_truncated_device_sends_nothing_and_spends_nothing():
    m = mac("analog", Channel("log-distance", shadowing_dB=0.0), distances=np.full(8, 100.0), seed=2)
    x = torch.randn(8, 30)
    tx = m.superpose(x, 0, "truncated", threshold=1.0, noise=False, extra_uses=1)
    off = np.flatnonzero(~tx.plan.active)
    assert len(off) > 0
    assert np.all(tx.energy_j[off] == 0) and np.all(tx.tx_time_s[off] == 0) and np.all(tx.plan.precoder[off] == 0)
    y = m.superpose(x, 0, "truncated", threshold=1.0, noise=False).received
    x2 = x.clone()
    x2[torch.from_numpy(off)] = 1e6
    m2 = mac("analog", Channel("log-distance", shadowing_dB=0.0), distances=np.full(8, 100.0), seed=2)
    assert torch.allclose(m2.superpose(x2, 0, "truncated", threshold=1.0, noise=False, average=True).received, y)
    assert {s.resource for s in m.sim.trace.spans()} == {f"dev{k}" for k in np.flatnonzero(tx.plan.active)}


def test_analog_energy_is_the_energy_of_the_transmitted_symbols():
    m = mac("analog", Channel("log-distance"), seed=4)
    x = torch.randn(5, 100)
    tx = m.superpose(x, 0, "full-power", extra_uses=1)
    sent = tx.plan.precoder[:, None] * x.double().numpy()       # the symbols on the air
    assert np.allclose(tx.energy_j - RADIO.circuit_power_W * tx.tx_time_s, (np.abs(sent) ** 2).sum(1) / 1e6)
    assert np.allclose(tx.tx_power_W, RADIO.max_tx_power_W * 100 / 101)   # full power over m of m+1 uses
    assert tx.airtime_s == pytest.approx(101 / 1e6) and tx.channel_uses == 101


def test_analog_airtime_does_not_grow_with_devices_but_tdma_does():
    times = []
    for k in (10, 100):
        d = np.full(k, 50.0)
        a = mac("analog", distances=d).superpose(torch.ones(k, 1000), 0, "inversion").airtime_s
        t = mac("tdma", distances=d).upload(np.full(k, 32e3), 0).airtime_s
        times.append((a, t))
    assert times[0][0] == times[1][0]
    assert times[1][1] > 5 * times[0][1]


def test_bad_names_and_shapes():
    with pytest.raises(SpecError, match="known: tdma, ofdma, analog"):
        mac("cdma")
    with pytest.raises(SpecError, match="known: " + ", ".join(POWER_POLICIES)):
        power_plan("max-power", mac("analog"), np.ones(5, dtype=complex), torch.ones(5, 3))
    with pytest.raises(SpecError, match="x must be 5 x m"):
        mac("analog").superpose(torch.ones(4, 3), 0)
    with pytest.raises(SpecError, match="rate_bits_per_use"):
        mac("tdma", rate_bits_per_use=-1.0)
    with pytest.raises(SpecError, match="non-negative"):
        mac("tdma").upload(-np.ones(5), 0)


def test_unknown_policy_parameters_are_named():
    with pytest.raises(SpecError, match="unknown parameter.*thresold; known: threshold, average"):
        mac("analog").superpose(torch.ones(5, 3), 0, "truncated", thresold=0.1)
    with pytest.raises(SpecError, match="known: none"):
        mac("analog").superpose(torch.ones(5, 3), 0, "inversion", threshold=0.1)


@pytest.mark.parametrize("access", ["tdma", "ofdma"])
def test_shannon_rate_is_capped_by_the_radios_peak_phy_rate(access):
    # Devices 10 m away have an SNR far above what an 800 kb/s radio can use: the PHY rate caps it.
    radio = Radio(name="capped", max_tx_power_W=0.1, bandwidth_Hz=2e6, carrier_frequency_Hz=2.4e9,
                  max_phy_rate_Bps=1e5)
    bits = np.array([8e5, 4e5])
    tx = create_mac(access, Simulation(0), radio, Channel("log-distance", shadowing_dB=0.0), np.array([10.0, 10.0])) \
        .upload(bits, round_=0)
    if access == "tdma":
        assert tx.airtime_s == pytest.approx(bits.sum() / 8e5, rel=1e-12)
    else:  # each of the two gets half the band and half the peak rate
        assert tx.airtime_s == pytest.approx(bits.max() / 4e5, rel=1e-12)
