"""Partitioned inference over a shared wireless channel: airtime and energy against a hand count."""

import math

import numpy as np
import pytest
import torch

from hwmodels import Device, LinkSpec, Radio, SpecError
from hwmodels.channel import Channel
from simulator.cluster import Cluster
from simulator.network import Topology
from simulator.partition import PartitionPlan, evaluate, linear_specs, optimise, partition
from simulator.partition.wireless_cost import WirelessHardware, wireless_cost

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


@pytest.mark.parametrize("access", ["tdma", "ofdma"])
def test_hand_computed_airtime_energy_and_latency(access):
    plan = hand_plan()
    hw = WirelessHardware(RADIO, AWGN, D, access=access)
    batch, bits = 5, 8
    per = batch * bits
    W = 1e6
    rate = lambda k, band: band * math.log2(1 + snr(D[k], band))  # noqa: E731
    if access == "tdma":
        l0 = [1 * per / rate(0, W), 2 * per / rate(1, W)]
        air0 = sum(l0)
    else:   # two senders split the band, each with half the noise
        l0 = [1 * per / rate(0, W / 2), 2 * per / rate(1, W / 2)]
        air0 = max(l0)
    l1 = 2 * per / rate(0, W)     # a single sender has the whole band either way
    lg = 2 * per / rate(1, W)
    air = air0 + l1 + lg
    radio_j = (1e-3 + 0.05) * (sum(l0) + l1 + lg)
    # compute: layer 0 worker 0 6 MACs, worker 1 2; layer 1 worker 1 4 MACs; 2 FLOPs each, times the batch.
    comp0, comp1 = 2 * 6 * batch / 1e6, 2 * 4 * batch / 1e6
    busy = {"h0": 2 * 6 * batch / 1e6, "h1": 2 * (2 + 4) * batch / 1e6}
    latency = air + comp0 + comp1
    energy = radio_j + sum(2.0 * b + 1.0 * (latency - b) for b in busy.values())
    wc = wireless_cost(plan, cluster(), hw, batch=batch, activation_bits=bits)
    assert wc.airtime_s == pytest.approx(air, rel=1e-9)
    assert wc.radio_energy_j == pytest.approx(radio_j, rel=1e-9)
    assert wc.latency_s == pytest.approx(latency, rel=1e-9)
    assert wc.energy_j == pytest.approx(energy, rel=1e-9)
    ev = evaluate(plan, cluster(), torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), batch=batch,
                  activation_bits=bits, wireless=hw)
    assert ev.latency_s == pytest.approx(latency, rel=1e-9) and ev.energy_j == pytest.approx(energy, rel=1e-9)
    assert ev.bits_per_sample == 7 * bits


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
    cost = lambda seed: wireless_cost(plan, cluster(), WirelessHardware(RADIO, ch, D, seed=seed)).latency_s  # noqa: E731
    assert cost(1) == cost(1) and cost(1) != cost(2)
    hw = WirelessHardware(RADIO, ch, D, seed=1)
    res = optimise(model, ctx, cluster(), x, y, keeps=[1.0], baselines=["direct"], wireless=hw)
    direct = [e for e in res.candidates if e.partitioner == "direct"][0]
    assert direct.latency_s == pytest.approx(evaluate(plan, cluster(), x, y, wireless=hw).latency_s)


def test_bad_wireless_hardware_names_the_problem():
    with pytest.raises(SpecError, match="unknown access 'cdma'"):
        WirelessHardware(RADIO, AWGN, D, access="cdma")
    with pytest.raises(SpecError, match="plan has 2 workers but 3 distances"):
        wireless_cost(hand_plan(), cluster(3), WirelessHardware(RADIO, AWGN, np.array([1.0, 2.0, 3.0])))
