"""`ddlsim --version`, `hw list` and `hw show` through typer's runner; user errors are one line."""

import json

import pytest
from typer.testing import CliRunner

from experiments.cli import app
from hwmodels import Catalog

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_user_catalog(monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)


def run(*args):
    return runner.invoke(app, list(args))


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("ddlsim ")


def test_hw_list_json_has_every_entry_with_source():
    result = run("hw", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data) == len(Catalog.load(use_env=False).entries())
    for item in data:
        assert item["name"] and item["kind"] in ("device", "link", "radio") and item["source"]


def test_hw_list_kind_filter_and_table():
    data = json.loads(run("hw", "list", "--kind", "radio", "--json").stdout)
    assert data and {d["kind"] for d in data} == {"radio"}
    table = run("hw", "list", "--kind", "link")
    assert table.exit_code == 0 and "Gbps" in table.stdout


def test_hw_show_json_fields_in_si():
    catalog = Catalog.load(use_env=False)
    device = catalog.entries("device")[0]
    data = json.loads(run("hw", "show", device.name, "--json").stdout)
    assert data["peak_flops_fp32"] == device.peak_flops["fp32"]
    assert data["mem_bandwidth_Bps"] == device.mem_bandwidth_Bps
    assert data["kind"] == "device" and data["source"] == device.source
    link = catalog.entries("link")[0]
    data = json.loads(run("hw", "show", link.name, "--json").stdout)
    assert data["bandwidth_Bps"] == link.bandwidth_Bps and data["latency_s"] == link.latency_s
    radio = catalog.entries("radio")[0]
    data = json.loads(run("hw", "show", radio.name, "--json").stdout)
    assert data["max_tx_power_W"] == radio.max_tx_power_W


def test_hw_show_table_prints_units():
    name = Catalog.load(use_env=False).entries("device")[0].name
    result = run("hw", "show", name)
    assert result.exit_code == 0 and "FLOPS" in result.stdout


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_name_is_one_line_with_suggestion():
    name = Catalog.load(use_env=False).entries("device")[0].name
    assert_one_line_error(run("hw", "show", name + "z"), "unknown hardware", name)


def test_bad_user_catalog_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("links:\n  - name: x\n    bandwidth: 10Gbs\n    source: me 2026\n")
    assert_one_line_error(run("--catalog", str(bad), "hw", "list"), str(bad), "links[0] 'x'", "'bandwidth'", "Gbs")


def test_debug_shows_the_exception(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("links:\n  - name: x\n    bandwidth: 10Gbs\n    source: me 2026\n")
    result = run("--debug", "--catalog", str(bad), "hw", "list")
    assert result.exit_code != 0 and result.exception is not None


def test_user_catalog_shadows_builtin(tmp_path, monkeypatch):
    link = Catalog.load(use_env=False).entries("link")[0].name
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"links:\n  - name: {link}\n    bandwidth: 1Mbps\n    source: slow copy, 2026\n")
    data = json.loads(run("--catalog", str(mine), "hw", "show", link, "--json").stdout)
    assert data["bandwidth_Bps"] == 125e3 and data["defined_in"] == str(mine)
    monkeypatch.setenv("DDLSIM_CATALOG", str(mine))
    data = json.loads(run("hw", "show", link, "--json").stdout)
    assert data["bandwidth_Bps"] == 125e3


def test_hw_show_radio_prints_receive_and_sleep_power():
    radio = Catalog.load(use_env=False).radio("ble-1m")
    table = run("hw", "show", "ble-1m")
    assert table.exit_code == 0 and "rx_power" in table.stdout and "sleep_power" in table.stdout
    data = json.loads(run("hw", "show", "ble-1m", "--json").stdout)
    assert data["rx_power_W"] == radio.rx_power_W and data["sleep_power_W"] == radio.sleep_power_W
