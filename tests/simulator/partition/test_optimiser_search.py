"""The optimiser's search: link costs from the topology, link-aware and load-balanced assignment,
per-layer budgets, compute-worker counts, and bad options."""

import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from hwmodels import LinkSpec, SpecError, load_catalog
from simulator.cluster import Cluster
from simulator.network import Topology
from simulator.partition import OptimiserConfig, PartitionContext, Target, optimise, partition
from simulator.partition.linkcost import compute_order, compute_share, link_cost
from simulator.partition.optimiser import _objective
from simulator.partition.repurpose import banded_assign

FAST = LinkSpec("fast", bandwidth_Bps=1e9, latency_s=1e-6)
SLOW = LinkSpec("slow", bandwidth_Bps=1e7, latency_s=1e-5)


def _ring4_one_slow() -> Topology:
    g = nx.Graph()
    for i in range(4):
        g.add_node(f"h{i}", kind="host")
    for a, b in ((0, 1), (1, 2), (2, 3), (3, 0)):
        g.add_edge(f"h{a}", f"h{b}", link=SLOW if (a, b) == (0, 1) else FAST)
    return Topology.from_graph(g)


def test_link_cost_of_a_ring_with_one_slow_link_by_hand():
    cat = load_catalog()
    cluster = Cluster(_ring4_one_slow(), cat.device("jetson-orin-nano-8gb"))
    bits = 32 * 4  # one activation of a batch of 4
    c = link_cost(cluster, 4, activation_bits=32, batch=4, normalised=False)
    fast = 1e-6 + bits / 8 / 1e9
    slow = 1e-5 + bits / 8 / 1e7
    assert np.diag(c).tolist() == [0.0] * 4
    assert c[0, 1] == pytest.approx(slow) and c[1, 0] == pytest.approx(slow)
    for a, b in ((1, 2), (2, 3), (3, 0)):
        assert c[a, b] == pytest.approx(fast) and c[b, a] == pytest.approx(fast)
    # opposite corners: two hops, one of the two equal-hop routes (ECMP picks one per pair)
    assert c[0, 2] == pytest.approx(2 * fast) or c[0, 2] == pytest.approx(slow + fast)
    assert c[1, 3] == pytest.approx(2 * fast) or c[1, 3] == pytest.approx(slow + fast)
    cn = link_cost(cluster, 4, activation_bits=32, batch=4)
    off = ~np.eye(4, dtype=bool)
    assert cn[off].mean() == pytest.approx(1.0) and np.allclose(cn, c / c[off].mean())
    # a switch: every pair costs the same
    sw = Cluster(Topology.switch(4, FAST), cat.device("jetson-orin-nano-8gb"))
    assert np.allclose(link_cost(sw, 4)[off], 1.0)


def _tiny_link_model() -> tuple[nn.Module, PartitionContext]:
    """3 workers owning inputs [0,0,1,1,2,2]; neurons p, q, r with affinity (per source worker)
    p: (0, 0, 4), q: (0.01, 3, 0), r: (0, 0.01, 5). lam_c = 0: r->2, q->1, p->0 (p reads worker 2
    over the expensive 0-2 link); lam_c = 1 with c[0,2] = c[2,0] = 5: p->1, q->0, r->2."""
    net = nn.Sequential(nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        w = torch.zeros(3, 6)
        w[0, 4] = 2.0
        w[1, 0], w[1, 2] = 0.1, math.sqrt(3.0)
        w[2, 2], w[2, 4] = 0.1, math.sqrt(5.0)
        net[0].weight.copy_(w)
        net[0].bias.zero_()
    x = torch.from_numpy(np.random.default_rng(0).choice([-1.0, 1.0], size=(64, 6))).float()  # E[x_i^2] = 1
    return net, PartitionContext(3, np.array([0, 0, 1, 1, 2, 2]), x)


def test_link_aware_assignment_keeps_traffic_off_the_expensive_link():
    net, ctx = _tiny_link_model()
    c = np.array([[0, 1, 5], [1, 0, 1], [5, 1, 0]], dtype=float)
    plain = partition("repurpose", net, ctx, keep=0.25, refit="none")
    aware = partition("repurpose", net, ctx, keep=0.25, refit="none", link_cost=c, lam_c=1.0)
    assert plain.owner[0].tolist() == [0, 1, 2]
    assert aware.owner[0].tolist() == [1, 0, 2]
    expensive = lambda p: int(p.transfer_matrix(0)[0, 2] + p.transfer_matrix(0)[2, 0])  # noqa: E731
    assert expensive(plain) == 1 and expensive(aware) == 0
    assert plain.transfers_per_layer()[0] == aware.transfers_per_layer()[0] == 3  # one foreign input per worker
    assert aware.info["lam_c"] == 1.0


def test_banded_assignment_spreads_the_most_read_rows_and_respects_capacities():
    # every row prefers worker 0; without bands the 2 cheapest rows (also the most read) both go to 0
    cost = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 1.0], [0.5, 1.0]])
    cap = np.array([2, 2])
    owner = banded_assign(cost, cap, demand=np.array([10.0, 9.0, 1.0, 0.0]), bands=2)
    assert np.bincount(owner, minlength=2).tolist() == [2, 2]
    assert sorted(owner[:2].tolist()) == [0, 1] and sorted(owner[2:].tolist()) == [0, 1]
    owner = banded_assign(np.zeros((5, 3)), np.array([3, 1, 1]), np.arange(5.0), bands=2)
    assert np.all(np.bincount(owner, minlength=3) <= [3, 1, 1])


def _tiny_task(workers: int = 4, seed: int = 0):
    """A random 16-24-24-3 MLP whose own predictions are the labels (original accuracy 1)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, 3)).eval()
    gen = torch.Generator().manual_seed(seed)
    x, xt = torch.randn(300, 16, generator=gen), torch.randn(200, 16, generator=gen)
    with torch.no_grad():
        yt = net(xt).argmax(1)
    owner = np.repeat(np.arange(workers), 16 // workers)
    cat = load_catalog()
    cluster = Cluster(Topology.switch(workers, cat.link("eth-1g")), cat.device("raspberry-pi-4b-4gb"))
    return net, PartitionContext(workers, owner, x), cluster, xt, yt


@pytest.mark.parametrize("target", [Target(max_accuracy_drop=0.1), Target(max_latency_s=1e-3)])
def test_per_layer_search_never_chooses_worse_than_the_grid(target):
    net, ctx, cluster, xt, yt = _tiny_task()
    kw = dict(target=target, keeps=(0.5, 0.25, 0.1), baselines=("direct",), batch=4)
    grid = optimise(net, ctx, cluster, xt, yt, OptimiserConfig(refine=0, **kw))
    full = optimise(net, ctx, cluster, xt, yt, OptimiserConfig(refine=6, **kw))
    assert len(full.candidates) > len(grid.candidates)
    assert _objective(full.chosen, target, full.original_accuracy) <= _objective(grid.chosen, target, grid.original_accuracy)
    extra = full.candidates[len(grid.candidates):]
    assert 0 < len(extra) <= 6
    assert all(e.params["search"] == "per-layer" and isinstance(e.params["keep"], list) and len(e.params["keep"]) == 3
               for e in extra)
    assert all(e.params["search"] == "grid" for e in full.candidates if e.partitioner == "repurpose"
               and not isinstance(e.params["keep"], list))
    # the grid part is unchanged by the refinement (deterministic)
    assert [(e.accuracy, e.latency_s) for e in full.candidates[:len(grid.candidates)]] == \
        [(e.accuracy, e.latency_s) for e in grid.candidates]


def test_compute_workers_leave_pure_sensors_without_neurons():
    net, ctx, cluster, xt, yt = _tiny_task()
    order = compute_order(cluster, ctx)
    assert sorted(order) == [0, 1, 2, 3]
    share = compute_share(cluster, ctx, 2)
    assert np.count_nonzero(share) == 2 and share[order[:2]].tolist() == [1.0, 1.0]
    res = optimise(net, ctx, cluster, xt, yt, OptimiserConfig(target=Target(max_accuracy_drop=0.5), keeps=(0.5,),
                   baselines=(), refine=0, compute_workers=[2, 4], batch=4))
    by_k = {e.params["compute_workers"]: e for e in res.candidates}
    assert sorted(by_k) == [2, 4]
    two = by_k[2].plan
    idle = [k for k in range(4) if share[k] == 0]
    for l in range(two.num_layers - 1):
        assert not np.isin(two.owner[l], idle).any()
        assert np.bincount(two.owner[l], minlength=4)[order[:2]].sum() == 24
    assert by_k[2].flops_per_worker[idle[0]] == 0.0 or idle[0] == ctx.fusion
    assert by_k[2].params["share"] == share.tolist() and by_k[4].params["share"] is None
    # the sensors still send their inputs
    assert two.transfer_matrix(0)[idle].sum() > 0


def test_lam_c_on_uniform_hardware_is_priced_once():
    net, ctx, cluster, xt, yt = _tiny_task()
    res = optimise(net, ctx, cluster, xt, yt, OptimiserConfig(target=Target(max_accuracy_drop=0.5), keeps=(0.5,),
                   baselines=(), refine=0, lam_c=[0.0, 1.0], batch=4))
    assert [e.params["lam_c"] for e in res.candidates] == [0.0]


@pytest.mark.parametrize("kw, match", [
    (dict(lam_c=-1.0), "lam_c"), (dict(lam_c=[]), "lam_c"), (dict(compute_workers=[0]), "compute_workers"),
    (dict(compute_workers=[5]), "compute_workers"), (dict(compute_workers=[2.5]), "compute_workers"),
    (dict(share="fast"), "share"), (dict(share=[1, 1]), "share"), (dict(share=[1, 1, 1, 1], compute_workers=[2]), "not both"),
    (dict(refine=-1), "refine"), (dict(spread=1.5), "spread"), (dict(spread=[4]), "spread"),
    (dict(keeps=(1.5,)), "keep: every budget must be a fraction"),
])
def test_bad_optimiser_options_are_spec_errors(kw, match):
    net, ctx, cluster, xt, yt = _tiny_task()
    with pytest.raises(SpecError, match=match) as err:
        optimise(net, ctx, cluster, xt, yt, OptimiserConfig(baselines=(), **{"keeps": (0.5,), **kw}))
    assert "\n" not in str(err.value)


def test_bad_repurpose_link_options_are_spec_errors():
    net, ctx = _tiny_link_model()
    with pytest.raises(SpecError, match="lam_c > 0 needs link_cost"):
        partition("repurpose", net, ctx, lam_c=1.0)
    with pytest.raises(SpecError, match="link_cost must be a 3 x 3"):
        partition("repurpose", net, ctx, lam_c=1.0, link_cost=np.ones((3, 3)))
    with pytest.raises(SpecError, match="spread"):
        partition("repurpose", net, ctx, spread=-2)


def test_infer_spec_optimiser_fields_are_validated():
    from experiments.infer_spec import parse_spec

    spec = parse_spec({"workers": 4, "lam_c": [0, 0.5], "compute_workers": [2, 4], "refine": 2, "spread": 4,
                       "share": "equal"})
    assert spec.lam_c == [0.0, 0.5] and spec.compute_workers == [2, 4]
    for bad, field in (({"compute_workers": [5]}, "compute_workers"), ({"compute_workers": [0]}, "compute_workers"),
                       ({"lam_c": -1}, "lam_c"), ({"refine": -1}, "refine"), ({"spread": "x"}, "spread"),
                       ({"share": "fast"}, "share")):
        with pytest.raises(SpecError, match=field) as err:
            parse_spec({"workers": 4, **bad})
        assert "\n" not in str(err.value)


def test_wireless_link_cost_from_the_per_worker_rates():
    from hwmodels import Radio
    from hwmodels.channel import Channel
    from simulator.partition.wireless_cost import WirelessHardware

    radio = Radio(name="r", max_tx_power_W=1e-3, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, circuit_power_W=0.05)
    d = np.array([10.0, 30.0, 100.0, 50.0])
    hw = WirelessHardware(radio, Channel(path_loss="free-space", fading="none"), d)
    gain = (299792458.0 / (4 * math.pi * d * 2.4e9)) ** 2
    rate = 1e6 * np.log2(1 + 1e-3 * gain / radio.noise_power_W())  # uplink = downlink here (AP at the radio's power)
    c = link_cost(None, 4, activation_bits=8, batch=2, wireless=hw, normalised=False)
    want = 16 / rate[:, None] + (16 / rate)[None, :] if getattr(hw, "relay", None) == "ap" else np.repeat(16 / rate[:, None], 4, 1)
    np.fill_diagonal(want, 0.0)
    assert np.allclose(c, want, rtol=1e-3)
    assert c[2, 1] > c[0, 1]  # the far worker's transfers cost more
