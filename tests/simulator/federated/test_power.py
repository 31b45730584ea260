"""The power and channel-use manager: its error model by Monte Carlo, its target met on channel
draws it never saw, optimality against fixed settings, infeasibility, and diverged runs."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from hwmodels import Radio, SpecError, load_catalog
from hwmodels.channel import Channel
from simulator.engine import Simulation
from simulator.federated import (FLConfig, InfeasibleTarget, ManagedPower, PowerManager, RandomLinearCode, aggregator,
                                 run_federated)
from simulator.federated.power import code_error_factor, fading_moments
from simulator.network.wireless import create_mac

RADIO = Radio("test", max_tx_power_W=0.2, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, noise_figure_dB=5.0,
              circuit_power_W=0.1)
CHANNEL = Channel("log-distance", shadowing_dB=0.0, fading="rayleigh")
DISTANCES = np.linspace(40.0, 160.0, 6)


@pytest.fixture(autouse=True)
def one_thread():
    """Small transforms on one thread: on a busy machine torch's thread pool costs 50x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mac(seed):
    return create_mac("analog", Simulation(seed), RADIO, CHANNEL, DISTANCES)


def managed(scheme, d, target, budget, objective="energy"):
    agg = aggregator(scheme, d, 0)
    agg.manager = PowerManager(ManagedPower(target, budget, objective), scheme, d)
    return agg


def test_code_error_factor_matches_monte_carlo_on_a_padded_length():
    d, m, draws = 200, 64, 400   # p = 256: the padding keeps d of the p entries
    x = torch.randn(d, generator=torch.Generator().manual_seed(0))
    err = [float(((c.decode(c.encode(x[None])[0]) - x) ** 2).sum()) for c in (RandomLinearCode(d, m, 3, r)
                                                                              for r in range(draws))]
    kappa = float(code_error_factor(d, m))
    assert kappa == pytest.approx((d - 1) * (256 - m) / (m * 255))
    assert np.mean(err) / float(x @ x) == pytest.approx(kappa, rel=4 * np.std(err) / np.mean(err) / math.sqrt(draws))


def test_fading_moments_against_draws():
    g = np.array([0.05, 0.5, 2.0])
    h2 = np.abs(Channel("umi-nlos", fading="rician", rician_k=3.0).fade(np.random.default_rng(0), 400_000)) ** 2
    q, tail = fading_moments(Channel("umi-nlos", fading="rician", rician_k=3.0), g)
    assert np.allclose(q, [(h2 >= x).mean() for x in g], atol=3e-3)
    assert np.allclose(tail, [np.where(h2 >= x, 1 / h2, 0).mean() for x in g], rtol=2e-2)


def measure(agg, u, rounds, seed):
    """Relative MSE of the aggregate over ``rounds`` rounds of the MAC of ``seed`` (fading and
    noise draws the manager never saw: it plans from the large-scale gains and closed forms)."""
    clients = np.arange(len(u))
    gbar, ref = u.double().mean(0), float((u.double() ** 2).sum(1).mean())
    channel, err, energy = mac(seed), [], []
    for r in range(rounds):
        est, tx = agg.aggregate(u, clients, r, channel)
        err.append(float(((est.double() - gbar) ** 2).sum()) / ref)
        energy.append(tx.energy_j)
        sent = tx.tx_time_s > 0
        assert np.all(tx.tx_power_W[sent] <= RADIO.max_tx_power_W * (1 + 1e-9))   # every round, not on average
    return np.array(err), np.array(energy)


@pytest.mark.parametrize("scheme, target, spread", [("baa", 0.2, "zero-mean"), ("rlc", 1.5, "identical")])
def test_manager_meets_its_target_on_held_out_channel_draws(scheme, target, spread):
    d, k, rounds, budget = 128, len(DISTANCES), 400, 2e-4
    u = torch.randn(k, d, generator=torch.Generator().manual_seed(1))
    # the two ends of the bound: zero-mean updates (all spread) and identical ones (no spread)
    u = u - u.mean(0) if spread == "zero-mean" else u[:1].expand(k, d).clone()
    agg = managed(scheme, d, target, budget)
    err, energy = measure(agg, u, rounds, seed=11)
    plan = agg.last_plan
    assert plan.predicted_mse == pytest.approx(target)
    tolerance = 4 * err.std() / math.sqrt(rounds)
    assert err.mean() <= target + tolerance
    assert err.mean() == pytest.approx(target, abs=tolerance + 0.02 * target)   # the bound is tight at its ends
    assert energy.max() <= budget * (1 + 1e-9)   # the budget holds in every round
    assert energy.mean(0) == pytest.approx(plan.energy_j, rel=0.1)   # expected energy as planned


def fixed_settings(pm, norms, gains, channel):
    """(m, g, eta): every fixed threshold, channel-use count and eta (truncated inversion at a
    fraction of the radio's power) a user could give; their model MSE, feasibility and energy."""
    out = []
    for m in ([pm.d] if pm.scheme == "baa" else [16, 32, 48, 64, 96, 128]):
        for g in (0.02, 0.05, 0.1, 0.2, 0.4, 0.69):
            q, tail = fading_moments(channel.channel, np.array([g]))
            row = pm.evaluate(np.array([m]), np.array([g]), q, tail, norms, gains, channel)
            for frac in np.geomspace(1e-3, 1.0, 13):
                eta2 = frac * float(row["most"][0])
                if eta2 <= 0:
                    continue
                mse = float(row["bias"][0] + row["noise"][0] / eta2)
                energy = (len(norms) * q[0] * RADIO.circuit_power_W * (m + 1)
                          + eta2 * tail[0] * float(np.sum(norms / gains))) / RADIO.bandwidth_Hz
                out.append((m, g, mse, energy))
    return out


@pytest.mark.parametrize("scheme, target", [("baa", 0.2), ("baa", 0.05), ("rlc", 1.5), ("rlc", 0.8)])
def test_managed_never_spends_more_than_the_best_fixed_setting_meeting_the_target(scheme, target):
    d = 128
    norms = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 3.0])
    channel = mac(0)
    pm = PowerManager(ManagedPower(target, 2e-4), scheme, d)
    plan = pm.plan(norms, channel.path_gain, channel)
    meeting = [e for m, g, mse, e in fixed_settings(pm, norms, channel.path_gain, channel) if mse <= target]
    assert meeting, "the comparison needs fixed settings that meet the target"
    assert plan.energy_total_j <= min(meeting) * (1 + 1e-6)


def test_airtime_objective_takes_the_fewest_channel_uses():
    d, norms, channel = 128, np.ones(6), mac(0)
    fast = PowerManager(ManagedPower(1.5, 2e-4, "airtime"), "rlc", d).plan(norms, channel.path_gain, channel)
    frugal = PowerManager(ManagedPower(1.5, 2e-4, "energy"), "rlc", d).plan(norms, channel.path_gain, channel)
    assert fast.m <= frugal.m and fast.energy_total_j >= frugal.energy_total_j * (1 - 1e-9)
    fewer = PowerManager(ManagedPower(1.5, 2e-4, "energy"), "rlc", d)   # one use less misses the target
    row = fewer.evaluate(np.array([[fast.m - 1]]), np.geomspace(1e-4, 20, 2000)[None], *(
        v[None] for v in fading_moments(CHANNEL, np.geomspace(1e-4, 20, 2000))), norms, channel.path_gain, channel)
    assert not (row["need"] <= row["most"]).any()


def test_an_infeasible_target_is_one_line_naming_the_target_and_the_best_reachable_mse():
    channel = mac(0)
    with pytest.raises(InfeasibleTarget) as err:
        PowerManager(ManagedPower(1e-4, 2e-4), "baa", 128).plan(np.ones(6), channel.path_gain, channel)
    msg = str(err.value)
    assert "\n" not in msg and "target_mse 0.0001" in msg and "best reachable MSE is" in msg
    best = float(msg.split("best reachable MSE is ")[1].split()[0])
    assert 1e-4 < best < 1   # feasible just above it
    PowerManager(ManagedPower(best * 1.05, 2e-4), "baa", 128).plan(np.ones(6), channel.path_gain, channel)
    with pytest.raises(InfeasibleTarget, match="circuit power alone"):   # 0.1 W over 129 uses at 1 MHz: 12.9 uJ
        PowerManager(ManagedPower(0.5, 1e-5), "baa", 128).plan(np.ones(6), channel.path_gain, channel)


@pytest.mark.parametrize("power, message", [
    ({"policy": "managed", "target_mse": 0.1, "budget": 1}, "unknown field"),
    ({"policy": "fixed", "target_mse": 0.1}, "policy must be 'managed'"),
    ({"policy": "managed", "target_mse": -1}, "target_mse must be a number > 0"),
    ({"policy": "managed", "target_mse": 0.1, "objective": "speed"}, "objective must be one of airtime, energy"),
])
def test_bad_power_specs(power, message):
    with pytest.raises(SpecError, match=message):
        FLConfig(scheme="baa", power=power)
    with pytest.raises(SpecError, match="needs scheme baa or rlc"):
        FLConfig(scheme="cotaf", power={"policy": "managed", "target_mse": 0.1})
    with pytest.raises(SpecError, match="chooses channel_uses; remove"):
        FLConfig(scheme="rlc", scheme_params={"channel_uses": 10}, power={"policy": "managed", "target_mse": 1.0})


def small_run(radio, **kw):
    cfg = FLConfig(clients=6, rounds=12, local_steps=2, lr=0.3, eval_every=4, seed=1, **kw)
    return run_federated(cfg, load_catalog().device("raspberry-pi-4b-4gb"), radio, Channel("umi-nlos"),
                         np.linspace(20, 150, 6))


def test_a_run_with_too_little_power_is_diverged_with_finite_energy():
    radio = dataclasses.replace(load_catalog().radio("lte-20mhz-ue"), max_tx_power_W=1e-18)
    with pytest.warns(RuntimeWarning, match=r"diverged in round \d+"):
        res = small_run(radio, scheme="baa", scheme_params={"threshold": 0.1})
    s, last = res.summary, res.rows[-1]
    assert s["status"] == "diverged" and last.round == s["diverged_round"] < 12
    assert all(math.isfinite(v) for v in (s["energy_j"], s["tx_energy_j"], s["airtime_s"], last.energy_total_j))
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))   # null, never NaN
    assert out["rows"][-1]["test_accuracy"] is None and out["summary"]["final_test_accuracy"] is None


def test_a_managed_run_reports_its_choices():
    radio = load_catalog().radio("lte-20mhz-ue")
    res = small_run(radio, scheme="rlc", power={"policy": "managed", "target_mse": 2.0, "energy_budget_j": 1e-2,
                                                "objective": "airtime"})
    assert res.summary["status"] == "ok" and res.summary["diverged_round"] is None
    row = res.rows[-1]
    assert row.predicted_mse == pytest.approx(2.0) and 0 < row.threshold and 1 < row.channel_uses < res.summary["parameters"]
    assert 0 < row.tx_power_mean_W <= row.tx_power_max_W <= radio.max_tx_power_W * (1 + 1e-9)
    assert res.summary["channel_uses_min"] <= res.summary["channel_uses_mean"] <= res.summary["channel_uses_max"]
