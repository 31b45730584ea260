"""Work records and their price on a device: Work arithmetic, codec_time by hand, defaults."""

import math

import pytest
from hypothesis import given, strategies as st

from hwmodels import CODEC_EFFICIENCY, Cost, Device, SpecError, Work, load_catalog
from hwmodels.record import from_entry

amounts = st.floats(0, 1e15)
works = st.builds(Work, amounts, amounts)


def device(**overrides):
    fields = dict(name="toy", peak_flops={"fp32": 1e9, "fp16": 4e9}, mem_bandwidth_Bps=1e10, mem_capacity_B=1e9,
                  active_power_W=10.0, idle_power_W=1.0)
    fields.update(overrides)
    return Device(**fields)


@given(works, works, works, st.floats(0, 1e3))
def test_work_adds_and_scales(a, b, c, s):
    total = a + b
    assert (total.flops, total.bytes) == (a.flops + b.flops, a.bytes + b.bytes)
    assert ((a + b) + c).flops == pytest.approx((a + (b + c)).flops, rel=1e-12)
    assert (a * s).flops == a.flops * s and (s * a).bytes == a.bytes * s
    assert a * 2 == a + a


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, True, "3"])
def test_work_validation_names_the_field(bad):
    with pytest.raises(SpecError, match=r"Work\.flops must be a finite number >= 0"):
        Work(bad, 0.0)
    with pytest.raises(SpecError, match=r"Work\.bytes"):
        Work(0.0, bad)


def test_work_scaling_is_checked():
    with pytest.raises(SpecError, match="scaled by a finite number >= 0"):
        Work(1.0, 1.0) * -2
    with pytest.raises(TypeError):
        Work(1.0, 1.0) * "2"
    with pytest.raises(TypeError):
        Work(1.0, 1.0) + 1.0


def test_codec_time_is_the_hand_roofline_at_the_codec_efficiency():
    d = device(codec_efficiency=0.5)
    # compute-bound: 1e9 ops at 1e9 x 0.5 = 2 s; 1e9 B at 1e10 x 0.5 = 0.2 s
    assert d.codec_time(Work(1e9, 1e9)) == pytest.approx(2.0, rel=1e-15)
    # memory-bound: 1e6 ops = 2 ms; 1e11 B = 20 s
    assert d.codec_time(Work(1e6, 1e11)) == pytest.approx(20.0, rel=1e-15)
    assert d.codec_time(Work(4e9, 0.0), dtype="fp16") == pytest.approx(2.0, rel=1e-15)
    assert d.codec_time(Work()) == 0.0
    # the model's efficiencies do not apply to codecs
    assert device(codec_efficiency=0.5, compute_efficiency=0.1, memory_efficiency=0.1).codec_time(Work(1e9, 1e9)) == 2.0
    cost = d.codec_cost(Work(1e9, 0.0))
    assert cost == Cost(2.0, 20.0, 0.0)
    with pytest.raises(SpecError, match="no peak_flops for dtype 'int8'"):
        d.codec_time(Work(1.0, 0.0), dtype="int8")
    with pytest.raises(SpecError, match="needs a hwmodels.Work"):
        d.codec_time(1e9)


def test_codec_efficiency_defaults_by_category_and_validates():
    for category, value in CODEC_EFFICIENCY.items():
        d = device(category=category)
        assert d.codec_fraction == value
        assert d.codec_time(Work(0.0, 1e10)) == pytest.approx(1.0 / value)
    assert device(category="quantum").codec_fraction == CODEC_EFFICIENCY["other"]
    assert device(category="cpu", codec_efficiency=0.9).codec_fraction == 0.9
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(SpecError, match="'codec_efficiency'"):
            device(codec_efficiency=bad)
    entry = {"name": "x", "peak_flops": {"fp32": "1GFLOPS"}, "mem_bandwidth": "10GB/s", "mem_capacity": "1GB",
             "active_power": "1W", "codec_efficiency": "20%"}
    assert from_entry(Device, entry).codec_fraction == pytest.approx(0.2)


def test_every_catalog_category_has_its_own_codec_default():
    categories = {d.category for d in load_catalog().entries("device")}
    assert categories <= set(CODEC_EFFICIENCY) - {"other"}
    assert all(0 < v <= 1 for v in CODEC_EFFICIENCY.values())


def test_calls_add_and_scale_with_the_rest_and_old_constructors_have_none():
    assert Work(1.0, 2.0).calls == 0
    assert Work(1.0, 2.0, 3) + Work(0.0, 0.0, 4) == Work(1.0, 2.0, 7)
    assert Work(1.0, 2.0, 3) * 2 == 2 * Work(1.0, 2.0, 3) == Work(2.0, 4.0, 6)
    with pytest.raises(SpecError, match=r"Work\.calls must be a finite number >= 0"):
        Work(0.0, 0.0, -1)


def test_call_overhead_is_added_to_the_roofline_not_maxed():
    d = device(codec_efficiency=0.5, call_overhead_s=5e-6)
    # 1e6 ops at 0.5 GFLOP/s = 2 ms, then 40 launches of 5 us = 0.2 ms on top
    assert d.codec_time(Work(1e6, 0.0, 40)) == pytest.approx(2e-3 + 40 * 5e-6, rel=1e-12)
    # calls alone: tiny kernels cost their launches
    assert d.codec_time(Work(0.0, 0.0, 3)) == pytest.approx(15e-6, rel=1e-12)
    # the model's layers: 1e6 FLOPs at 1 GFLOP/s = 1 ms plus 10 calls
    assert d.time(1e6, 0.0, calls=10) == pytest.approx(1e-3 + 50e-6, rel=1e-12)
    assert d.cost(1e6).latency_s == d.time(1e6)   # no calls: the roofline as before
    # the default is no overhead, so calls change nothing on an entry that gives none
    assert device().codec_time(Work(1e6, 0.0, 40)) == device().codec_time(Work(1e6, 0.0))
    with pytest.raises(SpecError, match="calls must be non-negative"):
        d.call_time(-1)


def test_call_overhead_reads_from_a_catalog_entry_with_units():
    entry = dict(name="e", peak_flops={"fp32": "1TFLOPS"}, mem_bandwidth="100GB/s", mem_capacity="8GiB",
                 active_power="10W", call_overhead="4us")
    assert from_entry(Device, entry).call_overhead_s == pytest.approx(4e-6)
    with pytest.raises(SpecError, match="call_overhead"):
        from_entry(Device, {**entry, "call_overhead": "-1us"})
    assert all(d.call_overhead_s == 0 for d in load_catalog().entries("device"))   # no cited figure yet


def test_codec_calls_use_their_own_overhead_when_given():
    d = device(codec_efficiency=0.5, call_overhead_s=2e-6, codec_call_overhead_s=6e-6)
    # codecs: 2 ms of roofline plus 40 calls at 6 us; the model's layers keep 2 us a call
    assert d.codec_time(Work(1e6, 0.0, 40)) == pytest.approx(2e-3 + 40 * 6e-6, rel=1e-12)
    assert d.time(1e6, 0.0, calls=10) == pytest.approx(1e-3 + 10 * 2e-6, rel=1e-12)
    # not given: codecs pay call_overhead_s
    assert device(codec_efficiency=0.5, call_overhead_s=2e-6).codec_time(Work(0.0, 0.0, 3)) == pytest.approx(6e-6)
    entry = dict(name="e", peak_flops={"fp32": "1TFLOPS"}, mem_bandwidth="100GB/s", mem_capacity="8GiB",
                 active_power="10W", codec_call_overhead="5.4us")
    assert from_entry(Device, entry).codec_call_overhead_s == pytest.approx(5.4e-6)
    with pytest.raises(SpecError, match="codec_call_overhead"):
        from_entry(Device, {**entry, "codec_call_overhead": "-1us"})
