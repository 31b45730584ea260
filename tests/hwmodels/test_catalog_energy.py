"""The built-in catalog prices energy everywhere: idle power, energy per bit, radio draws, each sourced."""

import re
from pathlib import Path

import pytest

from hwmodels import Catalog, Radio, units
from hwmodels.errors import SpecError
from hwmodels.record import from_entry, readable_fields, to_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


@pytest.fixture(scope="module")
def builtin():
    return Catalog.load(use_env=False)


def dbm(p_dbm):
    return 10 ** (p_dbm / 10) / 1000


def test_every_device_idles_below_its_active_power(builtin):
    for d in builtin.entries("device"):
        assert 0 < d.idle_power_W <= d.active_power_W, d.name
        assert "idle" in d.notes.lower() or "idle" in d.source.lower(), d.name


def test_every_link_charges_energy_per_bit(builtin):
    for link in builtin.entries("link"):
        assert 1e-13 < link.energy_per_bit_J < 1e-9, link.name   # 0.1 pJ to 1 nJ per bit
        assert "pJ/bit" in link.notes, link.name                 # the arithmetic is shown
        assert link.cost(1.0).energy_j == pytest.approx(8 * link.energy_per_bit_J)


def test_every_radio_has_receive_and_circuit_power(builtin):
    for r in builtin.entries("radio"):
        assert r.rx_power_W is not None and r.rx_power_W > 0, r.name
        assert r.circuit_power_W > 0, r.name
        # sending costs more than listening, sleeping far less than either
        assert r.max_tx_power_W + r.circuit_power_W > r.rx_power_W, r.name
        if r.sleep_power_W is not None:
            assert 0 < r.sleep_power_W < r.rx_power_W / 5, r.name


@pytest.mark.parametrize(
    ("name", "field", "published"),
    [
        # nRF52840 Product Specification, Sleep: ION_RAMON_RTC 3.16 uA at 3 V
        ("nrf52840", "idle_power_W", 3.16e-6 * 3.0),
        # same PS, radio table (DC/DC, 3 V): IRADIO_RX0 6.26 mA; IRADIO_TX0 16.40 mA at +8 dBm
        ("ble-1m", "rx_power_W", 6.26e-3 * 3.0),
        ("ble-1m", "circuit_power_W", 16.40e-3 * 3.0 - dbm(8)),
        ("ble-1m", "sleep_power_W", 3.16e-6 * 3.0),
        # Semtech SX1276 datasheet Table 6 at 3.3 V: IDDR LnaBoost on band 1 11.5 mA; IDDT +13 dBm RFO 29 mA;
        # front page: 200 nA register retention
        ("lora-eu868-125khz", "rx_power_W", 11.5e-3 * 3.3),
        ("lora-eu868-125khz", "circuit_power_W", 29e-3 * 3.3 - dbm(13)),
        ("lora-eu868-125khz", "sleep_power_W", 200e-9 * 3.3),
        # Atmel AT86RF231 at 3.0 V: RX_ON 12.3 mA, SLEEP 0.02 uA
        ("zigbee-2.4ghz", "rx_power_W", 12.3e-3 * 3.0),
        ("zigbee-2.4ghz", "sleep_power_W", 0.02e-6 * 3.0),
        # ns-3 WifiRadioEnergyModel (RX 0.313 A, sleep 0.033 A) and LinearWifiTxCurrentModel
        # (I = P / (V eta) + I_idle, V = 3.0, eta = 0.10, I_idle = 0.273333 A) at 15 dBm
        ("wifi6-80mhz", "rx_power_W", 0.313 * 3.0),
        ("wifi6-80mhz", "sleep_power_W", 0.033 * 3.0),
        ("wifi6-80mhz", "circuit_power_W", (dbm(15) / (3.0 * 0.10) + 0.273333) * 3.0 - dbm(15)),
        # Huang et al., MobiSys 2012, Table 4: beta 1288.04 mW, alpha_u 438.39, alpha_d 51.97 mW/Mbps;
        # median LTE rates 13 Mb/s down, 6 Mb/s up (abstract)
        ("lte-20mhz-ue", "rx_power_W", 1.28804 + 0.05197 * 13),
        ("lte-20mhz-ue", "circuit_power_W", 1.28804 + 0.43839 * 6 - dbm(23)),
        # Cloud Carbon Footprint methodology, Appendix III GPU idle watts
        ("v100-sxm2-32gb", "idle_power_W", 35.0),
        ("a100-sxm4-40gb", "idle_power_W", 46.0),
        ("t4", "idle_power_W", 8.0),
        ("h100-sxm5-80gb", "idle_power_W", 700 * 46 / 407),
        # CCF SPECpower-derived EPYC 3rd Gen coefficients (0.45 / 2.02 W per vCPU) x 280 W TDP
        ("epyc-7763", "idle_power_W", 280 * 0.45 / 2.02),
        # NVIDIA forum: Orin Nano 8GB tegrastats VDD_IN 2180 mW at idle; other Jetsons scale by 2.18 / 15
        ("jetson-orin-nano-8gb", "idle_power_W", 2.18),
        ("jetson-agx-orin-64gb", "idle_power_W", 60 * 2.18 / 15),
        # ConnectX-3 EN 10GbE adapter 4.84 W over 2 x 10 Gb/s + Tomahawk 4 (500 W / 1.1) over 2 x 25.6 Tb/s
        ("eth-10g", "energy_per_bit_J", 4.84 / (2 * 10e9) + 500 / 1.1 / (2 * 25.6e12)),
        # dual-port QDR HCA 12.23 W / 2 over 2 x 400 Gb/s + Tomahawk 5 500 W over 2 x 51.2 Tb/s
        ("ib-ndr", "energy_per_bit_J", 12.23 / 2 / (2 * 400e9) + 500 / (2 * 51.2e12)),
        # NVIDIA: NVLink-C2C 1.3 pJ/bit is up to 25x more energy efficient than PCIe Gen 5; SerDes 5.5 pJ/bit
        ("pcie5-x16", "energy_per_bit_J", 25 * 1.3e-12),
        ("nvlink4", "energy_per_bit_J", 5.5e-12),
    ],
)
def test_energy_figures_match_their_sources(builtin, name, field, published):
    assert getattr(builtin.get(name), field) == pytest.approx(published, rel=2e-3)


def test_switched_path_charges_both_adapters_and_one_switch(builtin):
    # host -> switch -> host crosses two links: 2 x (adapter port + switch port) = adapter energy per bit
    # at both ends (P / R together) + one switch traversal (P / C).
    link = builtin.link("eth-100g")
    adapters = (12.23 / 2) / 100e9
    switch = 500 / 1.1 / 25.6e12
    assert 2 * link.energy_per_bit_J == pytest.approx(adapters + switch, rel=2e-3)


def test_radio_power_fields_parse_validate_and_print():
    entry = {"name": "r", "max_tx_power": "20dBm", "bandwidth": "1MHz", "carrier_frequency": "2.4GHz",
             "rx_power": "50mW", "sleep_power": "2uW", "source": "test, 2026"}
    radio = from_entry(Radio, entry)
    assert radio.rx_power_W == pytest.approx(0.05) and radio.sleep_power_W == pytest.approx(2e-6)
    shown = dict(readable_fields(radio))
    assert shown["rx_power"] == "50 mW" and shown["sleep_power"] == "2 uW"
    assert to_json(radio)["rx_power_W"] == pytest.approx(0.05)
    bare = Radio(name="b", max_tx_power_W=0.1, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9)
    assert bare.rx_power_W is None and bare.sleep_power_W is None and "rx_power" not in dict(readable_fields(bare))
    with pytest.raises(SpecError, match="rx_power_W"):
        Radio(name="bad", max_tx_power_W=0.1, bandwidth_Hz=1e6, carrier_frequency_Hz=2.4e9, rx_power_W=-1.0)
    with pytest.raises(SpecError, match="field 'sleep_power'"):
        from_entry(Radio, {**entry, "sleep_power": "2 parsecs"})


def expected_figure(record):
    fmt = lambda v, dim="power": units.fmt(v, dim, 4)  # noqa: E731
    if record.kind == "device":
        return f"idle {fmt(record.idle_power_W)} (active {fmt(record.active_power_W)})"
    if record.kind == "link":
        return fmt(record.energy_per_bit_J, "energy_per_bit")
    sleep = f", sleep {fmt(record.sleep_power_W)}" if record.sleep_power_W is not None else ""
    return f"rx {fmt(record.rx_power_W)}, circuit {fmt(record.circuit_power_W)}{sleep}"


def test_docs_energy_table_matches_the_catalog(builtin):
    section = DOC.read_text().split("## Energy figures", 1)[1].split("\n## ", 1)[0]
    seen = {}
    for names, figure in re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|", section, flags=re.M):
        for name in re.findall(r"`([^`]+)`", names):
            seen[name] = figure.strip()
    assert set(seen) == {r.name for r in builtin.entries()}
    for name, figure in seen.items():
        assert figure == expected_figure(builtin.get(name)), name
