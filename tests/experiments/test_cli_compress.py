"""`ddlsim compress`: the listing, a measurement's JSON fields, and one-line user errors."""

import json
import math

import pytest
from typer.testing import CliRunner

from experiments.cli import app
from simulator.compression import schemes

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["compress", *args])


def test_list_json_has_every_scheme_with_parameter_ranges():
    result = run("--list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["scheme"] for d in data] == [s.name for s in schemes()]
    names = {d["scheme"] for d in data}
    assert {"none", "fp16", "qsgd", "terngrad", "signsgd", "ef-signsgd", "onebit", "topk", "randomk", "dgc",
            "powersgd", "natural", "qcs", "dqsg", "isgq", "ndqsg"} <= names
    qsgd = next(d for d in data if d["scheme"] == "qsgd")
    assert qsgd["params"]["levels"]["range"].startswith("an integer in [1,")
    assert run("--list").exit_code == 0


def test_measure_prints_the_documented_fields():
    result = run("--scheme", "qsgd", "--param", "levels=2", "--param", "bucket=128", "--elements", "2048",
                 "--distribution", "laplace", "--trials", "3", "--seed", "4", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    for key in ("scheme", "params", "bits_per_element", "relative_error", "bias", "unbiased", "rd_bound", "encode_s", "decode_s"):
        assert key in row
    assert row["params"] == {"levels": 2, "bucket": 128, "coding": "fixed"}
    assert row["bits_per_element"] == (math.ceil(2048 * math.log2(5)) + 16 * 32) / 2048
    assert row["rd_bound"] == pytest.approx(2 ** (-2 * row["bits_per_element"]))
    assert row["unbiased"] is True
    again = json.loads(run("--scheme", "qsgd", "--param", "levels=2", "--param", "bucket=128", "--elements", "2048",
                           "--distribution", "laplace", "--trials", "3", "--seed", "4", "--json").stdout)
    assert again["relative_error"] == row["relative_error"]


def test_worker_and_factor_schemes_take_their_own_options():
    ndqsg = json.loads(run("--scheme", "ndqsg", "--workers", "2", "--noise", "0.01", "--elements", "1024", "--trials", "2", "--json").stdout)
    assert ndqsg["workers"] == 2 and ndqsg["failures"] == 0
    vote = json.loads(run("--scheme", "signsgd", "--workers", "3", "--elements", "1024", "--trials", "1", "--json").stdout)
    assert vote["workers"] == 3 and vote["bits_per_element"] == 1 and vote["failures"] == 0
    isgq = json.loads(run("--scheme", "isgq", "--batch", "4", "--d-in", "32", "--d-out", "16", "--trials", "2", "--json").stdout)
    assert isgq["d_in"] == 32 and isgq["unbiased"] is True
    assert json.loads(run("--scheme", "powersgd", "--elements", "4096", "--rows", "64", "--trials", "1", "--json").stdout)["bits_per_element"] == 1.0


@pytest.mark.parametrize(("args", "fragment"), [
    (("--scheme", "nope"), "unknown compression scheme 'nope'"),
    (("--scheme", "qsgd", "--param", "speed=3"), "takes no parameter 'speed'"),
    (("--scheme", "qsgd", "--param", "levels=0"), "levels must be an integer in [1,"),
    (("--scheme", "topk", "--param", "k=5000", "--elements", "100"), "k must be an integer in [1, 100]"),
    (("--scheme", "qsgd", "--distribution", "cauchy"), "distribution must be one of gaussian"),
    (("--scheme", "qsgd", "--param", "levels"), "KEY=VALUE"),
    (("--scheme", "qsgd", "--trials", "0"), "trials must be"),
    (("--scheme", "powersgd", "--elements", "100", "--rows", "7"), "rows must be a divisor"),
    (("--scheme", "isgq", "--batch", "0"), "batch must be"),
    (("--scheme", "signsgd", "--workers", "0"), "workers must be"),
    (("--scheme", "qsgd", "--seed", "-1"), "seed must be an integer >= 0"),
    ((), "give --scheme"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, fragment):
    result = run(*args)
    assert result.exit_code == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
