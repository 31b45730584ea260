"""`ddlsim train`: JSON contract, --out files, shipped examples, user errors (exit 2)."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from experiments.cli import app
from experiments.train_spec import load_spec
from hwmodels import load_catalog

runner = CliRunner()
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "experiments" / "examples").glob("train_*.yaml"))
SMALL = dict(model="mlp", data="digits", workers=2, batch_size=16, steps=4, eval_every=2, device="jetson-nano",
             link="eth-1g", compressor="qsgd", encode_s_per_element=1e-8, decode_s_per_element=1e-8)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)
    monkeypatch.setenv("DDLSIM_CACHE", str(tmp_path / "cache"))


def spec_file(tmp_path, **changes):
    data = {**SMALL, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_json_rows_and_summary(tmp_path):
    result = runner.invoke(app, ["train", str(spec_file(tmp_path)), "--json", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["step"] for r in out["rows"]] == [2, 4]
    assert set(out["rows"][0]) == {"step", "epoch", "sim_time_s", "energy_j", "bits_up_total", "test_accuracy", "train_loss",
                                   "energy_compute_j", "energy_idle_j", "energy_link_j", "energy_radio_j",
                                   "wire_bits_total"}
    last = out["rows"][-1]
    assert sum(last[f"energy_{k}_j"] for k in ("compute", "idle", "link", "radio")) == pytest.approx(last["energy_j"])
    s = out["summary"]
    assert s["energy_breakdown_j"] == pytest.approx({k: last[f"energy_{k}_j"] for k in ("compute", "idle", "link", "radio")})
    # all-gather on 2 workers: each forwards nothing and sends its own payload once
    assert last["wire_bits_total"] == pytest.approx(last["bits_up_total"], rel=1e-3)
    assert {"final_test_accuracy", "sim_time_s", "energy_j", "bits_per_worker", "sync"} <= set(s)
    assert s["sync"] == "allgather" and s["final_test_accuracy"] == out["rows"][-1]["test_accuracy"]
    assert s["bits_per_worker"] * 2 == out["rows"][-1]["bits_up_total"]
    assert out["rows"][0]["sim_time_s"] < out["rows"][1]["sim_time_s"]
    written = (tmp_path / "out" / "rows.csv").read_text().splitlines()
    assert written[0].startswith("step,epoch,sim_time_s") and len(written) == 3
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["sim_time_s"] == s["sim_time_s"]


def test_human_output(tmp_path):
    result = runner.invoke(app, ["train", str(spec_file(tmp_path, compressor="none"))])
    assert result.exit_code == 0, result.output
    assert "via allreduce" in result.stdout and "final test accuracy" in result.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_are_valid(path):
    spec = load_spec(path)
    cluster = spec.cluster(load_catalog())
    assert len(cluster.hosts) == spec.config().hosts


def test_examples_cover_the_issue():
    names = {p.name for p in EXAMPLES}
    assert {f"train_digits_mlp_{c}.yaml" for c in ("none", "qsgd", "topk", "qcs")} <= names
    jetson = load_spec(EXAMPLES[0].parent / "train_mnist1d_cnn1d_jetson.yaml")
    assert jetson.workers == 8 and jetson.link == "eth-1g" and jetson.model == "cnn1d"


@pytest.mark.parametrize("changes, message", [
    (dict(model="vgg"), "unknown model 'vgg'"),
    (dict(data="imagenet"), "unknown data set 'imagenet'"),
    (dict(compressor="zip"), "unknown compression scheme 'zip'"),
    (dict(data="synthetic", data_params={"samples": 20}, workers=20), "20 workers but only 16"),
    (dict(batch_size=0), "batch_size"),
    (dict(device="jetson-nanoo"), "jetson-nanoo"),
    (dict(device=["jetson-nano"] * 3), "exactly 2"),
    (dict(optimizer="lbfgs"), "optimizer"),
    (dict(colour=True), "colour: unknown field"),
    (dict(compressor_params={"levels": 0}), "levels"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, changes, message):
    result = runner.invoke(app, ["train", str(spec_file(tmp_path, **changes))])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_file_is_exit_2(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2


def test_trace_and_gantt_of_one_step(tmp_path):
    trace, gantt = tmp_path / "step.json", tmp_path / "step.png"
    result = runner.invoke(app, ["train", str(spec_file(tmp_path)), "--trace", str(trace), "--gantt", str(gantt)])
    assert result.exit_code == 0, result.output
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["name"] for e in events if e["ph"] == "X"}
    assert {"fwd/h0", "encode/b0/h1", "allgather/b0", "update/h1"} <= names
    assert gantt.stat().st_size > 0


def test_training_on_a_wireless_cell_with_the_server_at_the_ap(tmp_path):
    spec = spec_file(tmp_path, wireless={"radio": "wifi6-80mhz"}, sync="ps", link=None, topology=None)
    result = runner.invoke(app, ["train", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)["summary"]
    assert s["energy_breakdown_j"]["radio"] > 0 and s["energy_breakdown_j"]["link"] == 0
    bad = runner.invoke(app, ["train", str(spec_file(tmp_path, wireless={"radio": "wifi6-80mhz"}, link="eth-1g"))])
    assert bad.exit_code == 2 and "either wireless or a wired link" in bad.output


def test_price_only_from_the_command_line(tmp_path):
    spec = tmp_path / "po.yaml"
    spec.write_text(yaml.safe_dump({"model": "bert-base", "price_only": True, "seq_len": 128, "workers": 8,
                                    "batch_size": 16, "device": "a100-sxm4-40gb", "topology": "hierarchical",
                                    "link": "nvlink3", "topology_params": {"inter_link": "ib-hdr"},
                                    "compute_dtype": "bf16"}))
    result = runner.invoke(app, ["train", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    s = out["summary"]
    assert out["rows"] == [] and s["price_only"] and s["parameters"] == 109_482_240 + 768 * 2 + 2
    assert s["energy_j"] == pytest.approx(sum(s["energy_breakdown_j"].values()))
    human = runner.invoke(app, ["train", str(spec)])
    assert human.exit_code == 0 and "price only" in human.stdout and "per step" in human.stdout
    bad = runner.invoke(app, ["train", str(spec), "--gantt", str(tmp_path / "g.png")])
    assert bad.exit_code == 2 and "price_only" in bad.output


def test_a_run_that_does_not_fit_the_device_is_refused_with_the_numbers(tmp_path):
    # digits MLP (64-128-10: 9,610 parameters) with Adam at batch 16 on a 256 KiB nRF52840:
    # 268,144 B in all (below)
    spec = spec_file(tmp_path, device="nrf52840", optimizer="adam", compressor="none", link="eth-1g")
    result = runner.invoke(app, ["train", str(spec)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "worker h0 needs" in line and "has 262,144 B (256.0 KiB)" in line
    assert "needs 268,144 B" in line and "optimizer 76,880" in line    # Adam: two fp32 slots per parameter
    priced = runner.invoke(app, ["train", str(spec_file(tmp_path, price_only=True, input_shape=[1, 8, 8], classes=10,
                                                        optimizer="adam", compressor="none", steps=1)), "--json"])
    s = json.loads(priced.stdout)["summary"]
    n = 9_610
    # weights, gradients, Adam's two slots, the bucket and one payload (fp32); activations by hand:
    # batch 16 x (input 64 + node outputs 128 + 128 + 10, plus the two largest gradients 2 x 128) floats
    assert s["peak_memory_B_per_worker"] == 4 * n * (1 + 1 + 2 + 1 + 1) + 16 * 4 * (64 + 128 + 128 + 10 + 2 * 128)
    assert s["peak_memory_B_per_worker"] == 268_144
