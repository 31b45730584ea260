"""``ddlsim netsim``: JSON and table output, Chrome trace, and one-line errors with exit 2."""

import json
from importlib import resources

import pytest
from typer.testing import CliRunner

from experiments.cli import app

EXAMPLES = resources.files("experiments") / "examples"
runner = CliRunner()


def test_json_output_of_the_dumbbell_example():
    result = runner.invoke(app, ["netsim", str(EXAMPLES / "dumbbell.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"flows", "makespan_s"}
    assert list(data["flows"]) == ["A", "B", "C"]
    assert data["flows"]["B"] == {"start_s": 0.01, "finish_s": pytest.approx(0.090007, rel=1e-12)}
    assert data["makespan_s"] == pytest.approx(0.180007, rel=1e-12)


def test_table_output_and_trace(tmp_path):
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["netsim", str(EXAMPLES / "leafspine.json"), "--trace", str(out)])
    assert result.exit_code == 0, result.output
    assert "makespan" in result.stdout and "h7 -> h0" in result.stdout
    trace = json.loads(out.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(slices) == 6 and all(e["cat"] == "flow" for e in slices)


@pytest.mark.parametrize("text,field", [
    ('{"nodes": [{"id": "a"}, {"id": "b"}], "links": [{"a": "a", "b": "b", "bandwidth": 1}],'
     ' "flows": [{"id": "x", "src": "a", "dst": "b", "bytes": 1}, {"id": "y", "src": "a", "dst": "b", "bytes": 1},'
     ' {"id": "z", "src": "a", "dst": "h9", "bytes": 1}]}', "flows[2].dst: unknown node 'h9'"),
    ('{"nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "links": [{"a": "a", "b": "b", "bandwidth": 1}],'
     ' "flows": [{"id": "x", "src": "a", "dst": "c", "bytes": 1}]}', "flows[0].dst: no route from 'a' to 'c'"),
    ('{"nodes": [{"id": "a"}, {"id": "b"}], "links": [{"a": "a", "b": "b", "bandwidth": "0Gbps"}]}',
     "links[0].bandwidth: must be positive"),
    ('{"nodes": [{"id": "a"}, {"id": "b"}], "links": [{"a": "a", "b": "b", "bandwidth": 1, "latency": "-1us"}]}',
     "links[0].latency: must not be negative"),
    ('{"nodes": [{"id": "a"}, {"id": "b"}], "links": [{"a": "a", "b": "b", "bandwidth": 1}],'
     ' "flows": [{"id": "x", "src": "a", "dst": "b", "bytes": -1}]}', "flows[0].bytes: must not be negative"),
    ('{"nodes": [{"id": "a"}, {"id": "a"}], "links": []}', "nodes[1].id: duplicate node id 'a'"),
    ('{"nodes": [', "cannot parse"),
])
def test_errors_are_one_line_exit_2_and_write_nothing(tmp_path, text, field):
    scenario = tmp_path / "s.json"
    scenario.write_text(text)
    trace = tmp_path / "out.json"
    result = runner.invoke(app, ["netsim", str(scenario), "--json", "--trace", str(trace)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not trace.exists()


def test_missing_file_is_a_user_error(tmp_path):
    result = runner.invoke(app, ["netsim", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "nope.yaml" in result.stderr
