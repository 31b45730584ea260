"""The built-in catalog loads, is cited and sensible; user files shadow it; bad files are named."""

import re
import textwrap

import pytest

from hwmodels import Catalog, Device, LinkSpec, Radio
from hwmodels.catalog import BUILTIN_DIR, ENV_VAR
from hwmodels.errors import SpecError


@pytest.fixture(scope="module")
def builtin():
    return Catalog.load(use_env=False)


def test_builtin_counts(builtin):
    assert len(builtin.entries("device")) >= 15
    assert len(builtin.entries("link")) >= 10
    assert len(builtin.entries("radio")) >= 6


def test_every_builtin_entry_is_cited(builtin):
    for record in builtin.entries():
        assert len(record.source) > 15, record.name
        # a URL, a year or a standard's number: something a reader can look up
        assert re.search(r"https?://|\b(19|20)\d\d\b|\bTS \d|\bIEEE\b", record.source), record.name


def test_builtin_names_unique_across_kinds(builtin):
    names = [r.name for r in builtin.entries()]
    assert len(names) == len(set(names))
    aliases = [a for r in builtin.entries() for a in r.aliases]
    assert not set(aliases) & set(names)
    assert len(aliases) == len(set(aliases))


def test_builtin_covers_the_device_classes(builtin):
    categories = {d.category for d in builtin.entries("device")}
    assert {"datacenter-gpu", "edge-gpu", "cpu", "mcu"} <= categories
    assert categories & {"phone-soc", "soc"}
    assert {l.category for l in builtin.entries("link")} >= {"nvlink", "pcie", "infiniband", "ethernet"}


def test_builtin_devices_are_physically_ordered(builtin):
    # Memory bandwidth and fp32 throughput span the datacenter-to-sensor range.
    by_category = {}
    for d in builtin.entries("device"):
        by_category.setdefault(d.category, []).append(d)
    assert min(d.peak_flops["fp32"] for d in by_category["datacenter-gpu"]) > 10 * max(
        d.peak_flops["fp32"] for d in by_category["mcu"]) * 1000
    for d in builtin.entries("device"):
        assert d.idle_power_W <= d.active_power_W
        assert 1e6 < d.peak_flops["fp32"] < 1e16, d.name
        assert 1e3 <= d.mem_capacity_B < 1e13, d.name


def test_records_have_the_right_types(builtin):
    assert all(isinstance(r, Device) for r in builtin.entries("device"))
    assert all(isinstance(r, LinkSpec) for r in builtin.entries("link"))
    assert all(isinstance(r, Radio) for r in builtin.entries("radio"))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


USER_DEVICE = """
devices:
  - name: my-board
    category: soc
    peak_flops: {fp32: 1TFLOPS}
    mem_bandwidth: 50GB/s
    mem_capacity: 8GiB
    active_power: 10W
    source: "own measurement, 2026"
"""


def test_user_file_adds_and_shadows(tmp_path, builtin):
    some_link = builtin.entries("link")[0].name
    path = write(tmp_path, "mine.yaml", USER_DEVICE + f"""
links:
  - name: {some_link}
    bandwidth: 1Mbps
    source: "deliberately slow copy, 2026"
""")
    catalog = Catalog.load([path], use_env=False)
    assert catalog.device("my-board").mem_capacity_B == 8 * 2**30
    assert catalog.link(some_link).bandwidth_Bps == 125e3
    assert catalog.origin[("link", some_link)] == path
    assert len(catalog.entries("link")) == len(builtin.entries("link"))


def test_environment_variable_and_folders(tmp_path, monkeypatch):
    folder = tmp_path / "cat"
    folder.mkdir()
    write(folder, "a.yaml", USER_DEVICE)
    monkeypatch.setenv(ENV_VAR, str(folder))
    assert Catalog.load().device("my-board").active_power_W == 10.0


def test_unknown_name_suggests_close_ones(builtin):
    name = builtin.entries("device")[0].name
    with pytest.raises(SpecError) as err:
        builtin.device(name[:-1] + "x")
    assert "unknown device" in str(err.value) and name in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devices:\n  - name: b\n    peak_flops: {fp32: 1TFLOPS}\n    mem_bandwidth: 50GB/s\n    mem_capacity: 8GiB\n    active_power: 10W\n",
         "devices[0] 'b': field 'source' is required"),
        (USER_DEVICE.replace("50GB/s", "50GBs"), "devices[0] 'my-board': field 'mem_bandwidth': unknown rate unit 'GBs'"),
        (USER_DEVICE.replace("active_power: 10W", "active_power: -10W"), "devices[0] 'my-board': field 'active_power_W' must be positive"),
        (USER_DEVICE.replace("category: soc", "categry: soc"), "unknown field 'categry'"),
        ("gpus:\n  - name: x\n", "unknown section 'gpus'"),
        ("devices: [\n", "not valid YAML"),
        ("devices:\n  - peak_flops: 1\n", "each entry needs a 'name'"),
        (USER_DEVICE + USER_DEVICE.replace("devices:", ""), "defined twice"),
    ],
)
def test_bad_files_name_file_entry_and_field(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SpecError) as err:
        Catalog.load([path], use_env=False)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(SpecError, match="catalog file not found"):
        Catalog.load([tmp_path / "nope.yaml"], use_env=False)


def test_builtin_files_are_shipped_as_package_data():
    assert {p.name for p in BUILTIN_DIR.glob("*.yaml")} == {"devices.yaml", "links.yaml", "radios.yaml"}


@pytest.mark.parametrize(
    ("name", "field", "published"),
    [
        # NVIDIA A100 datasheet (2020): 19.5 TFLOPS fp32, 312 TFLOPS fp16 tensor, 1,555 GB/s (40 GB SXM)
        ("a100-sxm4-40gb", ("peak_flops", "fp32"), 19.5e12),
        ("a100-sxm4-40gb", ("peak_flops", "fp16"), 312e12),
        ("a100-sxm4-40gb", "mem_bandwidth_Bps", 1555e9),
        # NVIDIA V100 datasheet (2017/2020): 15.7 TFLOPS fp32 (SXM2), 900 GB/s, 300 W
        ("v100-sxm2-32gb", ("peak_flops", "fp32"), 15.7e12),
        ("v100-sxm2-32gb", "active_power_W", 300.0),
        # NVIDIA H100 datasheet: 3.35 TB/s, 700 W (SXM5)
        ("h100-sxm5-80gb", "mem_bandwidth_Bps", 3.35e12),
        ("h100-sxm5-80gb", "active_power_W", 700.0),
        # Jetson Nano module data sheet (2020): 472 GFLOPS fp16, 25.6 GB/s
        ("jetson-nano", ("peak_flops", "fp16"), 472e9),
        ("jetson-nano", "mem_bandwidth_Bps", 25.6e9),
        # IEEE 802.3: 10 Gb/s; InfiniBand HDR: 200 Gb/s per direction
        ("eth-10g", "bandwidth_Bps", 10e9 / 8),
        ("ib-hdr", "bandwidth_Bps", 200e9 / 8),
        # 3GPP power class 3 UE: 23 dBm; LoRa EU868 14 dBm, 125 kHz
        ("lte-20mhz-ue", "max_tx_power_W", 10 ** (23 / 10) / 1000),
        ("lora-eu868-125khz", "max_tx_power_W", 10 ** (14 / 10) / 1000),
        ("lora-eu868-125khz", "bandwidth_Hz", 125e3),
    ],
)
def test_builtin_numbers_match_published_values(builtin, name, field, published):
    record = builtin.get(name)
    value = getattr(record, field[0])[field[1]] if isinstance(field, tuple) else getattr(record, field)
    assert value == pytest.approx(published, rel=1e-3)
