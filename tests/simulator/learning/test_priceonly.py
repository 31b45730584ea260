"""Price-only steps: the same price as a trained step of the same model and payload sizes; large
models priced without weights; what cannot be priced is refused."""

import pytest

from hwmodels import SpecError, load_catalog
from simulator.cluster import Cluster
from simulator.learning import TrainConfig, Trainer, price_only
from simulator.network import Topology, build_topology

CAT = load_catalog()


@pytest.mark.parametrize("compressor", ["none", "qsgd", "topk"])
def test_a_price_only_step_costs_what_a_trained_step_costs(compressor):
    """Fixed-rate payloads: the synthetic gradient's bits are the real ones, so the step is the same."""
    common = dict(model="mlp", workers=4, batch_size=16, steps=1, compressor=compressor,
                  compressor_params={"ratio": 0.1} if compressor == "topk" else {})
    cluster = Cluster(Topology.switch(4, CAT.link("eth-1g")), CAT.device("jetson-orin-nano-8gb"))
    trained = Trainer(TrainConfig(**common), cluster)
    t = trained.run().summary
    p = price_only(TrainConfig(**common, price_only=True, input_shape=(1, 8, 8), classes=10), cluster).summary
    assert p["step_time_s"] == pytest.approx(t["step_time_s"], rel=1e-12)
    assert p["energy_breakdown_j"] == pytest.approx(t["energy_breakdown_j"], rel=1e-12)
    assert p["bits_per_worker"] == t["bits_per_worker"] and p["parameters"] == t["parameters"]


def test_resnet50_on_a_dgx_style_cluster():
    topo = build_topology("hierarchical", 16, CAT.link("nvlink3"), inter_link=CAT.link("ib-hdr"))
    cfg = TrainConfig(model="resnet50", workers=16, batch_size=32, price_only=True, input_shape=(3, 224, 224),
                      steps=2, compute_dtype="bf16")
    s = price_only(cfg, Cluster(topo, CAT.device("a100-sxm4-40gb"))).summary
    assert s["parameters"] == 25_557_032 and s["classes"] == 1000 and s["final_test_accuracy"] is None
    assert s["bits_per_worker_per_step"] == 32 * 25_557_032
    assert s["sim_time_s"] == pytest.approx(2 * s["step_time_s"])
    # bf16 on the A100 (312 TFLOP/s) against fp32 (19.5): the forward and backward shrink, the rest stays
    fp32 = price_only(TrainConfig(**{**cfg.__dict__, "compute_dtype": "fp32"}),
                      Cluster(topo, CAT.device("a100-sxm4-40gb"))).summary
    assert s["step_time_s"] < fp32["step_time_s"]


def test_what_price_only_cannot_do():
    cluster = Cluster(Topology.switch(2, CAT.link("eth-1g")), CAT.device("jetson-orin-nano-8gb"))
    with pytest.raises(SpecError, match="input_shape"):
        price_only(TrainConfig(model="mlp", workers=2, steps=1, price_only=True), cluster)
    with pytest.raises(SpecError, match="activations"):
        price_only(TrainConfig(model="mlp", workers=2, steps=1, price_only=True, input_shape=(64,), compressor="isgq"),
                   cluster)
    with pytest.raises(SpecError, match="compute_dtype"):
        TrainConfig(compute_dtype="fp13", steps=1)
