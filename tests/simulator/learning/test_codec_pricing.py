"""Codec time in training is declared work priced on each worker's device: no host clock, no
cache, the same JSON anywhere; a per-element time in the spec overrides it."""

import json
from dataclasses import replace
import time

import pytest

from hwmodels import Device, LinkSpec, SpecError, Work
from simulator.cluster import Cluster
from simulator.compression import CodecWork, create
from simulator.learning import TrainConfig, Trainer, train
from simulator.learning.codec import codec_work
from simulator.models import build
from simulator.network import Topology

FAST = Device(name="fast", peak_flops={"fp32": 1e12}, mem_bandwidth_Bps=1e11, mem_capacity_B=1e9,
              active_power_W=10.0, idle_power_W=2.0, category="edge-gpu")
SLOW = Device(name="slow", peak_flops={"fp32": 1e10}, mem_bandwidth_Bps=1e9, mem_capacity_B=1e9,
              active_power_W=5.0, idle_power_W=1.0, category="sbc", codec_efficiency=0.5, call_overhead_s=5e-6)
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
    plan = trainer.last_plan
    assert len(plan.buckets) == 1                 # the digits MLP's gradients fit DDP's first bucket
    assert plan.buckets[0].encode == (expect.encode.flops, expect.encode.bytes, expect.encode.calls)
    spans = {s.name: s.duration_s for s in trainer.coster.trace(plan).timeline.spans if s.kind in ("compute", "codec")}
    assert spans["encode/b0/h0"] == pytest.approx(FAST.codec_time(expect.encode), rel=1e-12)
    assert spans["encode/b0/h1"] == pytest.approx(SLOW.codec_time(expect.encode), rel=1e-12)
    # the slow host pays 5 us for each of qsgd's operators: 16 per tensor of the 4, and 2 to pad
    # the 1280 weights of the last layer to 3 buckets of 512
    assert expect.encode.calls == 4 * 16 + 2
    assert SLOW.codec_time(expect.encode) - SLOW.codec_time(replace(expect.encode, calls=0)) == pytest.approx(66 * 5e-6)
    # all-gather: each worker decodes both payloads and adds each into the mean (n FLOPs, 12 n
    # bytes, one operator)
    n = result.summary["parameters"]
    decode = expect.decode + Work(n, 12.0 * n, 1)
    assert spans["decode/b0/h1"] == pytest.approx(2 * SLOW.codec_time(decode), rel=1e-12)
    assert result.summary["encode_s_per_element"] == FAST.codec_time(expect.encode) / n
    assert result.summary["codec_work"]["encode_bytes"] == expect.encode.bytes
    assert result.summary["codec_work"]["encode_calls"] == 66


def test_a_per_element_time_in_the_spec_overrides_the_model():
    trainer = tiny_run(devices={"h0": FAST, "h1": SLOW}, encode_s_per_element=2e-9)
    result = trainer.run()
    n = result.summary["parameters"]
    bucket = trainer.last_plan.buckets[0]
    assert bucket.encode_s == pytest.approx(2e-9 * n, rel=1e-12) and bucket.decode_s is None
    spans = {s.name: s.duration_s for s in trainer.coster.trace(trainer.last_plan).timeline.spans}
    assert [spans["encode/b0/h0"], spans["encode/b0/h1"]] == pytest.approx([2e-9 * n] * 2)
    assert result.summary["encode_s_per_element"] == 2e-9


def test_slower_codec_devices_give_longer_steps():
    times = [train(TrainConfig(**TINY, compressor="qcs"), Cluster(Topology.switch(2, LINK), dev)).summary["sim_time_s"]
             for dev in (FAST, SLOW)]
    assert times[1] > times[0]


def test_isgq_prices_its_linear_layers_in_factor_form():
    trainer = tiny_run("isgq")
    trainer.run()
    # the digits MLP: Linear(64, 128) and Linear(128, 10) in factor form at batch 8; biases direct
    isgq = create("isgq")
    per_tensor = [isgq.work((8, 64, 128)), isgq.direct.work((128,)), isgq.work((8, 128, 10)), isgq.direct.work((10,))]
    assert trainer.tensor_work == per_tensor
    expect = sum(per_tensor, CodecWork())
    assert trainer.codec == expect == codec_work("isgq", {}, [(128,), (10,)], [(8, 64, 128), (8, 128, 10)])
    with pytest.raises(SpecError, match="not factors"):
        codec_work("qsgd", {}, [(128,)], [(8, 64, 128)])
