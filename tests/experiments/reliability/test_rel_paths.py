"""Output paths are checked before any work; file-system and data errors are one line with exit 2."""

import os
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "experiments" / "examples"
TRAIN = EXAMPLES / "train_digits_mlp_none.yaml"
SCENARIO = EXAMPLES / "dumbbell.yaml"
COLLECTIVE = ("collective", "--op", "allreduce", "--algorithm", "ring", "--workers", "4", "--size", "1MiB",
              "--bandwidth", "10Gbps")
SWEEP = ("name: tiny\nworkload: compress\nbase: {scheme: none, elements: 64, trials: 1}\n"
         "sweep: {grid: {distribution: [gaussian, laplace]}}\n")


def _commands(tmp: Path, bad: str) -> list[tuple[str, ...]]:
    spec = tmp / "tiny.yaml"
    spec.write_text(SWEEP)
    hardware = tmp / "hw.yaml"
    hardware.write_text("name: hw\nworkload: collective\nbase: {op: allreduce, algorithm: ring, size: 1MiB, "
                        "mode: analytic}\nsweep: {grid: {workers: [2]}}\n")
    long_train = tmp / "long.yaml"   # minutes of work if the check came after it
    long_train.write_text("workers: 2\nsteps: 1000000\n")
    return [
        ("train", long_train, "--out", bad),
        ("train", long_train, "--trace", f"{bad}.json"),
        ("train", long_train, "--gantt", f"{bad}.png"),
        ("restructure", EXAMPLES / "infer_digits_restructure.yaml", "--out", bad),
        ("netsim", SCENARIO, "--trace", f"{bad}.json"),
        ("netsim", SCENARIO, "--gantt", f"{bad}.svg"),
        (*COLLECTIVE, "--trace", f"{bad}.json"),
        (*COLLECTIVE, "--gantt", f"{bad}.png"),
        ("sweep", spec, "--out", bad, "--workers", "0"),
        ("compare-hw", hardware, "--devices", "jetson-agx-orin-64gb", "--out", bad, "--workers", "0"),
        ("demo", "--out", bad, "--workers", "0"),
        ("plot", tmp, "--x", "a", "--y", "b", "--out", f"{bad}.png"),
        ("report", tmp, "--out", f"{bad}.html"),
        ("calibrate", "--quick", "--out", f"{bad}.yaml"),
    ]


def test_every_output_under_a_regular_file_fails_before_work(run, user_error, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    bad = str(tmp_path / "afile" / "sub")
    commands = _commands(tmp_path, bad)
    before = sorted(tmp_path.rglob("*"))
    for args in commands:
        t0 = time.perf_counter()
        line = user_error(run(*args), "afile is a file, not a folder")
        assert time.perf_counter() - t0 < 15.0, (args, "the check came after work")
        assert line.count("afile") >= 1
    assert sorted(tmp_path.rglob("*")) == before   # nothing half-written


def test_a_folder_where_a_file_goes_and_a_file_where_a_folder_goes(run, user_error, tmp_path):
    (tmp_path / "afile").write_text("x")
    user_error(run(*COLLECTIVE, "--trace", tmp_path), "is a folder; give a file name")
    user_error(run("train", TRAIN, "--out", tmp_path / "afile"), "exists and is not a folder")


def test_an_unwritable_folder_is_refused_before_work(run, user_error, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:   # root may write anywhere: pretend the permission check says no
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    user_error(run("netsim", SCENARIO, "--trace", locked / "t.json"), "permission denied")
    assert not list(locked.iterdir())


def test_plot_out_names_the_allowed_suffixes(run, user_error, tmp_path):
    user_error(run("plot", tmp_path, "--x", "a", "--y", "b", "--out", tmp_path / "p.xyz"), ".png, .svg or .pdf",
               "p.xyz")
    assert not list(tmp_path.iterdir())


@pytest.fixture(name="swept")
def _swept(run, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SWEEP)
    out = tmp_path / "out"
    assert run("sweep", spec, "--out", out, "--workers", "0").exit_code == 0
    return spec, out


def test_a_corrupt_parquet_is_one_line(run, user_error, swept):
    _, out = swept
    (out / "results.parquet").write_bytes(b"PAR1 not really")
    for args in (("results", out), ("plot", out, "--x", "noise", "--y", "relative_error"), ("report", out)):
        user_error(run(*args), "results.parquet", "rerun the sweep")


def test_a_truncated_point_is_one_line_and_the_sweep_repairs_it(run, user_error, swept):
    spec, out = swept
    (out / "results.parquet").unlink()
    point = sorted((out / "points").glob("*.json"))[0]
    point.write_text(point.read_text()[:40])
    user_error(run("results", out), point.name, "damaged point record", "rerun the sweep")
    result = run("sweep", spec, "--out", out, "--workers", "0")
    assert result.exit_code == 0 and "(1 run, 1 already done" in result.stdout
    assert run("results", out).exit_code == 0


def test_a_binary_spec_is_one_line(run, user_error, tmp_path):
    spec = tmp_path / "b.yaml"
    spec.write_bytes(b"\xff\xfe\x00binary")
    for command in ("train", "sweep", "netsim", "infer", "fl"):
        user_error(run(command, spec))
