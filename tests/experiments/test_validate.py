"""``ddlsim validate``: the simulated side against closed forms, the summary against the table,
the compute efficiency fitted on calibration steps only, and the command end to end on a tiny
plan of real gloo runs."""

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

from experiments.cli import app
from experiments.measure.cases import CollectiveCase, Cases
from experiments.measure.records import measurement
from experiments.measure.training import TrainCase
from experiments.measure.predict import collective_s
from experiments.measure.validate import (Validation, fit_compute_efficiency, fit_framework_overhead, refit_link, summary, train_step_s,
                                          validation_table)
from hwmodels import Catalog, Device, LinkSpec

runner = CliRunner()
DEVICE = Device(name="this-host", peak_flops={"fp32": 40e9}, mem_bandwidth_Bps=20e9, mem_capacity_B=8e9,
                active_power_W=1.0, category="cpu")
LINK = LinkSpec(name="this-host-loopback", bandwidth_Bps=2e9, latency_s=50e-6)


def test_collective_rows_are_the_closed_forms_and_the_summary_is_the_tables():
    cal = CollectiveCase("p2p", 2, 1e6)
    held = (CollectiveCase("broadcast", 2, 4e6), CollectiveCase("broadcast", 2, 1e3))
    cases = Cases((cal,), held)
    alpha, beta = 2 * LINK.latency_s, 1 / LINK.bandwidth_Bps   # one message: two hops of the loopback, the bus alone
    measured = {cal: 1e-3, held[0]: 2.2e-3, held[1]: 1e-4}
    samples = {held[0]: [2.0e-3, 2.2e-3, 2.4e-3]}   # median 2.2 ms, interquartile range 0.2 ms
    ms = [measurement("p2p" if c.op == "p2p" else "collective", {"op": c.op, "world": c.world, "size_B": c.size_B},
                      samples.get(c, [t])) for c, t in measured.items()]
    rows = validation_table(cases, ms, DEVICE, LINK)
    # p2p and a 2-process binomial-tree broadcast are both one message: alpha + n beta
    expected = [alpha + c.size_B * beta for c in measured]
    assert [r["simulated_s"] for r in rows] == pytest.approx(expected, rel=1e-12)
    assert [r["split"] for r in rows] == ["calibration", "held-out", "held-out"]
    errors = [e / t - 1 for e, t in zip(expected, measured.values())]
    assert [r["error"] for r in rows] == pytest.approx(errors, rel=1e-12)
    s = summary(rows)
    assert all(math.isnan(v.pop("median_run_spread")) for v in s.values())   # one run: no spread between runs
    assert s["held-out"] == {"median_abs_error": pytest.approx((abs(errors[1]) + abs(errors[2])) / 2),
                             "max_abs_error": pytest.approx(max(abs(errors[1]), abs(errors[2]))), "cases": 2,
                             "median_rel_spread": pytest.approx((0.2 / 2.2 + 0.0) / 2)}   # one timing: no spread
    assert s["calibration"] == {"median_abs_error": pytest.approx(abs(errors[0])),
                                "max_abs_error": pytest.approx(abs(errors[0])), "cases": 1, "median_rel_spread": 0.0}
    assert math.isnan(summary(rows[:1])["held-out"]["median_abs_error"]) and summary(rows[:1])["held-out"]["cases"] == 0
    report = Validation(rows[:1], 1.0, {}).report()   # what --json prints: no held-out case, null errors
    assert report["summary"]["held-out"] == {"median_abs_error": None, "max_abs_error": None, "cases": 0,
                                             "median_rel_spread": None, "median_run_spread": None}
    json.dumps(report, allow_nan=False)


def test_compute_efficiency_comes_from_calibration_steps_only():
    cal = TrainCase("mlp", "digits", 2, 16, model_params={"hidden": [32]})
    held = TrainCase("mlp", "digits", 2, 16, "topk", {"ratio": 0.1}, overlap=True, model_params={"hidden": [32]})
    cases = Cases((cal,), (held,))
    ideal = train_step_s(cal, DEVICE, LINK, workers=1, compressor="none")
    ms = [measurement("train-compute", cal.config(), [ideal / 0.25]),
          measurement("train-compute", held.config(), [ideal / 0.01])]   # held out: must not move the fit
    e = fit_compute_efficiency(cases, ms, DEVICE, LINK)
    assert e == pytest.approx(0.25, rel=1e-12)
    # More workers than one add the exchange: the step is longer than its bare compute.
    assert train_step_s(cal, DEVICE, LINK) > ideal


def test_refit_link_recovers_the_link_from_calibration_collectives_only():
    true = LinkSpec(name="this-host-loopback", bandwidth_Bps=0.8e9, latency_s=120e-6)
    cal = [CollectiveCase("p2p", 2, n) for n in (4096.0, 1e6, 16e6)] + [CollectiveCase("allreduce", 4, 4e6)]
    held = (CollectiveCase("broadcast", 2, 1e6),)
    # p2p by hand: one message crosses two hops of the loopback and the shared bus
    times = [2 * true.latency_s + c.size_B / true.bandwidth_Bps for c in cal[:3]] + [collective_s(cal[3], DEVICE, true)]
    ms = [measurement("p2p" if c.op == "p2p" else "collective", {"op": c.op, "world": c.world, "size_B": c.size_B}, [t])
          for c, t in zip(cal, times)]
    ms.append(measurement("collective", {"op": "broadcast", "world": 2, "size_B": 1e6}, [1.0]))   # held out: ignored
    fitted = refit_link(Cases(tuple(cal), held), ms, DEVICE, LINK)
    assert fitted.bandwidth_Bps == pytest.approx(true.bandwidth_Bps, rel=1e-6)
    assert fitted.latency_s == pytest.approx(true.latency_s, rel=1e-6)
    assert fitted.name == LINK.name and "4 calibration collectives" in fitted.source
    rows = validation_table(Cases(tuple(cal), held), ms, DEVICE, fitted)
    assert rows[-1]["simulated_s"] == pytest.approx(2 * true.latency_s + 1e6 / true.bandwidth_Bps, rel=1e-6)


def test_framework_overhead_is_fitted_on_calibration_steps_only():
    cal = TrainCase("mlp", "digits", 2, 8, model_params={"hidden": [16]})
    held = TrainCase("mlp", "digits", 2, 8, "fp16", model_params={"hidden": [16]})
    cases = Cases((cal,), (held,))
    step = train_step_s(cal, DEVICE, LINK)
    ms = [measurement("train-step", cal.config(), [step + 1.5e-3]),
          measurement("train-step", held.config(), [step + 9.0])]   # held out: must not move the fit
    assert fit_framework_overhead(cases, ms, DEVICE, LINK, 1.0) == pytest.approx(1.5e-3, rel=1e-9)
    # a step simulated slower than measured gives no negative overhead
    assert fit_framework_overhead(cases, [measurement("train-step", cal.config(), [step / 2])], DEVICE, LINK, 1.0) == 0.0


def _write_tiny(tmp_path):
    mlp = [{"model": "mlp", "data": "digits", "params": {"hidden": [16]}}]
    train = {"models": mlp, "workers": [2], "batch_size": [8]}
    plan = {"quick": {
        "collectives": {"calibration": {"ops": ["p2p"], "worlds": [2], "sizes": ["4KiB", "64KiB"]},
                        "held_out": {"ops": ["broadcast"], "worlds": [2], "sizes": ["16KiB"]}},
        "training": {"calibration": {**train, "compressors": [{"name": "none"}], "overlap": [False]},
                     "held_out": {**train, "compressors": [{"name": "topk", "params": {"ratio": 0.1}}],
                                  "overlap": [True]}}}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_cli_end_to_end_on_a_tiny_plan(tmp_path):
    import torch._dynamo  # noqa: F401  (DDP imports it when first built; forked ranks inherit it)

    host = tmp_path / "host.yaml"
    host.write_text(yaml.safe_dump({
        "devices": [{"name": "this-host", "category": "cpu", "peak_flops": {"fp32": "40GFLOPS"}, "mem_bandwidth": "20GB/s",
                     "mem_capacity": "8GB", "active_power": "1W", "source": "a test"}],
        "links": [{"name": "this-host-loopback", "bandwidth": "2GB/s", "latency": "50us", "source": "a test"}]}))
    out = tmp_path / "out"
    result = runner.invoke(app, ["--catalog", str(host), "validate", "--quick", "--cases", str(_write_tiny(tmp_path)),
                                 "--out", str(out), "--runs", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["host"]["runs"] == 2
    rows = report["rows"]
    assert [(r["kind"], r["split"]) for r in rows] == [("p2p", "calibration"), ("p2p", "calibration"),
                                                       ("broadcast", "held-out"), ("train", "calibration"),
                                                       ("train", "held-out")]
    for r in rows:
        assert r["measured_s"] > 0 and r["simulated_s"] > 0
        assert r["error"] == pytest.approx(r["simulated_s"] / r["measured_s"] - 1, rel=1e-12)
    held = [abs(r["error"]) for r in rows if r["split"] == "held-out"]
    spread = [r["spread_s"] / r["measured_s"] for r in rows if r["split"] == "held-out"]
    runs = [r["run_spread"] for r in rows if r["split"] == "held-out"]
    assert report["summary"]["held-out"] == {"median_abs_error": pytest.approx(sum(held) / 2),
                                             "max_abs_error": pytest.approx(max(held)), "cases": 2,
                                             "median_rel_spread": pytest.approx(sum(spread) / 2),
                                             "median_run_spread": pytest.approx(sum(runs) / 2)}
    assert 0 < report["compute_efficiency"] <= 1 and report["host"]["cores"] >= 1
    import pandas as pd
    table = pd.read_parquet(out / "validation.parquet")
    assert list(table["simulated_s"]) == pytest.approx([r["simulated_s"] for r in rows], rel=1e-12)
    assert len(pd.read_csv(out / "validation.csv")) == 5
    assert (out / "validation.png").stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "validation.csv", "validation.md",
                                                     "validation.parquet", "validation.png"]
    assert json.loads((out / "summary.json").read_text())["summary"] == report["summary"]
    markdown = (out / "validation.md").read_text().splitlines()
    assert len(markdown) == 2 + 5 and markdown[2].startswith("| broadcast p=2 16 KiB | held-out |")


def test_missing_calibrated_entries_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", "--quick", "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ddlsim calibrate" in lines[0] and "this-host" in lines[0]
    assert not out.exists()
    assert "this-host" not in Catalog.load([], use_env=False).records["device"]
