"""Size limits are checked before work: closed forms answer any count, the rest say the memory limit."""

import json
import time

import pytest

from experiments.limits import available_bytes, check_fits
from hwmodels import SpecError

BILLION = "1000000000"


def test_analytic_ring_answers_a_billion_workers_from_the_closed_form(run):
    t0 = time.perf_counter()
    result = run("collective", "--op", "allreduce", "--algorithm", "ring", "--workers", BILLION, "--size", "1MiB",
                 "--bandwidth", "10Gbps", "--mode", "analytic", "--json")
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - t0 < 2.0
    out = json.loads(result.stdout)
    p, n, beta = 10**9, 2**20, 8 / 10e9
    # ring all-reduce on a switch: 2 (p-1)/p n beta, 2(p-1) steps, 2p(p-1) messages, 2(p-1) n bytes sent
    assert out["time_s"] == pytest.approx(2 * (p - 1) / p * n * beta, rel=1e-12)
    assert (out["steps"], out["messages"]) == (2 * (p - 1), 2 * p * (p - 1))
    assert out["bytes_sent_total"] == pytest.approx(2 * (p - 1) * n)


def test_ring_closed_form_counts_equal_the_built_programs():
    from simulator.collectives import build_program, totals

    for op in ("allreduce", "allgather", "reducescatter"):
        for p in (1, 2, 5, 16):
            prog = build_program(op, "ring", p, 1000.0)
            assert totals(op, "ring", p, 1000.0) == (prog.num_steps, prog.messages, pytest.approx(prog.bytes_sent_total))


@pytest.mark.parametrize("args, fragment", [
    (("--mode", "des"), "--mode analytic"),
    (("--mode", "analytic", "--topology", "torus2d"), "switch topology"),
])
def test_collective_sizes_beyond_memory_are_refused_with_the_limit(run, user_error, args, fragment):
    result = run("collective", "--op", "allreduce", "--algorithm", "ring", "--workers", BILLION, "--size", "1MiB",
                 "--bandwidth", "10Gbps", *args)
    user_error(result, "--workers 1000000000", "GiB of memory", "available", fragment)


def test_analytic_algorithm_without_closed_form_counts_says_so(run, user_error):
    result = run("collective", "--op", "allreduce", "--algorithm", "binomial-tree", "--workers", BILLION,
                 "--size", "1MiB", "--bandwidth", "10Gbps", "--mode", "analytic")
    user_error(result, "GiB of memory", "closed-form counts")


def test_compress_elements_beyond_memory(run, user_error):
    user_error(run("compress", "--scheme", "none", "--elements", "1000000000000"), "--elements 1000000000000", "GiB")
    user_error(run("compress", "--scheme", "none", "--elements", "1000000000", "--workers", "1000"), "--workers 1000")


def test_train_workers_beyond_memory(run, user_error, tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text("workers: 1000000000\n")
    t0 = time.perf_counter()
    user_error(run("train", spec), "workers 1000000000", "GiB of memory")
    assert time.perf_counter() - t0 < 5.0


def test_check_fits_compares_with_available_memory():
    check_fits("x", 1.0, "fix")
    with pytest.raises(SpecError, match="x: needs about .* GiB .*; use less"):
        check_fits("x", 10 * available_bytes() + 1, "use less")
    with pytest.raises(SpecError, match="more than can be counted"):
        check_fits("x", float("inf"), "use less")


@pytest.mark.parametrize("command", ["sweep", "demo"])
def test_negative_worker_processes_are_an_error_not_a_hang(run, user_error, tmp_path, command):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nworkload: compress\nbase: {scheme: none, elements: 64, trials: 1}\n"
                    "sweep: {grid: {distribution: [laplace]}}\n")
    args = ["sweep", spec] if command == "sweep" else ["demo"]
    result = run(*args, "--workers", "-1", "--out", tmp_path / "out")
    user_error(result, "--workers must be 0", "-1")
    assert not (tmp_path / "out").exists()


def test_fl_clients_beyond_memory(run, user_error, tmp_path):
    spec = tmp_path / "fl.yaml"
    spec.write_text("clients: 1000000000000\nrounds: 1\n")
    user_error(run("fl", spec), "clients 1000000000000", "GiB of memory", "fewer clients")
