"""Results folders: one writer at a time, one owner spec, no stale files, the user's umask."""

import os
import stat
import multiprocessing

import pandas as pd
import pytest
import yaml

from experiments.results import ResultStore
from experiments.spec import parse_experiment
from experiments.sweep import expand, run_sweep
from hwmodels import SpecError


def spec(name="a", distributions=("gaussian", "laplace"), elements=64):
    return parse_experiment({"name": name, "workload": "compress",
                             "base": {"scheme": "qsgd", "elements": elements, "trials": 1},
                             "sweep": {"grid": {"distribution": list(distributions)}}})


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    out = tmp_path / "out"
    with ResultStore(out).open("name: a\nworkload: compress\n"):
        with pytest.raises(SpecError, match="another sweep is writing this folder"):
            run_sweep(spec(), out, workers=0)
    assert run_sweep(spec(), out, workers=0).ran == 2   # free again once the first let go


def test_a_folder_of_another_spec_is_refused_unless_fresh(tmp_path):
    out = tmp_path / "out"
    run_sweep(spec("a"), out, workers=0, csv=True)
    before = sorted(p.name for p in (out / "points").iterdir())
    with pytest.raises(SpecError, match="holds the results of sweep 'a' .* not of 'b' .*--fresh"):
        run_sweep(spec("b"), out, workers=0)
    assert sorted(p.name for p in (out / "points").iterdir()) == before
    assert yaml.safe_load((out / "spec.yaml").read_text())["name"] == "a"
    result = run_sweep(spec("b", ["gaussian"], elements=32), out, workers=0, fresh=True)
    assert result.ran == 1 and len(list((out / "points").iterdir())) == 1
    assert not (out / "results.csv").exists()   # the csv of sweep a is gone with it
    assert set(pd.read_parquet(out / "results.parquet")["sweep"]) == {"b"}


def test_an_edited_spec_of_the_same_sweep_resumes_and_no_stale_csv_remains(tmp_path):
    out = tmp_path / "out"
    run_sweep(spec("a", ["gaussian"]), out, workers=0, csv=True)
    assert (out / "results.csv").exists()
    result = run_sweep(spec("a", ["gaussian", "laplace"]), out, workers=0)
    assert (result.ran, result.skipped) == (1, 1)
    assert not (out / "results.csv").exists()
    assert len(pd.read_parquet(out / "results.parquet")) == 2


def test_a_folder_with_other_files_is_not_a_sweep_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SpecError, match="no spec.yaml, so it is not a sweep folder"):
        run_sweep(spec(), tmp_path, workers=0)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".lock") == ["notes.txt"]


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        out = tmp_path / "out"
        run_sweep(spec(), out, workers=0, csv=True)
    finally:
        os.umask(old)
    files = [out / "spec.yaml", out / "results.csv", out / "results.parquet", *(out / "points").iterdir()]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o640)}


def _sweep_in_child(spec_file: str, out: str, queue) -> None:
    """A forked process (imports already loaded, so both start at once) running ``ddlsim sweep``."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from experiments.cli import app  # noqa: PLC0415

    result = CliRunner().invoke(app, ["sweep", spec_file, "--out", out, "--workers", "0"])
    queue.put((result.exit_code, result.stderr))


def _spec_file(tmp_path, name, distributions):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "workload": "compress",
                                    "base": {"scheme": "qsgd", "elements": 1 << 18, "trials": 2},
                                    "sweep": {"grid": {"distribution": distributions}}}))
    return path


@pytest.mark.parametrize("same", [True, False], ids=["same-spec", "different-specs"])
def test_two_processes_sweeping_into_one_folder(tmp_path, same):
    out = tmp_path / "out"
    files = [_spec_file(tmp_path, "a", ["gaussian", "laplace", "heavy-tailed"]),
             _spec_file(tmp_path, "a" if same else "b", ["gaussian", "laplace", "heavy-tailed"])]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_sweep_in_child, args=(str(f), str(out), queue)) for f in files]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    codes = sorted(code for code, _ in results)
    # both finish (the later one found every point done) or one is refused with one line
    assert codes in ([0, 0], [0, 2]) if same else codes == [0, 2], results
    for code, err in results:
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and ("another sweep is writing" in lines[0] or "holds the results of" in lines[0])
    # one consistent folder: the spec, its points and its table agree
    owner = yaml.safe_load((out / "spec.yaml").read_text())
    table = pd.read_parquet(out / "results.parquet")
    points = expand(parse_experiment(owner))
    assert sorted(table["hash"]) == sorted(p.hash for p in points)
    assert set(table["sweep"]) == {owner["name"]} and (table["status"] == "ok").all()
    assert sorted(p.stem for p in (out / "points").glob("*.json")) == sorted(p.hash for p in points)
