"""Federated aggregation schemes (unbiasedness, the RLC error identity, infinite SNR) and rounds."""

import math

import numpy as np
import pytest
import torch

from hwmodels import Radio, SpecError, load_catalog
from hwmodels.channel import Channel
from simulator.engine import Simulation
from simulator.federated import AGGREGATORS, FederatedRun, FLConfig, RandomLinearCode, aggregator, run_federated
from simulator.network.wireless import create_mac

RADIO = Radio("test", max_tx_power_W=1e-5, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, noise_figure_dB=5.0)


def analog(k, fading="rayleigh", seed=0, distance=100.0):
    return create_mac("analog", Simulation(seed), RADIO, Channel("log-distance", shadowing_dB=0.0, fading=fading),
                      np.full(k, distance))


def updates(k, d, seed=0):
    return torch.randn(k, d, generator=torch.Generator().manual_seed(seed)) + 0.5


ANALOG = [("baa", {"threshold": 0.0, "policy": "inversion"}), ("baa", {"threshold": 0.2}), ("cotaf", {}),
          ("rlc", {"channel_uses": 128}), ("rlc", {"channel_uses": 128, "policy": "truncated", "policy_params": {"threshold": 0.2}})]


@pytest.mark.parametrize("scheme, params", ANALOG)
def test_at_infinite_snr_every_analog_scheme_is_the_ideal_aggregate(scheme, params):
    u = updates(6, 128)
    clients = np.array([0, 2, 3, 5])
    ideal, _ = aggregator("ideal", 128, 0).aggregate(u[clients], clients, 0, None)
    agg = aggregator(scheme, 128, 0, **params)
    for fading in ("none", "rayleigh"):
        mac = analog(6, fading)
        est, tx = agg.aggregate(u[clients], clients, 0, mac, noise=False)
        act = tx.plan.active[clients]
        if fading == "none" or act.all():
            assert torch.allclose(est, ideal, atol=1e-5)
        else:   # truncation: the ideal aggregate of the devices that sent
            assert torch.allclose(est, u[clients][torch.from_numpy(act)].mean(0), atol=1e-5)
        assert not tx.plan.active[[1, 4]].any() and np.all(tx.energy_j[[1, 4]] == 0)


@pytest.mark.parametrize("scheme, params", ANALOG + [("rlc", {"channel_uses": 32})])
def test_every_analog_estimator_is_unbiased_over_channel_draws(scheme, params):
    d, k, rounds = 128, 5, 300
    u = updates(k, d, 1)
    clients = np.arange(k)
    agg = aggregator(scheme, d, 7, **params)
    mac = analog(k, "rayleigh", seed=3)
    errs = []
    for r in range(rounds):
        est, tx = agg.aggregate(u, clients, r, mac)
        act = torch.from_numpy(tx.plan.active)
        if act.any():
            errs.append((est - u[act].mean(0)).double().numpy())
    errs = np.array(errs)
    se = errs.std(0) / math.sqrt(len(errs))
    z = errs.mean(0) / se
    assert np.mean(np.abs(z) < 4) > 0.99 and np.abs(z.mean()) < 4 / math.sqrt(d)   # per entry and in aggregate


def test_rlc_error_identity_by_monte_carlo():
    d, m, k, rounds = 128, 32, 4, 800
    u = updates(k, d, 2)
    gbar = u.double().mean(0)
    clients = np.arange(k)
    agg = aggregator("rlc", d, 5, channel_uses=m, policy="inversion")
    mac = analog(k, "none")
    sq, predicted = [], []
    for r in range(rounds):
        est, tx = agg.aggregate(u, clients, r, mac)
        sq.append(float(((est.double() - gbar) ** 2).sum()))
        predicted.append((d / m - 1) * float(gbar @ gbar) + d * mac.noise_W / (2 * tx.plan.eta ** 2 * k ** 2))
    sq = np.array(sq)
    noise_part = np.mean(predicted) - (d / m - 1) * float(gbar @ gbar)
    assert noise_part > 0.2 * np.mean(predicted)   # both terms matter in this test
    assert sq.mean() == pytest.approx(np.mean(predicted), rel=5 * sq.std() / sq.mean() / math.sqrt(rounds))


def test_random_linear_code_is_an_isometry_in_expectation():
    code = RandomLinearCode(200, 256, 0, 0)   # m = p: T^T T = I on the padded space
    g = torch.randn(3, 200)
    assert torch.allclose(torch.stack([code.decode(code.encode(g)[i]) for i in range(3)]), g, atol=1e-4)


def test_digital_scheme_sends_the_compressed_bits_over_tdma():
    d, k = 500, 4
    u = updates(k, d)
    clients = np.array([0, 1, 3])
    mac = create_mac("tdma", Simulation(1), RADIO, Channel("log-distance"), np.full(k, 50.0))
    agg = aggregator("digital", d, 0, compressor="none")
    est, tx = agg.aggregate(u[clients], clients, 0, mac)
    assert torch.allclose(est, u[clients].mean(0))
    snr = RADIO.max_tx_power_W * np.abs(mac.gains(0)) ** 2 / mac.noise_W
    expected = 32 * d / (1e6 * np.log2(1 + snr))
    assert np.allclose(tx.tx_time_s[clients], expected[clients]) and tx.tx_time_s[2] == 0
    assert tx.airtime_s == pytest.approx(expected[clients].sum())


def test_bad_scheme_input():
    with pytest.raises(SpecError, match="known: " + ", ".join(AGGREGATORS)):
        aggregator("fedprox", 10, 0)
    for m in (0, 11, 2.5):
        with pytest.raises(SpecError, match="1 <= m <= d = 10"):
            aggregator("rlc", 10, 0, channel_uses=m)
    with pytest.raises(SpecError, match="unknown parameter"):
        aggregator("baa", 10, 0, power=3)
    with pytest.raises(SpecError, match="participation"):
        FLConfig(participation=0.0)


def small_run(scheme, **kw):
    cat = load_catalog()
    cfg = FLConfig(clients=8, rounds=6, local_steps=3, lr=0.3, eval_every=3, scheme=scheme, seed=1, **kw)
    return run_federated(cfg, cat.device("raspberry-pi-4b-4gb"), cat.radio("lte-20mhz-ue"), Channel("umi-nlos"),
                         np.linspace(20, 150, 8))


def test_rounds_learn_and_account_time_and_energy():
    ideal = small_run("ideal")
    assert [r.round for r in ideal.rows] == [3, 6]
    assert ideal.rows[-1].test_accuracy > 0.6 and ideal.summary["airtime_s"] == 0
    baa = small_run("baa", participation=0.5)
    assert all(r.participating == 4 for r in baa.rows)
    row = baa.rows[-1]
    assert row.channel_uses == baa.summary["parameters"] + 1
    assert row.airtime_s == pytest.approx(row.channel_uses / 20e6)
    s = baa.summary
    assert s["sim_time_s"] == pytest.approx(6 * s["compute_s_per_round"] + s["airtime_s"])
    assert sum(s["energy_j_per_device"]) == pytest.approx(s["energy_j"])
    again = small_run("baa", participation=0.5)
    assert again.to_dict() == baa.to_dict()   # one seed, one result


def test_amp_recovers_a_sparse_vector():
    from simulator.federated.schemes import amp_recover
    gen = torch.Generator().manual_seed(0)
    d, n, k = 1000, 250, 12
    x = torch.zeros(d, dtype=torch.float64)
    x[torch.randperm(d, generator=gen)[:k]] = torch.randn(k, generator=gen, dtype=torch.float64) + 2.0
    a = torch.randn(n, d, generator=gen, dtype=torch.float64) / math.sqrt(n)
    est = amp_recover(a, a @ x, iterations=60, alpha=1.2)
    assert float((est - x).norm() / x.norm()) < 0.05


def test_adsgd_channel_stage_is_unbiased_and_noiseless_recovery_is_the_sparse_mean():
    d, k = 512, 4
    clients = np.arange(k)
    support = torch.arange(0, d, 64)   # 8 shared nonzeros: top-8 keeps them all, no error left
    u = torch.zeros(k, d)
    u[:, support] = updates(k, len(support), 3)
    agg = aggregator("adsgd", d, 0, channel_uses=200, sparsity=8, amp_iterations=60, amp_alpha=1.2)
    est, tx = agg.aggregate(u, clients, 0, analog(k, "none"), noise=False)
    assert float((est - u.mean(0)).norm() / u.mean(0).norm()) < 0.05
    assert all(float(e.abs().max()) == 0 for e in agg.errors.values())
    mac, errs = analog(k, "rayleigh", seed=9), []
    for r in range(300):   # the over-the-air estimate of A mean(s_k) that AMP starts from
        x = u @ agg.a.T
        tx, count = agg._over_the_air(x, clients, r, mac)
        act = torch.from_numpy(tx.plan.active)
        errs.append((tx.received.real / (tx.plan.eta * count) - x.double()[act].mean(0)).numpy())
    errs = np.array(errs)
    z = errs.mean(0) / (errs.std(0) / math.sqrt(len(errs)))
    assert np.mean(np.abs(z) < 4) > 0.99 and abs(z.mean()) < 4 / math.sqrt(z.size)
    with pytest.raises(SpecError, match="2 <= m <= d"):
        aggregator("adsgd", d, 0, channel_uses=1)


def test_uploads_follow_local_training_in_the_trace():
    cat = load_catalog()
    cfg = FLConfig(clients=4, rounds=2, local_steps=1, scheme="digital", seed=0)
    run = FederatedRun(cfg, cat.device("raspberry-pi-4b-4gb"), cat.radio("lte-20mhz-ue"), Channel("umi-nlos"),
                       np.full(4, 50.0))
    res = run.run()
    spans = run.sim.trace.spans()
    compute = [s for s in spans if s.kind == "compute"]
    air = [s for s in spans if s.kind == "airtime"]
    assert len(compute) == 8 and len(air) == 8
    c = run.compute_s
    first = sorted(s.start_s for s in air[:4])
    assert first[0] == pytest.approx(c)                       # round 0's TDMA slots start after training
    assert max(s.end_s for s in air) == pytest.approx(res.summary["sim_time_s"])


def test_full_power_is_a_gain_weighted_mean_and_exact_for_equal_gains():
    u = updates(4, 64)
    clients = np.arange(4)
    agg = aggregator("baa", 64, 0, policy="full-power")
    for fading in ("none", "rayleigh"):   # gains sqrt(P / s_k) |h_k| differ: a weighted mean
        est, tx = agg.aggregate(u, clients, 0, analog(4, fading), noise=False)
        w = tx.plan.effective.real / tx.plan.effective.real.sum()
        assert torch.allclose(est, torch.from_numpy(w).float() @ u, atol=1e-5) and torch.isfinite(est).all()
    same = u[:1].repeat(4, 1) * torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])   # equal power, no fading: exact
    est, _ = agg.aggregate(same, clients, 0, analog(4, "none"), noise=False)
    assert torch.allclose(est, same.mean(0), atol=1e-5)


def test_local_updates_are_plain_sgd_on_each_clients_batches():
    cat = load_catalog()
    cfg = FLConfig(clients=3, rounds=1, local_steps=2, lr=0.1, scheme="ideal", seed=4)
    make = lambda: FederatedRun(cfg, cat.device("raspberry-pi-4b-4gb"), cat.radio("lte-20mhz-ue"),  # noqa: E731
                                Channel("umi-nlos"), np.full(3, 50.0))
    run, ref = make(), make()
    got = run.local_updates(np.array([0, 2]))
    for row, k in zip(got, (0, 2)):   # reference: torch.optim.SGD on a copy of the model, same batches
        model = ref.model
        with torch.no_grad():
            for p, v in zip(model.parameters(), ref._unflatten(ref.theta).values()):
                p.copy_(v)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            idx = ref.samplers[k].next()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(ref.data.x_train[idx]), ref.data.y_train[idx]).backward()
            opt.step()
        after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        assert torch.allclose(row, after - ref.theta, atol=1e-5)


def test_models_with_batch_norm_train_client_by_client():
    cat = load_catalog()
    cfg = FLConfig(model="resnet8", clients=3, rounds=1, local_steps=1, scheme="baa", eval_every=1)
    res = run_federated(cfg, cat.device("raspberry-pi-4b-4gb"), cat.radio("lte-20mhz-ue"), Channel("umi-nlos"),
                        np.full(3, 50.0))
    assert math.isfinite(res.rows[-1].test_accuracy)


def test_a_round_is_priced_by_the_executor_rule():
    """Participant energy = idle x round + (active - idle) x local training + (P + circuit) x its airtime."""
    cat = load_catalog()
    dev, radio = cat.device("raspberry-pi-4b-4gb"), cat.radio("lte-20mhz-ue")
    cfg = FLConfig(clients=3, rounds=1, local_steps=2, scheme="digital", seed=4)
    run = FederatedRun(cfg, dev, radio, Channel("umi-nlos"), np.array([30.0, 60.0, 90.0]))
    res = run.run()
    clients = np.arange(3)
    tx = run.mac.upload(np.array([1.0, 1.0, 1.0]), 0)   # same draws: the shape of round 0's schedule
    assert tx.offsets_s.tolist() == [0.0, tx.tx_time_s[0], tx.tx_time_s[0] + tx.tx_time_s[1]]
    s = res.summary
    makespan = s["sim_time_s"]
    assert makespan == pytest.approx(run.compute_s + s["airtime_s"])
    per = s["energy_j_per_device"]
    radio_j = s["tx_energy_j"]
    hand = sum(dev.idle_power_W * makespan + (dev.active_power_W - dev.idle_power_W) * run.compute_s for _ in clients)
    assert sum(per) == pytest.approx(hand + radio_j)
    assert s["energy_breakdown_j"]["radio"] == pytest.approx(radio_j)
    assert sum(s["energy_breakdown_j"].values()) == pytest.approx(s["energy_j"])


def test_time_to_target_is_the_first_evaluation_reaching_it():
    from simulator.metrics import to_target
    curve = [(0.5, 1.0, 10.0, 100.0), (0.91, 2.0, 20.0, 200.0), (0.89, 3.0, 30.0, 300.0), (0.95, 4.0, 40.0, 400.0)]
    assert to_target(curve, 0.9) == {"target_accuracy": 0.9, "time_to_target_s": 2.0, "energy_to_target_j": 20.0,
                                     "bits_to_target": 200.0}
    assert to_target(curve, 0.99)["time_to_target_s"] is None
    assert to_target(curve, None)["bits_to_target"] is None
