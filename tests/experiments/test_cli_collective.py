"""`ddlsim collective`: JSON contract, the anchors, both modes, traces, user errors."""

import json

import pytest
from typer.testing import CliRunner

from experiments.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_user_catalog(monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)


def run(*args):
    return runner.invoke(app, ["collective", *args])


def as_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_anchor_p8_ring_des_json_contract():
    data = as_json("--op", "allreduce", "--algorithm", "ring", "--workers", "8", "--size", "1GiB",
                   "--topology", "ring", "--bandwidth", "50GiB/s", "--latency", "500ns")
    for key in ("time_s", "mode", "bytes_sent_total", "messages", "op", "algorithm", "workers", "size_B",
                "topology", "analytic_time_s"):
        assert key in data
    assert data["mode"] == "des" and data["size_B"] == 2**30 and data["workers"] == 8
    assert round(data["time_s"] * 1e9) == 35_007_000
    assert data["time_s"] == pytest.approx(data["analytic_time_s"], rel=1e-9)
    assert data["messages"] == 2 * 7 * 8 and data["bytes_sent_total"] == pytest.approx(14 * 2**30)


def test_anchor_p64_switch_analytic():
    data = as_json("--op", "allreduce", "--algorithm", "ring", "--workers", "64", "--size", "64MiB",
                   "--topology", "switch", "--bandwidth", "50GiB/s", "--latency", "500ns", "--mode", "analytic")
    assert data["mode"] == "analytic" and round(data["time_s"] * 1e9) == 2_586_938
    assert "analytic_time_s" not in data


@pytest.mark.parametrize("topology", ["ring", "switch", "fully-connected", "torus2d", "leaf-spine"])
def test_every_topology_runs_in_both_modes(topology):
    args = ("--op", "allreduce", "--algorithm", "halving-doubling", "--workers", "8", "--size", "8MB",
            "--topology", topology, "--bandwidth", "10Gbps", "--latency", "5us")
    des = as_json(*args)
    ana = as_json(*args, "--mode", "analytic")
    assert des["analytic_time_s"] == pytest.approx(ana["time_s"], rel=1e-12)
    assert des["messages"] == ana["messages"] == 8 * 6


def test_options_reach_the_algorithms():
    ps = as_json("--op", "allreduce", "--algorithm", "parameter-server", "--workers", "4", "--shards", "2",
                 "--size", "1MB", "--bandwidth", "10Gbps", "--latency", "5us")
    assert ps["hosts"] == 6 and ps["shards"] == 2
    assert ps["time_s"] == pytest.approx(2 * (10e-6 + 4 * 5e5 / 1.25e9))
    dbt = as_json("--op", "allreduce", "--algorithm", "double-binary-tree", "--workers", "8", "--chunks", "4",
                  "--size", "1MB", "--bandwidth", "10Gbps")
    assert dbt["chunks"] == 4 and dbt["steps"] == 4 + 2 * 3 - 1
    bc = as_json("--op", "broadcast", "--algorithm", "binomial-tree", "--workers", "5", "--root", "3",
                 "--size", "1MB", "--bandwidth", "10Gbps")
    assert bc["root"] == 3


def test_device_prices_reductions():
    plain = as_json("--op", "allreduce", "--algorithm", "ring", "--workers", "4", "--size", "64MB", "--bandwidth", "100Gbps")
    dev = as_json("--op", "allreduce", "--algorithm", "ring", "--workers", "4", "--size", "64MB", "--bandwidth", "100Gbps",
                  "--device", "jetson-nano")
    assert dev["gamma_s_per_B"] > 0 and dev["time_s"] > plain["time_s"]
    assert dev["time_s"] == pytest.approx(plain["time_s"] + 3 / 4 * 64e6 * dev["gamma_s_per_B"], rel=1e-9)


def test_hundred_thousand_workers_analytic():
    data = as_json("--op", "allreduce", "--algorithm", "direct", "--workers", "100000", "--size", "1GiB",
                   "--bandwidth", "100Gbps", "--mode", "analytic")
    assert data["messages"] == 2 * 100000 * 99999 and data["wall_s"] < 0.01


def test_trace_file_is_chrome_json(tmp_path):
    path = tmp_path / "trace.json"
    result = run("--op", "allgather", "--algorithm", "ring", "--workers", "4", "--size", "1MB", "--bandwidth", "10Gbps",
                 "--trace", str(path))
    assert result.exit_code == 0, result.output
    assert "time (des)" in result.stdout and str(path) in result.stdout
    trace = json.loads(path.read_text())
    assert sum(1 for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "flow") == 12


@pytest.mark.parametrize("args,match", [
    (("--size", "-1GiB"), "--size must be non-negative"),
    (("--size", "1 parsec"), "--size"),
    (("--algorithm", "halving-doubling", "--workers", "6"), "power-of-two worker count, got 6: use --workers 4 or 8"),
    (("--algorithm", "butterfly"), "known algorithms: binomial-tree, direct, double-binary-tree"),
    (("--op", "alltoall"), "for alltoall use one of: direct"),
    (("--op", "scan"), "known ops"),
    (("--workers", "0"), "--workers must be a positive integer"),
    (("--topology", "hypercube"), "unknown topology 'hypercube'"),
    (("--bandwidth", "0Gbps"), "bandwidth"),
    (("--chunks", "3"), "--chunks does not apply to allreduce/ring"),
    (("--mode", "analytic", "--trace", "x.json"), "--trace needs --mode des"),
    (("--mode", "fast"), "--mode"),
    (("--device", "no-such-gpu"), "no-such-gpu"),
    (("--device", "a100-sxm4-80gb", "--slowdown", "4=10"), "RANK must be a rank from 0 to 3"),
    (("--device", "a100-sxm4-80gb", "--slowdown", "x=10"), "RANK must be a rank"),
    (("--device", "a100-sxm4-80gb", "--slowdown", "1=0.5"), "FACTOR must be a number >= 1"),
    (("--device", "a100-sxm4-80gb", "--slowdown", "1=fast"), "FACTOR must be a number >= 1"),
    (("--device", "a100-sxm4-80gb", "--slowdown", "1"), "RANK=FACTOR"),
    (("--slowdown", "1=2"), "give --device"),
])
def test_user_errors_are_one_line_exit_2(args, match):
    base = {"--op": "allreduce", "--algorithm": "ring", "--workers": "4", "--size": "1MB", "--bandwidth": "10Gbps"}
    given = dict(zip(args[::2], args[1::2]))
    merged = {**base, **given}
    result = run(*[x for kv in merged.items() for x in kv])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and match in err, err


def test_slowdown_makes_one_rank_a_straggler():
    """A ring on a switch is lock-step: each of the p-1 reduce-scatter steps waits for the
    slow rank's reduction of n/p bytes, FACTOR times the device's. The closed form with the
    slowest rank's gamma is then exact."""
    args = ("--op", "allreduce", "--algorithm", "ring", "--workers", "16", "--size", "64MiB", "--bandwidth", "50GiB/s",
            "--latency", "500ns", "--device", "a100-sxm4-80gb")
    base = as_json(*args)
    slow = as_json(*args, "--slowdown", "5=10", "--slowdown", "9=3")
    assert slow["slowdown"] == {"5": 10.0, "9": 3.0}
    extra = 15 * (2**26 / 16) * 9 * base["gamma_s_per_B"]
    assert slow["time_s"] - base["time_s"] == pytest.approx(extra, rel=1e-9)
    assert slow["time_s"] == pytest.approx(slow["analytic_time_s"], rel=1e-9)
    ana = as_json(*args, "--slowdown", "5=10", "--mode", "analytic")
    assert ana["time_s"] == pytest.approx(slow["time_s"], rel=1e-9)


def test_a_spec_gives_slowdowns_as_a_mapping():
    from experiments.workloads import get_workload

    config = {"op": "allreduce", "algorithm": "ring", "workers": 8, "size": "8MiB", "bandwidth": "50GiB/s",
              "device": "a100-sxm4-80gb"}
    run_ = get_workload("collective").run
    base = run_(config, 0)
    slow = run_({**config, "slowdown": {3: 4}}, 0)
    cli = as_json("--op", "allreduce", "--algorithm", "ring", "--workers", "8", "--size", "8MiB", "--bandwidth",
                  "50GiB/s", "--device", "a100-sxm4-80gb", "--slowdown", "3=4")
    assert slow["time_s"] == cli["time_s"] > base["time_s"]


def test_energy_is_the_executor_rule_by_hand_in_both_modes():
    """P ranks idle over the collective, reduce (P - 1) n bytes in all at the device's gamma, and
    every byte crosses two links of the switch at the link's energy per bit."""
    from hwmodels import load_catalog
    from simulator.collectives import reduction_gamma

    cat = load_catalog()
    dev, link = cat.device("jetson-agx-orin-64gb"), cat.link("eth-10g")
    outs = []
    for mode in ("des", "analytic"):
        result = runner.invoke(app, ["collective", "--op", "allreduce", "--algorithm", "ring", "--workers", "8",
                                     "--size", "64MiB", "--link", "eth-10g", "--device", "jetson-agx-orin-64gb",
                                     "--mode", mode, "--json"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        n, t = out["size_B"], out["time_s"]
        hand = {"compute": (dev.active_power_W - dev.idle_power_W) * 7 * n * reduction_gamma(dev),
                "idle": 8 * dev.idle_power_W * t, "link": out["bytes_sent_total"] * 8 * 2 * link.energy_per_bit_J,
                "radio": 0.0}
        assert out["energy_breakdown_j"] == pytest.approx(hand, rel=1e-9)
        assert out["energy_j"] == pytest.approx(sum(hand.values()), rel=1e-12)
        outs.append(out["energy_j"])
    assert outs[0] == pytest.approx(outs[1], rel=1e-9)
