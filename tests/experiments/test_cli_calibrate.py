"""``ddlsim calibrate`` writes a catalog file that ``--catalog`` then uses like any built-in
entry; ``collective`` and ``netsim`` take a catalog link by name."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from experiments.cli import app
from experiments.measure.calibrate import DEVICE, LINK, SETTINGS, Calibration, Settings, write_catalog
from experiments.measure.fit import EfficiencyFit, RateFit
from experiments.measure.link import LoopbackFit
from hwmodels import Catalog

runner = CliRunner()


def _calibration() -> Calibration:
    gemm = {"fp32": RateFit(61.0e9, 1e-5, (0.01, -0.01)), "fp64": RateFit(30.5e9, 1e-5, (0.0, 0.0))}
    return Calibration("testhost", "2025-01-02", "9.9", "Test CPU", 2, gemm, RateFit(14.0e9, 4e-5, (0.0,)),
                       LoopbackFit(60e-6, 2.5e9, 300e-6, 2, (0.02, -0.03)), 2e-10,
                       EfficiencyFit(0.3125, (0.1, -0.1)))


def _json(*args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_catalog_file_round_trip_through_the_cli(tmp_path):
    path = write_catalog(_calibration(), tmp_path / "host.yaml")
    device = _json("--catalog", str(path), "hw", "show", DEVICE, "--json")
    assert device["peak_flops_fp32"] == pytest.approx(61.0e9, rel=1e-3)
    assert device["peak_flops_fp64"] == pytest.approx(30.5e9, rel=1e-3)
    assert device["mem_bandwidth_Bps"] == pytest.approx(14.0e9, rel=1e-3)
    assert device["source"] == "measured on testhost, 2025-01-02, ddlsim 9.9"
    assert device["codec_efficiency"] == 0.3125
    assert "placeholder" in device["notes"]
    link = _json("--catalog", str(path), "hw", "show", LINK, "--json")
    assert link["latency_s"] == pytest.approx(30e-6, rel=1e-3)   # alpha / 2: two hops per message
    assert link["bandwidth_Bps"] == pytest.approx(2.5e9, rel=1e-3)
    assert link["host_cores"] == 2 and link["oversubscription_latency_s"] == pytest.approx(300e-6, rel=1e-3)
    # The link by name in a collective: ring all-reduce on a switch, 2(p-1) steps of 2 hops.
    p, n = 4, 1e6
    out = _json("--catalog", str(path), "collective", "--op", "allreduce", "--algorithm", "ring", "--workers", str(p),
                "--size", "1MB", "--link", LINK, "--json")
    lat, bw = link["latency_s"], link["bandwidth_Bps"]
    assert out["link"] == LINK
    assert out["time_s"] == pytest.approx(2 * (p - 1) * 2 * lat + 2 * (p - 1) / p * n / bw, rel=1e-9)


def test_link_by_name_equals_the_same_bandwidth_and_latency():
    common = ["collective", "--op", "allgather", "--algorithm", "ring", "--workers", "4", "--size", "8MB", "--json"]
    by_name = _json(*common, "--link", "eth-10g")
    by_value = _json(*common, "--bandwidth", "10Gbps", "--latency", "10us")
    assert by_name["time_s"] == by_value["time_s"] and by_name["link"] == "eth-10g"


@pytest.mark.parametrize("args, match", [
    (["--link", "eth-10g", "--bandwidth", "1Gbps"], "not both"),
    (["--link", "eth-10g", "--latency", "1us"], "not both"),
    ([], "--link NAME"),
    (["--latency", "1us"], "--latency needs --bandwidth"),
    (["--link", "eth-10q"], "known: "),
])
def test_collective_link_errors(args, match):
    result = runner.invoke(app, ["collective", "--op", "allreduce", "--algorithm", "ring", "--workers", "4",
                                 "--size", "1MB", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], result.stderr
    if match == "known: ":
        assert "eth-10g" in lines[0] and "nvlink3" in lines[0]


def test_netsim_default_link_fills_links_without_figures(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({
        "nodes": [{"id": "a"}, {"id": "b"}, {"id": "s", "kind": "switch"}],
        "links": [{"a": "a", "b": "s"}, {"a": "s", "b": "b", "bandwidth": "1Gbps"}],
        "flows": [{"id": "f", "src": "a", "dst": "b", "bytes": "10MB"}]}))
    out = _json("netsim", str(scenario), "--link", "eth-10g", "--json")
    # two hops of 10 us (the second link takes the default latency), the 1 Gbps link the bottleneck
    assert out["flows"]["f"]["finish_s"] == pytest.approx(2 * 10e-6 + 10e6 * 8 / 1e9, rel=1e-12)
    out = _json("netsim", str(scenario), "--bandwidth", "1Gbps", "--latency", "5us", "--json")
    assert out["flows"]["f"]["finish_s"] == pytest.approx(2 * 5e-6 + 10e6 * 8 / 1e9, rel=1e-12)
    result = runner.invoke(app, ["netsim", str(scenario)])
    assert result.exit_code == 2 and "links[0].bandwidth: missing" in result.stderr


@pytest.mark.parametrize("out, match", [("host.txt", "ends in .yaml"), ("nowhere/host.yaml", "does not exist")])
def test_calibrate_rejects_a_bad_out_before_measuring(tmp_path, out, match):
    result = runner.invoke(app, ["calibrate", "--out", str(tmp_path / out)])
    assert result.exit_code == 2 and match in result.stderr


def test_calibrate_end_to_end_on_a_tiny_plan(tmp_path, monkeypatch):
    tiny = Settings({"fp32": (64, 128)}, (1 << 16, 1 << 17), (("qsgd", {}),), (64, 64), (2,), (4096, 1 << 23), 2, 0.01, (100, 400))
    monkeypatch.setitem(SETTINGS, "quick", tiny)
    path = tmp_path / "host.yaml"
    result = runner.invoke(app, ["calibrate", "--quick", "--out", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "8/8 tasks" in result.stderr   # the progress lines (stderr is not a terminal here)
    summary = json.loads(result.stdout)
    assert [p["op"] for p in summary["link_points"]] == ["p2p"] * 2 + ["allreduce"] * 2
    assert set(summary["codec_s_per_element"]["qsgd"]) == {"encode", "decode"} and len(summary["codec_residuals"]) == 2
    catalog = Catalog.load([path], use_env=False, builtin=False)
    assert set(catalog.device(DEVICE).peak_flops) == {"fp32"} and catalog.link(LINK).bandwidth_Bps > 0
    assert 0 < catalog.device(DEVICE).codec_efficiency <= 1
    # a dispatch costs between 10 ns and 1 ms on any host this runs on
    call_s = catalog.device(DEVICE).call_overhead_s
    assert 1e-8 < call_s < 1e-3 and call_s == pytest.approx(summary["call_overhead_s"], rel=1e-3)
    # a codec's calls on layer-sized tensors, fitted apart from the bare dispatch
    codec_call_s = catalog.device(DEVICE).codec_call_overhead_s
    assert 1e-8 < codec_call_s < 1e-3 and codec_call_s == pytest.approx(summary["codec_call_overhead_s"], rel=1e-3)
    assert catalog.link(LINK).host_cores >= 1
