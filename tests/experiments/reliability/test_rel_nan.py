"""No NaN reported as ok: finite samplers, diverged runs and rows, strictly valid JSON, and
compressors that refuse non-finite input unless told to pass it through."""

import json
import math
import re

import pytest
import torch

from experiments.finite import first_nonfinite, json_ready
from experiments.results import ResultStore
from hwmodels import SpecError
from simulator.compression import allow_nonfinite, create, schemes
from simulator.compression.base import State
from simulator.compression.evaluate import sample

DIVERGING = {"workers": 2, "steps": 6, "eval_every": 2, "lr": 1.0e12, "optimizer": "sgd"}


def _strict(text: str):
    """json.loads that rejects NaN and Infinity tokens, as RFC 8259 parsers do."""
    def refuse(token):
        raise ValueError(f"bare {token} in JSON")
    return json.loads(text, parse_constant=refuse)


def test_laplace_sample_is_finite_where_the_old_sampler_gave_inf():
    # seed 2124656608 drew torch.rand == 0 in the first 4M draws: log1p(-1) = -inf before
    x = sample("laplace", (1 << 22,), 2124656608)
    assert bool(torch.isfinite(x).all())
    assert float(x.abs().mean()) == pytest.approx(1.0, abs=0.01)   # Laplace(0, 1): E|x| = 1, var 2
    assert float(x.var()) == pytest.approx(2.0, abs=0.03)


def test_the_issue_compress_case_is_finite(run):
    result = run("compress", "--scheme", "none", "--elements", "4194304", "--distribution", "laplace", "--trials", "1",
                 "--seed", "2124656608", "--json")
    assert result.exit_code == 0
    row = _strict(result.stdout)
    assert row["relative_error"] == 0.0 and row["bias"] == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_tensor_compressor_refuses_non_finite_input(bad):
    g = torch.randn(256)
    g[7] = bad
    for scheme in schemes("tensor"):
        compressor = create(scheme.name)
        with pytest.raises(SpecError, match=f"{re.escape(scheme.name)}\\)?: input has 1 non-finite entries"):
            compressor.compress(g, State(0, 0, 0, 0))
        with allow_nonfinite():   # the option that masks it: passes through
            compressor.compress(g, State(0, 0, 0, 0))


def test_a_diverging_training_run_says_the_step_and_writes_valid_json(run, tmp_path):
    spec = tmp_path / "div.yaml"
    spec.write_text(json.dumps(DIVERGING))
    result = run("train", spec, "--json", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    out = _strict(result.stdout)
    assert out["summary"]["status"] == "diverged" and out["summary"]["diverged_at_step"] >= 1
    assert f"diverged at step {out['summary']['diverged_at_step']}" in result.stderr
    assert any(r["train_loss"] is None for r in out["rows"])
    _strict((tmp_path / "o" / "summary.json").read_text())


def test_a_finite_run_is_ok(run, tmp_path):
    spec = tmp_path / "ok.yaml"
    spec.write_text(json.dumps({**DIVERGING, "lr": 0.05}))
    out = _strict(run("train", spec, "--json").stdout)
    assert out["summary"]["status"] == "ok" and out["summary"]["diverged_at_step"] is None


def test_sweep_rows_with_non_finite_metrics_are_diverged_not_ok(run, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(json.dumps({"name": "div", "workload": "train", "base": DIVERGING,
                                "sweep": {"grid": {"lr": [0.05, 1.0e12]}}}))
    out = tmp_path / "out"
    result = run("sweep", spec, "--out", out, "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "warning: div point 1 (repeat 0) diverged: train_loss is not finite from step" in result.stderr
    table = _strict(run("results", out, "--format", "json").stdout)
    assert {r["point"]: r["status"] for r in table} == {0: "ok", 1: "diverged"}
    for path in (out / "points").glob("*.json"):
        _strict(path.read_text())
    again = run("sweep", spec, "--out", out, "--workers", "0")   # seeded: a diverged point is finished
    assert "(0 run, 2 already done" in again.stdout


def test_json_ready_and_first_nonfinite():
    import numpy as np

    data = {"a": math.nan, "b": [1.0, math.inf, np.float64(-np.inf), np.array([1.0, np.nan])], "c": (2, "x")}
    assert json_ready(data) == {"a": None, "b": [1.0, None, None, [1.0, None]], "c": [2, "x"]}
    assert first_nonfinite([{"x": 1.0}, {"y": 2.0, "z": math.nan}]) == (1, "z")
    assert first_nonfinite([{"x": 1.0, "s": "nan"}]) is None


def test_a_point_record_holds_no_bare_nan(tmp_path):
    store = ResultStore(tmp_path / "r").open("name: r\nworkload: compress\n")
    record = {"sweep": "r", "workload": "compress", "point": 0, "hash": "h", "repeat": 0, "seed": 0, "config": {},
              "status": "diverged", "error": "x", "wall_s": 0.1, "rows": [{"m": math.nan}]}
    store.write(record)
    store.close()
    assert _strict((tmp_path / "r" / "points" / "h.json").read_text())["rows"] == [{"m": None}]


def test_a_federated_run_that_stopped_on_non_finite_updates_is_a_diverged_point(monkeypatch):
    # fl rows keep finite energy and a null accuracy after the run stops; the run's own status
    # and note (what experiments.workloads.run_fl puts on every row) say so
    from experiments import sweep
    from experiments.workloads import _run_status

    verdict = _run_status({"status": "diverged", "diverged_round": 2}, "updates not finite in round 2")
    assert _run_status({"status": "ok"}, "unused") == {"run_status": "ok", "run_note": None}

    class Stopped:
        def run(self, config, seed):
            return [{"round": 1, "test_accuracy": 0.5, "energy_total_j": 1.0, "diverged_round": 2, **verdict},
                    {"round": 2, "test_accuracy": None, "energy_total_j": 2.0, "diverged_round": 2, **verdict}]

    monkeypatch.setattr(sweep, "get_workload", lambda name, module=None: Stopped())
    point = sweep.Point("s", 0, "fl", "experiments.workloads", {}, 0, 0, "h")
    record = sweep.run_point(point)
    assert record["status"] == "diverged" and record["error"] == "updates not finite in round 2"
    monkeypatch.setattr(sweep, "get_workload", lambda name, module=None: type("Fine", (), {
        "run": lambda self, c, s: [{"round": 1, "test_accuracy": 0.5, "diverged_round": None, "run_status": "ok",
                                    "run_note": None}]})())
    assert sweep.run_point(point)["status"] == "ok"
