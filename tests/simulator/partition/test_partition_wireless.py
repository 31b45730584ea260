"""Partitioned inference over a shared wireless channel: airtime and energy against a hand count."""

import math

import numpy as np
import pytest
import torch

from hwmodels import Device, LinkSpec, Radio, SpecError
from hwmodels.channel import Channel
from simulator.cluster import Cluster
from simulator.network import Topology
from simulator.partition import OptimiserConfig, PartitionPlan, evaluate, linear_specs, optimise, partition
from simulator.partition.wireless_cost import WirelessHardware, gather_groups, layer_groups, wireless_cost

from simulator.partition import PartitionContext

C = 299_792_458.0
K_T0 = 1.380649e-23 * 290.0


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 12), torch.nn.ReLU(), torch.nn.Linear(12, 10), torch.nn.ReLU(),
                                torch.nn.Linear(10, 3))
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    return model, PartitionContext(2, np.array([0, 0, 0, 0, 1, 1, 1, 1]), x), x


def hand_plan():
    # as in test_plan: layer 0 sends w0->w1 1 value, w1->w0 2; layer 1 w0->w1 2; gather w1->w0 2.
    w1 = torch.ones(3, 4)
    m1 = torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 0, 1]], dtype=torch.bool)
    m2 = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)
    return PartitionPlan(workers=2, input_owner=np.array([0, 0, 1, 1]), weight=[w1, torch.ones(2, 3)],
                         bias=[torch.zeros(3), torch.zeros(2)], mask=[m1, m2], owner=[np.array([0, 0, 1]), np.array([1, 1])],
                         specs=linear_specs([4, 3, 2], ["relu", "none"]), fusion=0)


def cluster(workers=2, flops=1e6):
    dev = Device(name="d", peak_flops={"fp32": flops}, mem_bandwidth_Bps=1e30, mem_capacity_B=1e9,
                 active_power_W=2.0, idle_power_W=1.0)
    return Cluster(Topology.switch(workers, LinkSpec(name="l", bandwidth_Bps=1e9, latency_s=0.0)), dev)


RADIO = Radio(name="r", max_tx_power_W=1e-3, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, circuit_power_W=0.05)
AWGN = Channel(path_loss="free-space", fading="none")
D = np.array([100.0, 300.0])


def snr(d, band):
    gain = (C / (4 * math.pi * d * 2.4e9)) ** 2
    return 1e-3 * gain / (K_T0 * band)


def rate(d, band, W=1e6):
    """Shannon rate (bit/s) at distance d on a band share (noise over the share), 1 mW."""
    return band * math.log2(1 + snr(d, band))


@pytest.mark.parametrize("access", ["tdma", "ofdma"])
def test_hand_computed_airtime_energy_and_latency(access):
    # Two workers: every value has one destination, so the AP relay adds one downlink per value.
    plan = hand_plan()
    hw = WirelessHardware(RADIO, AWGN, D, access=access)
    batch, bits = 5, 8
    per = batch * bits
    W = 1e6
    if access == "tdma":
        l0 = [1 * per / rate(D[0], W), 2 * per / rate(D[1], W)]
        up0 = sum(l0)
    else:   # two senders split the band, each with half the noise
        l0 = [1 * per / rate(D[0], W / 2), 2 * per / rate(D[1], W / 2)]
        up0 = max(l0)
    up1 = 2 * per / rate(D[0], W)     # a single sender has the whole band either way
    upg = 2 * per / rate(D[1], W)
    # downlink (AP at 1 mW, the radio's maximum; whole band): to w1 1 value, to w0 2; L1 to w1 2; gather to w0 2
    down0 = 1 * per / rate(D[1], W) + 2 * per / rate(D[0], W)
    down1 = 2 * per / rate(D[1], W)
    downg = 2 * per / rate(D[0], W)
    air = up0 + down0 + up1 + down1 + upg + downg
    radio_j = (1e-3 + 0.05) * (sum(l0) + up1 + upg)
    ap_j = (1e-3 + 0.05) * (down0 + down1 + downg)
    # compute: layer 0 worker 0 6 MACs, worker 1 2; layer 1 worker 1 4 MACs; 2 FLOPs each, times the batch.
    comp0, comp1 = 2 * 6 * batch / 1e6, 2 * 4 * batch / 1e6
    busy = {"h0": 2 * 6 * batch / 1e6, "h1": 2 * (2 + 4) * batch / 1e6}
    latency = air + comp0 + comp1
    energy = radio_j + sum(2.0 * b + 1.0 * (latency - b) for b in busy.values())
    wc = wireless_cost(plan, cluster(), hw, batch=batch, activation_bits=bits)
    assert wc.stats["phases"] == ["L0", "L1", "gather"] and wc.stats["relay"] == "ap" and wc.stats["delivered"]
    assert wc.stats["uplink_per_phase_s"] == pytest.approx([up0, up1, upg], rel=1e-9)
    assert wc.stats["downlink_per_phase_s"] == pytest.approx([down0, down1, downg], rel=1e-9)
    assert wc.stats["airtime_s"] == pytest.approx(air, rel=1e-9)
    assert wc.energy_breakdown_j["radio"] == pytest.approx(radio_j, rel=1e-9)
    assert wc.stats["ap_energy_j"] == pytest.approx(ap_j, rel=1e-9)
    assert wc.makespan_s == pytest.approx(latency, rel=1e-9)
    assert wc.energy_j == pytest.approx(energy, rel=1e-9)   # the AP's energy is not the workers'
    plan.calibrate(torch.zeros(3, 4))  # a hand-made plan: ranges for its quantised activations
    ev = evaluate(plan, cluster(), torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), batch=batch,
                  activation_bits=bits, wireless=hw)
    assert ev.latency_s == pytest.approx(latency, rel=1e-9) and ev.energy_j == pytest.approx(energy, rel=1e-9)
    assert ev.bits_per_sample == 7 * bits and ev.air_bits_per_sample == 14 * bits  # each value up, then relayed down


# ---------------------------------------------------------------------- one activation, two destinations
POS3 = np.array([[100.0, 0.0], [0.0, 200.0], [-300.0, 0.0]])   # AP at the origin
D3 = np.array([100.0, 200.0, 300.0])
D01, D02, D12 = math.hypot(100, 200), 400.0, math.hypot(200, 300)


def shared_plan():
    """3 workers. Layer 0: input 0 (w0's) is read by w1 and w2 (the other inputs are local).
    Layer 1: h0 (w0) -> w1, h1 (w1) -> w0, h2 (w2) -> w1. Gather: output 1 (w1) -> fusion w0."""
    m0 = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]], dtype=torch.bool)
    m1 = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    return PartitionPlan(workers=3, input_owner=np.array([0, 0, 1, 2]), weight=[torch.ones(3, 4), torch.ones(2, 3)],
                         bias=[torch.zeros(3), torch.zeros(2)], mask=[m0, m1], owner=[np.array([0, 1, 2]), np.array([0, 1])],
                         specs=linear_specs([4, 3, 2], ["relu", "none"]), fusion=0)


def hw3(relay, access="tdma", **kw):
    return WirelessHardware(RADIO, AWGN, D3, access=access, relay=relay, positions_m=POS3, **kw)


def test_a_shared_activation_is_sent_once():
    plan = shared_plan()
    assert plan.transfer_matrix(0).sum() == 2 and plan.broadcast_values(0).tolist() == [1.0, 0.0, 0.0]
    assert layer_groups(plan, 0) == [(0, (1, 2), 1.0)]
    assert layer_groups(plan, 1) == [(0, (1,), 1.0), (1, (0,), 1.0), (2, (1,), 1.0)]
    assert gather_groups(plan) == [(1, (0,), 1.0)]
    for l in range(plan.num_layers):
        sent = np.zeros(3)
        for s, _, v in layer_groups(plan, l):
            sent[s] += v
        assert sent.tolist() == plan.broadcast_values(l).tolist()


@pytest.mark.parametrize("access", ["tdma", "ofdma"])
def test_ap_relay_hand_computed(access):
    plan, batch, bits = shared_plan(), 3, 16
    per, W = batch * bits, 1e6
    wc = wireless_cost(plan, cluster(3), hw3("ap", access), batch=batch, activation_bits=bits)
    up0 = per / rate(100, W)                                # once, not once per destination
    down0 = per / min(rate(200, W), rate(300, W))           # one broadcast at the worst destination (w2)
    if access == "tdma":
        up1 = per / rate(100, W) + per / rate(200, W) + per / rate(300, W)
        radio1 = up1
    else:   # three senders on W/3 each: the farthest sets the airtime, each pays its own time
        t = [per / rate(d, W / 3) for d in (100, 200, 300)]
        up1, radio1 = max(t), sum(t)
    down1 = per / rate(200, W) + per / rate(100, W) + per / rate(200, W)
    upg, downg = per / rate(200, W), per / rate(100, W)
    assert wc.stats["uplink_per_phase_s"] == pytest.approx([up0, up1, upg], rel=1e-9)
    assert wc.stats["downlink_per_phase_s"] == pytest.approx([down0, down1, downg], rel=1e-9)
    assert wc.stats["airtime_per_phase_s"] == pytest.approx([up0 + down0, up1 + down1, upg + downg], rel=1e-9)
    comp = [2 * 2 * batch / 1e6, 2 * 3 * batch / 1e6, 0.0]
    assert wc.stats["compute_per_phase_s"] == pytest.approx(comp, rel=1e-9)
    assert wc.makespan_s == pytest.approx(up0 + down0 + up1 + down1 + upg + downg + sum(comp), rel=1e-9)
    assert wc.energy_breakdown_j["radio"] == pytest.approx(0.051 * (up0 + radio1 + upg), rel=1e-9)
    assert wc.stats["ap_energy_j"] == pytest.approx(0.051 * (down0 + down1 + downg), rel=1e-9)
    assert wc.air_bits == 10 * per   # 5 values up (1 + 3 + the gather's 1), each relayed down once


@pytest.mark.parametrize("access", ["tdma", "ofdma"])
def test_d2d_relay_hand_computed(access):
    plan, batch, bits = shared_plan(), 3, 16
    per, W = batch * bits, 1e6
    wc = wireless_cost(plan, cluster(3), hw3("d2d", access), batch=batch, activation_bits=bits)
    l0 = per / min(rate(D01, W), rate(D02, W))              # w0 broadcasts once; w2, 400 m away, limits it
    if access == "tdma":
        t1 = [per / rate(D01, W), per / rate(D01, W), per / rate(D12, W)]
        l1 = sum(t1)
    else:
        t1 = [per / rate(D01, W / 3), per / rate(D01, W / 3), per / rate(D12, W / 3)]
        l1 = max(t1)
    lg = per / rate(D01, W)
    assert wc.stats["uplink_per_phase_s"] == pytest.approx([l0, l1, lg], rel=1e-9)
    assert wc.stats["downlink_per_phase_s"] == [0.0, 0.0, 0.0] and wc.stats["ap_energy_j"] == 0.0
    assert wc.air_bits == 5 * per    # every value once, heard by all its destinations
    assert wc.energy_breakdown_j["radio"] == pytest.approx(0.051 * (l0 + sum(t1) + lg), rel=1e-9)
    ap = wireless_cost(plan, cluster(3), hw3("ap", access), batch=batch, activation_bits=bits)
    assert wc.stats["compute_per_phase_s"] == pytest.approx(ap.stats["compute_per_phase_s"], rel=1e-12)
    # here the AP is closer to every worker than they are to each other, but d2d saves the second hop
    assert wc.stats["airtime_s"] < ap.stats["airtime_s"] and wc.makespan_s < ap.makespan_s


def test_ap_power_and_noise_set_the_downlink():
    plan, per, W = shared_plan(), 32, 1e6
    loud = wireless_cost(plan, cluster(3), hw3("ap", ap_power_dbm=20.0))   # 100 mW, uplink still 1 mW
    base = wireless_cost(plan, cluster(3), hw3("ap"))
    assert loud.stats["uplink_per_phase_s"] == base.stats["uplink_per_phase_s"]
    r = lambda d: W * math.log2(1 + 100 * snr(d, W))  # noqa: E731
    assert loud.stats["downlink_per_phase_s"][0] == pytest.approx(per / r(300), rel=1e-9)
    assert loud.stats["ap_energy_j"] == pytest.approx((0.1 + 0.05) * sum(loud.stats["downlink_per_phase_s"]), rel=1e-9)
    assert hw3("ap").ap_power_W == pytest.approx(1e-3) and hw3("ap", ap_power_dbm=-10).ap_power_W == pytest.approx(1e-4)


def test_fixed_rate_multicast_retries_for_the_missing_destination():
    plan, per, W = shared_plan(), 32, 1e6
    cap = lambda d: math.log2(1 + snr(d, W))  # noqa: E731
    low = 0.5 * min(cap(D02), cap(300))
    wc = wireless_cost(plan, cluster(3), hw3("d2d", rate_bits_per_use=low))
    assert wc.stats["delivered"] and wc.stats["uplink_per_phase_s"][0] == pytest.approx(per / (W * low), rel=1e-9)
    between = 0.5 * (cap(D01) + cap(D02))    # w1 decodes w0's broadcast, w2 never does (no fading)
    wc = wireless_cost(plan, cluster(3), hw3("d2d", rate_bits_per_use=between))
    assert not wc.stats["delivered"] and wc.stats["uplink_per_phase_s"][0] == pytest.approx(8 * per / (W * between), rel=1e-9)


def test_derived_positions_are_seeded_and_at_the_given_distances():
    hw = WirelessHardware(RADIO, AWGN, D3, seed=4)
    pos = hw.worker_positions()
    assert np.allclose(np.hypot(pos[:, 0], pos[:, 1]), D3)
    assert np.array_equal(pos, WirelessHardware(RADIO, AWGN, D3, seed=4).worker_positions())
    assert not np.allclose(pos, WirelessHardware(RADIO, AWGN, D3, seed=5).worker_positions())
    d = hw.pair_distances_m()
    assert np.allclose(d, d.T) and np.all(np.diag(d) == 0) and np.all(d[~np.eye(3, dtype=bool)] > 0)
    assert np.allclose(hw3("d2d").pair_distances_m()[0], [0.0, D01, D02])
    # 3GPP models: worker pairs closer than 10 m are priced at 10 m, not rejected
    umi = Channel(path_loss="umi-los", fading="none", shadowing_dB=0.0)
    near = WirelessHardware(RADIO, umi, np.array([20.0, 21.0]), relay="d2d", positions_m=np.array([[20.0, 0], [21.0, 0]]))
    assert wireless_cost(hand_plan(), cluster(), near).makespan_s > 0


def random_plan(rng, workers=3, widths=(6, 5, 4)):
    masks = [torch.from_numpy(rng.random((b, a)) < 0.3) for a, b in zip(widths[:-1], widths[1:])]
    owners = [rng.integers(0, workers, b) for b in widths[1:]]
    return PartitionPlan(workers=workers, input_owner=rng.integers(0, workers, widths[0]),
                         weight=[torch.ones(b, a) for a, b in zip(widths[:-1], widths[1:])],
                         bias=[torch.zeros(b) for b in widths[1:]], mask=masks, owner=owners,
                         specs=linear_specs(list(widths), ["relu", "none"]), fusion=0)


@pytest.mark.parametrize("relay", ["ap", "d2d"])
@pytest.mark.parametrize("access", ["tdma", "ofdma"])
def test_latency_never_falls_when_more_workers_need_an_activation(relay, access):
    rng = np.random.default_rng(7)
    ch = Channel(path_loss="log-distance", fading="rayleigh", shadowing_dB=4.0)
    hw = WirelessHardware(RADIO, ch, np.array([5.0, 12.0, 25.0]), access=access, relay=relay, seed=2)
    for _ in range(4):
        plan = random_plan(rng)
        last = wireless_cost(plan, cluster(3), hw).makespan_s
        for _ in range(6):   # make one more worker need one more activation it does not hold
            l = int(rng.integers(plan.num_layers))
            needs, held = plan.needs(l), plan.unit_values(l) > 0
            options = [(k, i) for k in range(3) for i in range(needs.shape[1]) if not needs[k, i] and not held[i, k]
                       and (plan.owner[l] == k).any()]
            if not options:
                continue
            k, i = options[int(rng.integers(len(options)))]
            j = int(np.flatnonzero(plan.owner[l] == k)[0])
            plan.mask[l][j, i] = True
            cost = wireless_cost(plan, cluster(3), hw).makespan_s
            assert cost >= last - 1e-15
            last = cost


def test_latency_falls_with_fewer_transfers_and_more_bandwidth(setting):
    model, ctx, x = setting
    y = torch.zeros(len(x), dtype=torch.long)
    dense, lean = partition("direct", model, ctx), partition("repurpose", model, ctx, keep=0.25)
    assert lean.transfers_per_sample() < dense.transfers_per_sample()
    ch = Channel(path_loss="log-distance", fading="rayleigh")
    t = {}
    for bw in (2e5, 2e7):
        radio = Radio(name="r", max_tx_power_W=1e-3, bandwidth_Hz=bw, carrier_frequency_Hz=2.4e9)
        hw = WirelessHardware(radio, ch, np.array([5.0, 20.0]), access="tdma", seed=3)
        for p in (dense, lean):
            t[p.name, bw] = evaluate(p, cluster(flops=1e9), x, y, batch=16, wireless=hw).latency_s
    assert t["direct", 2e7] < t["direct", 2e5] and t["repurpose", 2e7] < t["repurpose", 2e5]
    assert t["repurpose", 2e5] < t["direct", 2e5]


def test_deterministic_from_the_seed_and_optimise_uses_the_channel(setting):
    model, ctx, x = setting
    y = torch.zeros(len(x), dtype=torch.long)
    plan = partition("direct", model, ctx)
    ch = Channel(path_loss="log-distance", fading="rayleigh", shadowing_dB=4.0)
    cost = lambda seed: wireless_cost(plan, cluster(), WirelessHardware(RADIO, ch, D, seed=seed)).makespan_s  # noqa: E731
    assert cost(1) == cost(1) and cost(1) != cost(2)
    hw = WirelessHardware(RADIO, ch, D, seed=1)
    res = optimise(model, ctx, cluster(), x, y, OptimiserConfig(keeps=[1.0], baselines=["direct"], wireless=hw))
    direct = [e for e in res.candidates if e.partitioner == "direct"][0]
    assert direct.latency_s == pytest.approx(evaluate(plan, cluster(), x, y, wireless=hw).latency_s)


def test_bad_wireless_hardware_names_the_problem():
    with pytest.raises(SpecError, match="unknown access 'cdma'"):
        WirelessHardware(RADIO, AWGN, D, access="cdma")
    with pytest.raises(SpecError, match="plan has 2 workers but 3 distances"):
        wireless_cost(hand_plan(), cluster(3), WirelessHardware(RADIO, AWGN, np.array([1.0, 2.0, 3.0])))
    for kw, message in [({"relay": "uplink-only"}, "unknown relay 'uplink-only'; use one of: ap, d2d"),
                        ({"ap_power_dbm": float("nan")}, "ap_power_dbm must be a finite number of dBm"),
                        ({"ap_power_dbm": "20dBm"}, "ap_power_dbm must be a finite number of dBm"),
                        ({"positions_m": np.array([[1.0, 0.0], [0.0, 1.0]])}, "positions_m must lie at distances_m"),
                        ({"positions_m": np.zeros((3, 2))}, "positions_m must be 2 rows")]:
        with pytest.raises(SpecError, match=message):
            WirelessHardware(RADIO, AWGN, D, **kw)


def test_wireless_spec_relay_and_ap_power():
    from experiments.infer_spec import parse_spec
    from hwmodels import Catalog

    spec = parse_spec({"workers": 3, "wireless": {"relay": "d2d", "ap_power_dbm": 20}})
    hw = spec.wireless_hardware(Catalog.load(use_env=False))
    assert hw.relay == "d2d" and hw.ap_power_W == pytest.approx(0.1) and hw.workers == 3
    assert parse_spec({"wireless": {}}).wireless.relay == "ap"
    for bad, message in [({"relay": "mesh"}, "wireless.relay: Input should be 'ap' or 'd2d'"),
                         ({"ap_power_dbm": float("inf")}, "wireless.ap_power_dbm: Input should be a finite number")]:
        with pytest.raises(SpecError) as err:
            parse_spec({"wireless": bad})
        assert message in str(err.value) and "\n" not in str(err.value)
