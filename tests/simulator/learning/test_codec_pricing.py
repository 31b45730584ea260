"""Codec time in training is declared work priced on each worker's device: no host clock, no
cache, the same JSON anywhere; a per-element time in the spec overrides it."""

import json
import time

import pytest

from hwmodels import Device, LinkSpec, SpecError
from simulator.cluster import Cluster
from simulator.compression import CodecWork, create
from simulator.learning import TrainConfig, Trainer, train
from simulator.learning.codec import codec_work
from simulator.models import build
from simulator.network import Topology

FAST = Device(name="fast", peak_flops={"fp32": 1e12}, mem_bandwidth_Bps=1e11, mem_capacity_B=1e9,
              active_power_W=10.0, idle_power_W=2.0, category="edge-gpu")
SLOW = Device(name="slow", peak_flops={"fp32": 1e10}, mem_bandwidth_Bps=1e9, mem_capacity_B=1e9,
              active_power_W=5.0, idle_power_W=1.0, category="sbc", codec_efficiency=0.5)
LINK = LinkSpec(name="l", bandwidth_Bps=1.25e8, latency_s=1e-5)
TINY = dict(model="mlp", data="digits", workers=2, batch_size=8, steps=3, lr=0.1, seed=1)


def tiny_run(compressor="qsgd", devices=FAST, **kw):
    cfg = TrainConfig(**TINY, compressor=compressor, **kw)
    return Trainer(cfg, Cluster(Topology.switch(2, LINK), devices))


def summary_json(monkeypatch, cache, compressor="qsgd"):
    monkeypatch.setenv("DDLSIM_CACHE", str(cache))
    return json.dumps(tiny_run(compressor).run().to_dict(), sort_keys=True)


@pytest.mark.parametrize("compressor", ["qsgd", "topk"])
def test_same_json_with_fresh_caches_and_a_slowed_host_clock(tmp_path, monkeypatch, compressor):
    first = summary_json(monkeypatch, tmp_path / "a", compressor)
    assert summary_json(monkeypatch, tmp_path / "b", compressor) == first
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: 1000.0 * real())   # a host 1000 times slower
    assert summary_json(monkeypatch, tmp_path / "c", compressor) == first
    for cache in ("a", "b", "c"):   # nothing was measured and stored
        assert not (tmp_path / cache / "codec.json").exists()
    assert json.loads(first)["summary"]["encode_s_per_element"] > 0


def test_codec_time_is_the_declared_work_on_each_workers_device():
    trainer = tiny_run(devices={"h0": FAST, "h1": SLOW})
    result = trainer.run()
    model = build("mlp", (1, 8, 8), 10)
    expect = CodecWork()
    for p in model.parameters():
        expect = expect + create("qsgd").work(tuple(p.shape))
    assert trainer.codec == expect
    encode, decode = trainer._codec_s
    assert encode == (FAST.codec_time(expect.encode), SLOW.codec_time(expect.encode))
    assert decode == (FAST.codec_time(expect.decode), SLOW.codec_time(expect.decode))
    # the slow device: 0.5 of 1 GB/s, memory-bound
    assert encode[1] == pytest.approx(expect.encode.bytes / 0.5e9, rel=1e-12)
    n = result.summary["parameters"]
    assert result.summary["encode_s_per_element"] == encode[0] / n
    assert result.summary["codec_work"]["encode_bytes"] == expect.encode.bytes


def test_a_per_element_time_in_the_spec_overrides_the_model():
    trainer = tiny_run(devices={"h0": FAST, "h1": SLOW}, encode_s_per_element=2e-9)
    result = trainer.run()
    n = result.summary["parameters"]
    encode, decode = trainer._codec_s
    assert encode == (2e-9 * n, 2e-9 * n)
    assert decode == (FAST.codec_time(trainer.codec.decode), SLOW.codec_time(trainer.codec.decode))
    assert result.summary["encode_s_per_element"] == 2e-9


def test_slower_codec_devices_give_longer_steps():
    times = [train(TrainConfig(**TINY, compressor="qcs"), Cluster(Topology.switch(2, LINK), dev)).summary["sim_time_s"]
             for dev in (FAST, SLOW)]
    assert times[1] > times[0]


def test_isgq_prices_its_linear_layers_in_factor_form():
    probe = tiny_run("isgq")
    probe.batches.append([])
    probe._worker_step(0, 0)
    shapes, factors = probe.exchange.work_shapes()
    # the digits MLP: Linear(64, 128) and Linear(128, 10) in factor form at batch 8; biases direct
    assert factors == [(8, 64, 128), (8, 128, 10)] and shapes == [(128,), (10,)]
    isgq = create("isgq")
    expect = isgq.work((8, 64, 128)) + isgq.work((8, 128, 10)) + isgq.direct.work((128,)) + isgq.direct.work((10,))
    trainer = tiny_run("isgq")
    trainer.run()
    assert trainer.codec == expect == codec_work("isgq", {}, shapes, factors)
    with pytest.raises(SpecError, match="not factors"):
        codec_work("qsgd", {}, shapes, factors)
