"""`ddlsim fl`: JSON contract, shipped examples and presets, user errors (exit 2)."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from experiments.cli import app
from experiments.fl_spec import load_fl_spec
from hwmodels import SpecError, load_catalog

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2] / "experiments"
SHIPPED = sorted((ROOT / "examples").glob("fl_*.yaml"))
SMALL = dict(clients=6, rounds=4, eval_every=2, local_steps=2, scheme="baa", radio="lte-20mhz-ue",
             channel={"path_loss": "umi-nlos"}, placement={"kind": "disc", "radius_m": 150, "min_distance_m": 10})


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)


def spec_file(tmp_path, **changes):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **changes}))
    return path


@pytest.mark.parametrize("scheme, params", [("baa", {}), ("digital", {"compressor": "qsgd"}), ("rlc", {"channel_uses": 500}),
                                            ("adsgd", {"channel_uses": 1000})])
def test_json_rows_and_summary(tmp_path, scheme, params):
    result = runner.invoke(app, ["fl", str(spec_file(tmp_path, scheme=scheme, scheme_params=params)), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["round"] for r in out["rows"]] == [2, 4]
    assert set(out["rows"][0]) == {"round", "sim_time_s", "airtime_s", "energy_j", "energy_j_per_device", "tx_energy_j",
                                   "channel_uses", "participating", "test_accuracy", "airtime_round_s",
                                   "airtime_total_s", "energy_round_j", "energy_total_j", "tx_energy_round_j",
                                   "tx_energy_total_j", "tx_power_mean_W", "tx_power_max_W", "threshold",
                                   "predicted_mse"}
    last = out["rows"][-1]
    assert last["energy_total_j"] == pytest.approx(out["summary"]["energy_j"])
    assert last["airtime_total_s"] == pytest.approx(out["summary"]["airtime_s"])
    s = out["summary"]
    assert s["scheme"] == scheme and len(s["energy_j_per_device"]) == 6 and len(s["distances_m"]) == 6
    assert sum(s["energy_j_per_device"]) == pytest.approx(s["energy_j"])
    if scheme == "rlc":
        assert out["rows"][0]["channel_uses"] == 501


def test_human_output_and_shipped_specs_validate(tmp_path):
    result = runner.invoke(app, ["fl", str(spec_file(tmp_path))])
    assert result.exit_code == 0 and "final test accuracy" in result.stdout
    assert len(SHIPPED) >= 2
    for path in SHIPPED:
        spec = load_fl_spec(path)
        spec.config()
        spec.hardware(load_catalog(), path.parent)


@pytest.mark.parametrize("changes, words", [
    ({"radio_overrides": {"max_tx_power": "-1W"}}, "max_tx_power"),
    ({"radio_overrides": {"bandwidth": "0Hz"}}, "bandwidth"),
    ({"scheme": "rlc", "scheme_params": {"channel_uses": 0}}, "1 <= m <= d"),
    ({"scheme": "rlc", "scheme_params": {"channel_uses": 10 ** 7}}, "1 <= m <= d"),
    ({"placement": {"kind": "fixed", "distances_m": [5.0]}}, "outside the umi-nlos model"),
    ({"placement": {"kind": "fixed", "distances_m": [500.0], "radius_m": 200}}, "outside the cell"),
    ({"scheme": "fedavg-magic"}, "known: ideal, digital"),
    ({"scheme_params": {"policy": "max"}}, "unknown power policy"),
    ({"channel": {"fading": "nakagami"}}, "unknown fading"),
    ({"clients": 0}, "clients"),
    ({"alpha": "lots"}, "alpha"),
    ({"participation": 1.5}, "participation"),
    ({"scheme_params": [1]}, "scheme_params"),
    ({"rounds_": 3}, "unknown field"),
    ({"power": {"policy": "managed", "target_mse": 0.1, "energy_budget": 1}}, "power: unknown field"),
    ({"power": {"policy": "managed", "target_mse": 1e-6, "energy_budget_j": 0.005}},
     "target_mse 1e-06 is not reachable in round 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, changes, words):
    result = runner.invoke(app, ["fl", str(spec_file(tmp_path, **changes))])
    assert result.exit_code == 2, result.output
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_fl_is_a_sweep_workload_with_the_same_numbers_as_the_command(tmp_path):
    from experiments.spec import parse_experiment
    from experiments.sweep import expand
    from experiments.workloads import get_workload

    config = {**SMALL, "rounds": 2, "eval_every": 1, "clients": 4}
    spec = parse_experiment({"name": "fl", "workload": "fl", "base": config, "sweep": {"grid": {"clients": [4]}}}, "x.yaml")
    [point] = expand(spec)
    rows = get_workload("fl").run(dict(point.config), point.seed)
    direct = json.loads(runner.invoke(app, ["fl", str(spec_file(tmp_path, **config, seed=point.seed)), "--json"]).stdout)
    assert [r["test_accuracy"] for r in rows] == [r["test_accuracy"] for r in direct["rows"]]
    assert [r["airtime_s"] for r in rows] == pytest.approx([r["airtime_s"] for r in direct["rows"]], rel=1e-12)
    assert rows[-1]["final_test_accuracy"] == direct["summary"]["final_test_accuracy"]
    with pytest.raises(SpecError, match="unknown field .sheme. for workload fl"):
        expand(parse_experiment({"name": "fl", "workload": "fl", "base": {**config, "sheme": "baa"},
                                 "sweep": {"grid": {"clients": [4]}}}, "x.yaml"))
