"""Silent wrong answers become errors: empty catalogs, self-flows; every sweep point is checked
before any runs; a spec that does not parse says where."""

import json

import pytest

from hwmodels import Catalog, SpecError


def test_an_empty_catalog_file_or_folder_is_an_error(run, user_error, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    user_error(run("--catalog", empty, "hw", "list"), "empty.yaml", "empty catalog file")
    user_error(run("hw", "list", "--catalog", empty), "empty catalog file")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SpecError, match="holds no .yaml"):
        Catalog.load([tmp_path / "nothing"])
    braces = tmp_path / "braces.yaml"
    braces.write_text("{}\n")
    with pytest.raises(SpecError, match="empty catalog file"):
        Catalog.load([braces])


def test_a_flow_from_a_host_to_itself_is_an_error(run, user_error, tmp_path):
    scenario = tmp_path / "self.json"
    scenario.write_text(json.dumps({
        "nodes": [{"id": "h0"}, {"id": "h1"}],
        "links": [{"a": "h0", "b": "h1", "bandwidth": "10Gbps"}],
        "flows": [{"id": "A", "src": "h0", "dst": "h0", "bytes": "1MB"}]}))
    user_error(run("netsim", scenario), "flows[0].dst", "own src")


@pytest.mark.parametrize("base, fragment", [
    ("{op: allreduce, algorithm: ring, size: 1MiB, bandwidth: 10Gbps, workers: 0}", "positive integer"),
    ("{op: allreduce, algorithm: ring, size: 1MiB, bandwidth: 10Gbps, workers: 4, root: 1}", "--root does not apply"),
    ("{op: allreduce, algorithm: halving-doubling, size: 1MiB, bandwidth: 10Gbps, workers: 6}", "power-of-two"),
])
def test_every_collective_point_is_validated_before_any_runs(run, user_error, tmp_path, base, fragment):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nworkload: collective\nbase: {base}\nsweep: {{grid: {{latency: [0s, 1us]}}}}\n")
    user_error(run("sweep", spec, "--out", tmp_path / "out", "--workers", "0"), "sweep point 0", fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workload, base, fragment", [
    ("train", "{workers: 0, steps: 1}", "workers must be an integer >= 1"),
    ("compress", "{scheme: none, elements: 64, trials: 0}", "trials: must be an integer >= 1"),
    ("compress", "{scheme: none, elements: 64, noise: 0.2}", "noise: does not apply"),
    ("compress", "{scheme: none, elements: 64, rows: 5}", "rows: must divide elements"),
    ("compress", "{scheme: none, elements: 64, distribution: cauchy}", "distribution: one of"),
])
def test_every_point_of_other_workloads_is_validated(run, user_error, tmp_path, workload, base, fragment):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nworkload: {workload}\nbase: {base}\n")
    user_error(run("sweep", spec, "--out", tmp_path / "out", "--workers", "0"), fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["train", "fl", "infer", "sweep"])
def test_a_json_spec_that_does_not_parse_names_line_and_column(run, user_error, tmp_path, command):
    spec = tmp_path / "bad.json"
    spec.write_text('{"workers": 4,\n "lr": 0.1,,\n}\n')
    user_error(run(command, spec), "bad.json: not valid JSON: line 2, column 12:")
    spec = tmp_path / "bad.yaml"
    spec.write_text("workers: [4\nlr: 1\n")
    user_error(run(command, spec), "bad.yaml: not valid YAML: line 2, column 3:")
