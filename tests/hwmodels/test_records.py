"""Device roofline, link and radio formulas, Cost composition, record validation."""

import math

import pytest
from hypothesis import given, strategies as st

from hwmodels import Cost, Device, LinkSpec, Radio
from hwmodels.errors import SpecError
from hwmodels.record import from_entry, to_json
from hwmodels.units import dbm_to_watts, watts_to_dbm


def gpu(**overrides):
    fields = dict(name="toy-gpu", peak_flops={"fp32": 10e12, "fp16": 40e12}, mem_bandwidth_Bps=1e12,
                  mem_capacity_B=16e9, active_power_W=300.0, idle_power_W=50.0)
    fields.update(overrides)
    return Device(**fields)


def test_roofline_compute_bound_by_hand():
    # 1 TFLOP at 10 TFLOP/s = 0.1 s; 1 GB at 1 TB/s = 1 ms: compute wins.
    assert gpu().time(1e12, 1e9) == pytest.approx(0.1, rel=1e-15)


def test_roofline_memory_bound_by_hand():
    # 1 GFLOP = 0.1 ms; 10 GB at 1 TB/s = 10 ms: memory wins.
    assert gpu().time(1e9, 10e9) == pytest.approx(0.01, rel=1e-15)


def test_roofline_dtype_and_efficiency():
    device = gpu(compute_efficiency=0.5, memory_efficiency=0.8)
    assert device.time(4e12, 0, dtype="fp16") == pytest.approx(4e12 / (40e12 * 0.5))
    assert device.time(0, 8e9) == pytest.approx(8e9 / (1e12 * 0.8))
    with pytest.raises(SpecError, match="no peak_flops for dtype 'int8'"):
        device.time(1, 0, dtype="int8")


def test_energy_is_active_power_times_time_plus_idle():
    device = gpu()
    assert device.energy(1e12, 0, idle_s=2.0) == pytest.approx(300 * 0.1 + 50 * 2.0)
    cost = device.cost(1e12)
    assert (cost.latency_s, cost.energy_j, cost.bits) == pytest.approx((0.1, 30.0, 0.0))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mem_bandwidth_Bps": -1.0}, "mem_bandwidth_Bps"),
        ({"mem_bandwidth_Bps": 0.0}, "mem_bandwidth_Bps"),
        ({"active_power_W": math.nan}, "active_power_W"),
        ({"compute_efficiency": 1.5}, "compute_efficiency"),
        ({"idle_power_W": 400.0}, "idle_power_W"),
        ({"peak_flops": {}}, "peak_flops"),
        ({"peak_flops": {"fp32": -1.0}}, "peak_flops.fp32"),
        ({"peak_flops": {"fp33": 1.0}}, "peak_flops"),
        ({"name": ""}, "name"),
    ],
)
def test_device_validation_names_the_field(overrides, field):
    with pytest.raises(SpecError, match=f"'{field}'"):
        gpu(**overrides)


def test_records_are_frozen():
    with pytest.raises(AttributeError):
        gpu().active_power_W = 1.0  # type: ignore[misc]


def test_link_transfer_cost_by_hand():
    link = LinkSpec(name="10gbe", bandwidth_Bps=1.25e9, latency_s=5e-6, energy_per_bit_J=10e-12)
    # 125 MB at 1.25 GB/s = 0.1 s, plus 5 us.
    assert link.transfer_time(125e6) == pytest.approx(0.100005)
    cost = link.cost(125e6)
    assert cost.bits == 1e9
    assert cost.energy_j == pytest.approx(1e9 * 10e-12)
    with pytest.raises(SpecError, match="'latency_s'"):
        LinkSpec(name="x", bandwidth_Bps=1.0, latency_s=-1.0)
    with pytest.raises(SpecError, match="'bandwidth_Bps'"):
        LinkSpec(name="x", bandwidth_Bps=0.0)


def test_radio_noise_floor_is_minus_174_dbm_per_hz():
    radio = Radio(name="lte", max_tx_power_W=dbm_to_watts(23), bandwidth_Hz=20e6, carrier_frequency_Hz=2e9, noise_figure_dB=9.0)
    expected_dbm = -173.975 + 10 * math.log10(20e6) + 9.0  # kT at 290 K is -173.975 dBm/Hz
    assert watts_to_dbm(radio.noise_power_W()) == pytest.approx(expected_dbm, abs=1e-3)


def test_radio_shannon_rate_and_cap():
    radio = Radio(name="r", max_tx_power_W=0.1, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9)
    assert radio.shannon_rate_Bps(3.0) == pytest.approx(1e6 * 2 / 8)  # log2(4) = 2 bit/s/Hz
    capped = Radio(name="r", max_tx_power_W=0.1, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, max_phy_rate_Bps=1e5)
    assert capped.shannon_rate_Bps(1e6) == 1e5


def test_from_entry_parses_units_and_accepts_si_names():
    with_units = from_entry(LinkSpec, {"name": "l", "bandwidth": "10Gbps", "latency": "5us", "source": "s"})
    with_si = from_entry(LinkSpec, {"name": "l", "bandwidth_Bps": 1.25e9, "latency_s": 5e-6, "source": "s"})
    assert with_units == with_si


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "l", "bandwidth": "10Gbs"}, "field 'bandwidth': unknown rate unit 'Gbs'"),
        ({"name": "l", "bandwidth": "-10Gbps"}, "'bandwidth_Bps' must be positive"),
        ({"name": "l", "bandwith": "10Gbps"}, "unknown field 'bandwith'"),
        ({"name": "l"}, "missing required field 'bandwidth'"),
        ({"name": "l", "bandwidth": "1Gbps", "bandwidth_Bps": 1.0}, "given twice"),
    ],
)
def test_from_entry_errors_name_entry_and_field(entry, message):
    with pytest.raises(SpecError) as err:
        from_entry(LinkSpec, entry, "links.yaml: links[0] 'l'")
    assert str(err.value).startswith("links.yaml: links[0] 'l': ")
    assert message in str(err.value)


def test_to_json_flattens_with_unit_suffixes():
    data = to_json(gpu())
    assert data["kind"] == "device" and data["name"] == "toy-gpu"
    assert data["peak_flops_fp32"] == 10e12 and data["peak_flops_fp16"] == 40e12
    assert data["mem_bandwidth_Bps"] == 1e12 and data["active_power_W"] == 300.0


costs = st.builds(Cost, st.floats(0, 1e3), st.floats(0, 1e3), st.floats(0, 1e9))


@given(costs, costs, costs)
def test_cost_series_and_parallel_rules(a, b, c):
    s = a + b
    assert s.latency_s == a.latency_s + b.latency_s and s.energy_j == a.energy_j + b.energy_j and s.bits == a.bits + b.bits
    p = a | b
    assert p.latency_s == max(a.latency_s, b.latency_s) and p.energy_j == a.energy_j + b.energy_j and p.bits == a.bits + b.bits
    left, right = (a | b) | c, a | (b | c)
    assert left.latency_s == right.latency_s
    assert (left.energy_j, left.bits) == pytest.approx((right.energy_j, right.bits), rel=1e-12)
    assert Cost.parallel([a, b, c]).latency_s == max(a.latency_s, b.latency_s, c.latency_s)
    assert Cost.series([a, b, c]).latency_s == pytest.approx(a.latency_s + b.latency_s + c.latency_s)
    assert (a + b).latency_s >= (a | b).latency_s


def test_cost_rejects_negative():
    with pytest.raises(SpecError, match="latency_s"):
        Cost(-1.0)
