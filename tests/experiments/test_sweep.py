"""The sweep runner: Dask equals sequential, failures are rows, kill -9 resumes, hashes are stable."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments.results import ResultStore
from experiments.spec import parse_experiment
from experiments.sweep import config_hash, expand, open_client, run_point, run_sweep
from hwmodels import SpecError

ANALYTIC = {"op": "allreduce", "size": "1MiB", "bandwidth": "10Gbps", "latency": "5us", "mode": "analytic"}


def collective_spec(name="s", **extra):
    data = {"name": name, "workload": "collective", "base": dict(ANALYTIC),
            "sweep": {"grid": {"workers": [2, 4, 8, 16], "algorithm": ["ring", "halving-doubling", "direct"]}}}
    data.update(extra)
    return parse_experiment(data)


@pytest.fixture(scope="module")
def client():
    with open_client(workers=2) as c:
        yield c


def _stable(table):
    return table.drop(columns=["wall_s"]).reset_index(drop=True)


def test_dask_gives_the_sequential_table(client, tmp_path):
    spec = parse_experiment({
        "name": "mixed", "workload": "compress", "base": {"elements": 2048, "trials": 3},
        "sweep": {"grid": {"scheme": ["qsgd", "topk", "signsgd"]}}, "repeats": 2})
    seq = run_sweep(spec, tmp_path / "seq", workers=0)
    par = run_sweep(spec, tmp_path / "par", client=client)
    assert seq.errors == par.errors == 0 and len(seq.table) == 6
    cols = [c for c in seq.table.columns if c not in ("wall_s", "encode_s", "decode_s")]
    pd.testing.assert_frame_equal(seq.table[cols], par.table[cols])
    coll = collective_spec()
    pd.testing.assert_frame_equal(_stable(run_sweep(coll, tmp_path / "c1", workers=0).table),
                                  _stable(run_sweep(coll, tmp_path / "c2", client=client).table))


def test_invalid_point_stops_the_sweep_before_any_point_runs(tmp_path):
    # a point's own config is validated like the run would (the algorithm exists, counts, sizes);
    # failures only found while running (timeouts, lost workers) are rows with status error, below
    spec = collective_spec(sweep={"grid": {"workers": [2, 4], "algorithm": ["ring", "no-such-algorithm"]}})
    with pytest.raises(SpecError, match="sweep point 1 .*no-such-algorithm"):
        run_sweep(spec, tmp_path / "seq", workers=0)
    assert not (tmp_path / "seq").exists()


def test_dask_timeout_marks_the_point(client, tmp_path):
    spec = parse_experiment({"name": "slow", "workload": "collective", "timeout_s": 3,
                             "base": {**ANALYTIC, "mode": "des", "algorithm": "direct", "topology": "torus2d"},
                             "sweep": {"grid": {"workers": [2, 400]}}})
    table = run_sweep(spec, tmp_path / "t", client=client).table
    assert list(table["status"]) == ["ok", "error"] and "timed out" in table["error"].iloc[1]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the alarm may land in a finalizer first
def test_sequential_timeout(tmp_path):
    point = expand(parse_experiment({"name": "slow", "workload": "collective", "timeout_s": 0.3,
                                     "base": {**ANALYTIC, "mode": "des", "algorithm": "direct", "workers": 400,
                                              "topology": "torus2d"}}))[0]
    t0 = time.perf_counter()
    record = run_point(point)
    assert record["status"] == "error" and "timed out" in record["error"] and time.perf_counter() - t0 < 5


def test_rerun_skips_finished_points(tmp_path):
    spec = collective_spec()
    first = run_sweep(spec, tmp_path, workers=0)
    again = run_sweep(spec, tmp_path, workers=0)
    assert (first.ran, again.ran, again.skipped) == (12, 0, 12)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert run_sweep(spec, tmp_path, workers=0, fresh=True).ran == 12


def test_hash_is_stable_across_processes():
    config = {"b": [1, 2.5], "a": {"y": "1MiB", "x": 3}}
    here = config_hash("collective", config, 1, 42, "0.1.0")
    code = ("from experiments.sweep import config_hash; "
            "print(config_hash('collective', {'a': {'x': 3, 'y': '1MiB'}, 'b': [1, 2.5]}, 1, 42, '0.1.0'))")
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert there.stdout.strip() == here


SLOW_SPEC = """name: killme
workload: collective
base: {op: allreduce, algorithm: ring, size: 4MiB, bandwidth: 10Gbps, latency: 5us, mode: des, topology: torus2d}
sweep:
  grid: {workers: [16, 20, 25, 30, 36], algorithm: [ring, parameter-server, direct, double-binary-tree]}
"""


def test_killed_sweep_resumes_with_every_point_once(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SLOW_SPEC)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "sweep", str(spec_file), "--out", str(out),
                             "--workers", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "points").glob("*.json"))) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.stem for p in (out / "points").glob("*.json")}
    assert 3 <= len(before)
    from experiments.spec import load_experiment  # noqa: PLC0415

    result = run_sweep(load_experiment(spec_file), out, workers=0)
    assert result.skipped == len(before) and result.ran == 20 - len(before)
    hashes = result.table["hash"]
    assert len(hashes) == 20 and hashes.is_unique and (result.table["status"] == "ok").all()
    assert sorted(hashes) == sorted(p.hash for p in expand(load_experiment(spec_file)))
    assert not list((out / "points").glob(".*.tmp"))
    stored = ResultStore(out).records()
    assert len(stored) == 20 and all(json.loads(json.dumps(r))["status"] == "ok" for r in stored)


def test_a_dask_sweep_ends_without_error_logs_even_with_port_8787_taken(tmp_path):
    import socket

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SLOW_SPEC.replace("[16, 20, 25, 30, 36]", "[4, 8]").replace("mode: des", "mode: analytic"))
    taken = socket.socket()
    try:
        taken.bind(("0.0.0.0", 8787))       # as another user's Dask dashboard would
        taken.listen()
    except OSError:
        pass                                 # already held by someone else: the same situation
    try:
        proc = subprocess.run([sys.executable, "-m", "experiments.cli", "sweep", str(spec_file), "--out",
                               str(tmp_path / "out"), "--workers", "2"], capture_output=True, text=True, timeout=300)
    finally:
        taken.close()
    assert proc.returncode == 0, proc.stderr
    assert "8 points (8 run" in proc.stdout
    for noise in ("Traceback", "ERROR", "Failed to communicate", "already in use", "Warning"):
        assert noise not in proc.stderr, proc.stderr


def test_a_point_that_does_not_fit_its_device_is_infeasible_not_an_error():
    base = {"model": "mlp", "data": "digits", "workers": 2, "batch_size": 16, "steps": 1, "device": "nrf52840",
            "link": "eth-1g", "optimizer": "adam"}
    points = expand(parse_experiment({"name": "fit", "workload": "train", "base": base,
                                      "sweep": {"grid": {"optimizer": ["adam", "sgd"]}}}))
    adam, sgd = (run_point(p) for p in points)
    assert adam["status"] == "infeasible" and adam["rows"] == [] and "worker h0 needs 268,144 B" in adam["error"]
    assert sgd["status"] == "ok" and sgd["rows"][0]["peak_memory_B_per_worker"] == 268_144 - 76_880
