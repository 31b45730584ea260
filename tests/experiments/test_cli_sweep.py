"""``ddlsim sweep``, ``results``, ``plot`` and ``compare-hw`` end to end, and their bad input."""

import json
import os
import time

import pytest
from typer.testing import CliRunner

from experiments.cli import app

SPEC = """name: cli
workload: collective
base: {op: allreduce, size: 1MiB, bandwidth: 10Gbps, latency: 5us, mode: analytic}
sweep:
  grid: {workers: [2, 4, 8], algorithm: [ring, halving-doubling]}
repeats: 2
plots:
  - {name: scaling, x: workers, y: time_s, hue: algorithm}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_sweep_results_plot(spec, tmp_path):
    out = tmp_path / "out"
    res = invoke("sweep", spec, "--out", out, "--workers", "0", "--csv")
    assert res.exit_code == 0, res.output
    assert "12 points (12 run, 0 already done, 0 failed)" in res.stdout
    assert (out / "results.parquet").exists() and (out / "results.csv").exists()
    assert (out / "plots" / "scaling.png").stat().st_size > 1000
    assert "12 already done" in invoke("sweep", spec, "--out", out, "--workers", "0").stdout
    rows = json.loads(invoke("results", out, "--format", "json").stdout)
    assert len(rows) == 12 and {"workers", "algorithm", "time_s", "hash", "seed", "status"} <= set(rows[0])
    table = invoke("results", out).stdout
    assert "halving-doubling" in table and "hash" not in table
    assert invoke("results", out, "--format", "csv").stdout.startswith("sweep,")
    res = invoke("plot", out, "--x", "workers", "--y", "time_s", "--hue", "algorithm", "--out", tmp_path / "p.png")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.png").exists() and (tmp_path / "p.svg").exists()


HW_SPEC = "name: hw\nworkload: collective\nbase: {op: allreduce, algorithm: ring, workers: 8, size: 64MiB, mode: analytic}\n"


def test_compare_hw(tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text(HW_SPEC)
    res = invoke("compare-hw", spec, "--devices", "a100-sxm4-40gb@ib-hdr,jetson-agx-orin-64gb@eth-1g",
                 "--out", tmp_path / "o", "--workers", "0")
    assert res.exit_code == 0, res.output
    assert "a100-sxm4-40gb" in res.stdout and "jetson-agx-orin-64gb" in res.stdout
    assert "collective time (s): mean" in res.stdout       # the metric and its unit head the table
    assert (tmp_path / "o" / "plots" / "compare-time_s.png").exists()
    res = invoke("compare-hw", spec, "--devices", "a100-sxm4-40gb,x@eth-1g", "--workers", "0")
    assert res.exit_code == 2 and "DEVICE@LINK" in res.stderr


def test_compare_hw_two_devices_on_two_links_gives_four_bars(tmp_path, monkeypatch):
    from experiments import plots

    drawn = []
    monkeypatch.setattr(plots, "save", lambda fig, path, formats=("png", "svg"): drawn.append(fig) or [path])
    spec = tmp_path / "hw.yaml"
    spec.write_text(HW_SPEC)
    res = invoke("compare-hw", spec, "--devices", "a100-sxm4-40gb,jetson-agx-orin-64gb", "--links", "eth-1g,eth-10g",
                 "--out", tmp_path / "o", "--workers", "0", "--csv")
    assert res.exit_code == 0, res.output
    ax = drawn[0].axes[0]
    assert len(ax.patches) == 4 and ax.get_ylabel() == "collective time (s)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a100-sxm4-40gb", "jetson-agx-orin-64gb"]
    legend = ax.get_legend() or drawn[0].legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["eth-1g", "eth-10g"]
    import pandas as pd

    table = pd.read_csv(tmp_path / "o" / "comparison.csv")
    assert list(table.columns) == ["device", "link", "collective time (s): mean", "sd", "runs"] and len(table) == 4
    # bars hue-major (eth-1g for both devices, then eth-10g); the table device-major
    bars = [p.get_height() for p in ax.patches]
    expected = table.set_index(["device", "link"])["collective time (s): mean"]
    assert bars == pytest.approx([expected[(d, lk)] for lk in ("eth-1g", "eth-10g")
                                  for d in ("a100-sxm4-40gb", "jetson-agx-orin-64gb")])
    assert bars[2] < bars[0] / 5 and bars[3] < bars[1] / 5         # 10 GbE: about 10x faster
    assert (tmp_path / "o" / "results.csv").exists()


def test_compare_hw_replaces_the_specs_own_hardware_axes():
    from experiments.cli.compare_hw import hardware_spec
    from experiments.demo import preset
    from experiments.sweep import expand

    spec = hardware_spec(preset("demo-hardware"), ["a100-sxm4-40gb@ib-hdr", "raspberry-pi-5-4gb@eth-1g"])
    assert [(p.config["device"], p.config["link"]) for p in expand(spec)] == [
        ("a100-sxm4-40gb", "ib-hdr"), ("raspberry-pi-5-4gb", "eth-1g")]


def test_compare_hw_checks_the_metric_before_running(tmp_path):
    spec = tmp_path / "hw.yaml"
    spec.write_text(HW_SPEC)
    res = invoke("compare-hw", spec, "--devices", "a100-sxm4-40gb", "--metric", "tme_s", "--out", tmp_path / "o",
                 "--workers", "0")
    assert res.exit_code == 2 and "no metric 'tme_s' in workload collective" in res.stderr
    assert not (tmp_path / "o").exists()
    res = invoke("compare-hw", spec, "--devices", "a100-sxm4-40gb@ib-hdr", "--links", "eth-1g", "--workers", "0")
    assert res.exit_code == 2 and "not both" in res.stderr


def test_sweep_prints_plain_progress_lines_off_a_terminal(spec, tmp_path):
    res = invoke("sweep", spec, "--out", tmp_path / "out", "--workers", "0")
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("cli: ")]
    assert lines[0].startswith("cli: 0/12 points, 0 failed") and lines[-1].startswith("cli: 12/12 points, 0 failed")


@pytest.mark.parametrize(("text", "message"), [
    ("sweep:\n  grid: {wrkers: [1, 2]}\n", "sweep.grid.wrkers: unknown axis path"),
    ("sweep:\n  grid: {workers: []}\n", "has no values"),
    ("seeds: []\n", "seeds"),
])
def test_bad_spec_is_one_line_and_writes_nothing(tmp_path, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.split("sweep:")[0] + text)
    res = invoke("sweep", spec, "--out", tmp_path / "out", "--workers", "0")
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_fails_fast(spec, tmp_path, monkeypatch):
    monkeypatch.setattr("experiments.sweep.CONNECT_TIMEOUT_S", 2)
    t0 = time.monotonic()
    res = invoke("sweep", spec, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert res.exit_code == 2 and "cannot reach the Dask scheduler" in res.stderr
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "out" / "results.parquet").exists()


def test_unwritable_output(spec, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = invoke("sweep", spec, "--out", blocker / "out", "--workers", "0")
    assert res.exit_code == 2 and "is a file, not a folder" in res.stderr
    assert blocker.read_text() == "x"


def test_results_of_nothing(tmp_path):
    assert invoke("results", tmp_path).exit_code == 2
    assert invoke("results", tmp_path, "--format", "xml").exit_code == 2


def test_catalog_option_reaches_sweep_points(tmp_path, monkeypatch):
    # A user link defined only through --catalog must be visible where the points run.
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)
    mine = tmp_path / "mine.yaml"
    mine.write_text("links:\n  - name: my-slow-link\n    bandwidth: 1Gbps\n    latency: 1ms\n    source: own test, 2026\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("name: user-link\nworkload: collective\n"
                    "base: {op: allreduce, algorithm: ring, size: 1MB, link: my-slow-link, mode: analytic}\n"
                    "sweep: {grid: {workers: [2, 4]}}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["--catalog", str(mine), "sweep", str(spec), "--out", str(out), "--workers", "0"])
    assert result.exit_code == 0, result.output
    table = json.loads(CliRunner().invoke(app, ["results", str(out), "--format", "json"]).stdout)
    assert {row["status"] for row in table} == {"ok"}
    # ring all-reduce, p = 4 on a switch: 2(p-1) * 2 ms + 2 (3/4) 1 MB / 125 MB/s
    four = next(row for row in table if row["workers"] == 4)
    assert four["time_s"] == pytest.approx(6 * 2e-3 + 1.5 * 1e6 / 125e6)
    assert "DDLSIM_CATALOG" not in os.environ


def test_a_failed_point_is_written_and_exits_1(tmp_path):
    spec = tmp_path / "s.yaml"
    # a failure found only by running (here a timeout; invalid configs are refused before any point runs)
    spec.write_text("name: half-bad\nworkload: collective\ntimeout_s: 0.5\n"
                    "base: {op: allreduce, size: 1MB, link: eth-1g, mode: des, algorithm: direct, topology: torus2d}\n"
                    "sweep: {grid: {workers: [4, 400]}}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out), "--workers", "0"])
    assert result.exit_code == 1
    assert "1 point(s) failed" in result.stderr and "failed point" in result.stdout
    table = json.loads(CliRunner().invoke(app, ["results", str(out), "--format", "json"]).stdout)
    assert sorted(row["status"] for row in table) == ["error", "ok"]
