"""``ddlsim infer`` and ``ddlsim restructure`` on the example specs."""

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from experiments.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "experiments" / "examples"
runner = CliRunner()


def test_infer_json_has_the_promised_fields():
    res = runner.invoke(app, ["infer", str(EXAMPLES / "infer_digits_repurpose.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("accuracy", "latency_s", "energy_j", "bits_per_sample", "transfers_per_sample", "flops_per_worker"):
        assert key in out
    assert out["bits_per_sample"] == 32 * out["transfers_per_sample"]
    assert len(out["flops_per_worker"]) == 4 and out["accuracy"] > 0.94


def test_restructure_writes_table_plan_and_plot(tmp_path):
    spec = yaml.safe_load((EXAMPLES / "infer_digits_restructure.yaml").read_text())
    spec.update(keeps=[1.0, 0.1], baselines=["central", "direct"], refine=0)  # exactly 4 candidates
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = runner.invoke(app, ["restructure", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "chosen:" in res.stdout
    for name in ("pareto.csv", "plan.pt", "summary.json", "tradeoff.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert len((tmp_path / "out" / "pareto.csv").read_text().splitlines()) == 1 + 4
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["hardware"] == "4 x raspberry-pi-4b-4gb, eth-1g switch" and summary["hardware"] in res.stdout
    chosen, savings = summary["chosen"], summary["savings"]
    for name, saving in savings.items():                 # 1 - chosen / baseline, by hand
        assert saving["latency_saving"] == 1 - chosen["latency_s"] / saving["latency_s"]
        assert saving["energy_saving"] == 1 - chosen["energy_j"] / saving["energy_j"]
        assert f"against {name} (" in res.stdout
    assert set(savings) == {"central", "direct"} - {chosen["partitioner"]}


def test_savings_name_less_and_more():
    from experiments.cli.infer import _saving_line, savings

    rows = [{"partitioner": "direct", "latency_s": 4.0, "energy_j": 1.0},
            {"partitioner": "central", "latency_s": 1.0, "energy_j": 0.5}]
    out = savings({"latency_s": 2.0, "energy_j": 0.75}, rows)
    assert out["direct"]["latency_saving"] == 0.5 and out["direct"]["energy_saving"] == 0.25
    assert out["central"]["latency_saving"] == -1.0
    assert _saving_line("central", out["central"]).endswith("100% more latency, 50% more energy")


def test_bad_specs_are_one_line_and_exit_2(tmp_path):
    base = yaml.safe_load((EXAMPLES / "infer_digits_repurpose.yaml").read_text())
    for change, message in [({"workers": 200, "sensors": list(range(64))}, "layer 0 has 128 neurons but there are 200 workers"),
                            ({"workers": 128}, "128 workers need a 8 x 16 grid of tiles but the image is 8 x 8 pixels"),
                            ({"sensors": [0, 1]}, "one integer owner per input feature (64)"),
                            ({"params": {"keep": 2}}, "keep: every budget must be a fraction"),
                            ({"partitioner": "magic"}, "unknown partitioner 'magic'"),
                            ({"linkk": "x"}, "linkk: unknown field")]:
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump({**base, **change}))
        res = runner.invoke(app, ["infer", str(path)])
        assert res.exit_code == 2, (change, res.output)
        assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_infer_and_restructure_are_sweep_workloads_with_the_commands_numbers(tmp_path):
    from experiments.spec import parse_experiment
    from experiments.sweep import expand
    from experiments.workloads import get_workload

    base = yaml.safe_load((EXAMPLES / "infer_digits_repurpose.yaml").read_text())
    spec = parse_experiment({"name": "p", "workload": "infer", "base": base,
                             "sweep": {"grid": {"partitioner": ["direct", "repurpose"]}}}, "x.yaml")
    points = expand(spec)
    assert [p.config["partitioner"] for p in points] == ["direct", "repurpose"]
    row = get_workload("infer").run(dict(points[1].config), points[1].seed)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**base, "seed": points[1].seed}))
    direct = json.loads(runner.invoke(app, ["infer", str(path), "--json"]).stdout)
    for key in ("accuracy", "latency_s", "energy_j", "bits_per_sample", "transfers_per_sample"):
        assert row[key] == direct[key]
    rows = get_workload("restructure").run({**base, "keeps": [1.0, 0.1], "baselines": ["direct"], "refine": 2}, 0)
    assert 3 <= len(rows) <= 5 and sum(r["params"]["search"] == "per-layer" for r in rows if r["partitioner"] == "repurpose") \
        == len(rows) - 3 and sum(r["chosen"] for r in rows) == 1 and all("pareto" in r for r in rows)


def test_infer_over_a_shared_wireless_channel_and_its_bad_specs(tmp_path):
    wireless = EXAMPLES / "infer_digits_wireless.yaml"
    res = runner.invoke(app, ["infer", str(wireless), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    wired = json.loads(runner.invoke(app, ["infer", str(EXAMPLES / "infer_digits_repurpose.yaml"), "--json"]).stdout)
    assert out["bits_per_sample"] == wired["bits_per_sample"] and out["accuracy"] == wired["accuracy"]
    assert out["latency_s"] > 0 and out["energy_j"] > 0 and out["latency_s"] != wired["latency_s"]
    assert json.loads(runner.invoke(app, ["infer", str(wireless), "--json"]).stdout) == out   # deterministic
    base = yaml.safe_load(wireless.read_text())
    for change, message in [({"link": "eth-1g"}, "wireless: give either wireless or a wired link, not both"),
                            ({"wireless": {"radio": "no-such-radio"}}, "no-such-radio"),
                            ({"wireless": {"access": "cdma"}}, "access"),
                            ({"wireless": {"channel": {"fadingg": "none"}}}, "fadingg")]:
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump({**base, **change}))
        res = runner.invoke(app, ["infer", str(path)])
        assert res.exit_code == 2, (change, res.output)
        assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_sensor_example_refuses_central_and_runs_the_direct_split(tmp_path):
    """A 340 KB model on 256 KiB nRF52840s: central does not fit (exit 2, the numbers); the direct
    split does (the optimiser's side: tests/simulator/partition/test_memory_plans.py)."""
    spec = yaml.safe_load((EXAMPLES / "infer_digits_sensors_zigbee.yaml").read_text())
    spec.update(epochs=3, partitioner="central", params={})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = runner.invoke(app, ["infer", str(path), "--json"])
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "worker h0 needs 356,392 B" in line and "weights 340,008" in line and "has 262,144 B" in line
    spec.update(partitioner="direct")
    path.write_text(yaml.safe_dump(spec))
    out = json.loads(runner.invoke(app, ["infer", str(path), "--json"]).stdout)
    assert out["feasibility"] == "ok" and max(out["peak_memory_B_per_worker"]) <= 262_144
