"""Fuzzing the commands that read results and write figures (plot, report) and compare-hw: random
column names, flags, filters, paths and hardware lists against a small real sweep. Each run must
exit 0 with its files written, or exit 2 with one line on stderr, no traceback and no file left
behind. ``DDLSIM_FUZZ_EXAMPLES`` sets the examples (more with HYPOTHESIS_PROFILE=explore)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from experiments.cli import app

runner = CliRunner()

_EXAMPLES = int(os.environ.get("DDLSIM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.function_scoped_fixture])

SWEEP = {"name": "fz", "workload": "collective", "repeats": 2,
         "base": {"op": "allreduce", "size": "1MiB", "bandwidth": "10Gbps", "latency": "1us", "mode": "analytic",
                  "topology": "switch"},
         "sweep": {"grid": {"algorithm": ["ring", "recursive-doubling"], "workers": [2, 4, 8]}}}
COLUMNS = ["workers", "time_s", "algorithm", "busbw_Bps", "repeat", "status", "energy_j", "size_B", "bits_per_worker",
           "nope", "", "time_s,energy_j", "energy_breakdown_j.link", "seed", "last"]
TEXT = st.sampled_from(["", "x", "none", "outside", "upper left", "best", "tradeoff", "bars", "stacked", "compression",
                        "a=b", "last=true", "workers=4", "algorithm=ring", "workers=", "=4", "status=ok", "nan",
                        "\u00e9\u00e8", "-1", "1e309"])


@pytest.fixture(scope="module")
def sweep_dir() -> Any:
    folder = Path(tempfile.mkdtemp())
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    result = runner.invoke(app, ["sweep", str(spec), "--workers", "0", "--out", str(folder / "fz")])
    assert result.exit_code == 0, result.output
    yield folder / "fz"
    shutil.rmtree(folder, ignore_errors=True)


def _contract(args: list[str], result: Any, outputs: list[Path], before: set[Path], folder: Path) -> None:
    where = f"ddlsim {' '.join(args)}\nstdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-1500:]}"
    assert "Traceback" not in result.output, where
    if result.exit_code == 0:
        assert any(p.exists() for p in outputs) or not outputs, where
        return
    assert result.exit_code == 2, f"exit {result.exit_code} ({result.exception!r})\n{where}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), where
    left = {p for p in folder.rglob("*")} - before
    assert not left, f"left behind {sorted(map(str, left))}\n{where}"


@FUZZ
@given(st.fixed_dictionaries({"--x": st.sampled_from(COLUMNS), "--y": st.sampled_from(COLUMNS)},
                             optional={"--hue": st.sampled_from(COLUMNS), "--col": st.sampled_from(COLUMNS),
                                       "--kind": TEXT, "--where": TEXT, "--legend": TEXT, "--title": TEXT,
                                       "--xlabel": TEXT, "--ylabel": TEXT}),
       st.lists(st.sampled_from(["--logx", "--logy"]), unique=True),
       st.sampled_from(["plot.png", "plot.svg", "plot.pdf", "plot.txt", "plot", "missing/plot.png", ".png"]))
def test_fuzz_plot(sweep_dir: Path, options: dict[str, str], flags: list[str], name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / name
        before = set(folder.rglob("*"))
        args = ["plot", str(sweep_dir), *[x for kv in options.items() for x in kv], *flags, "--out", str(out)]
        result = runner.invoke(app, args)
        _contract(args, result, [out], before, folder)


@FUZZ
@given(st.sampled_from(["report.html", "r.htm", "r.txt", "missing/r.html", "r", ".html"]),
       st.sampled_from(["sweep", "empty", "no-spec", "a-file"]))
def test_fuzz_report(sweep_dir: Path, name: str, source: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = {"sweep": sweep_dir, "empty": folder / "empty", "no-spec": folder / "nospec", "a-file": folder / "f.txt"}[source]
        if source == "empty":
            src.mkdir()
        elif source == "no-spec":
            shutil.copytree(sweep_dir, src)
            (src / "spec.yaml").unlink()
        elif source == "a-file":
            src.write_text("x")
        out = folder / name
        before = set(folder.rglob("*"))
        args = ["report", str(src), "--out", str(out)]
        result = runner.invoke(app, args)
        _contract(args, result, [out], before, folder)


DEVICES = st.sampled_from(["jetson-orin-nano-8gb", "a100-sxm4-40gb", "raspberry-pi-4b-4gb", "nope", "", ",",
                           "jetson-orin-nano-8gb@eth-1g", "a100-sxm4-40gb@nope", "@eth-1g", "x@", "eth-1g"])
LINKS = st.sampled_from(["eth-1g", "eth-10g", "nope", "", ",", "eth-1g,eth-10g", "jetson-orin-nano-8gb"])


@FUZZ
@given(st.lists(DEVICES, min_size=1, max_size=3), st.one_of(st.none(), LINKS),
       st.one_of(st.none(), st.sampled_from(COLUMNS)))
def test_fuzz_compare_hw(devices: list[str], links: str | None, metric: str | None) -> None:
    spec = {"name": "fz", "workload": "train", "repeats": 1,
            "base": {"workers": 2, "batch_size": 8, "model": "mlp", "model_params": {"hidden": [16]}, "data": "digits",
                     "compressor": "none", "steps": 1, "eval_every": 1, "mode": "analytic", "topology": "switch",
                     "device": "jetson-orin-nano-8gb", "link": "eth-1g"}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        before = set(folder.rglob("*"))
        out = folder / "out"
        args = ["compare-hw", str(path), "--devices", ",".join(devices), "--workers", "0", "--out", str(out)]
        args += ["--links", links] if links is not None else []
        args += ["--metric", metric] if metric is not None else []
        result = runner.invoke(app, args)
        _contract(args, result, [out], before, folder)
        if result.exit_code == 0:
            assert (out / "results.parquet").exists() and json.loads((out / "spec.json").read_text()) \
                if (out / "spec.json").exists() else (out / "results.parquet").exists()


@pytest.mark.parametrize("extra, match", [
    (["--x", "workers", "--y", "algorithm"], "column 'algorithm' holds text"),      # found by this fuzzer
    (["--x", "algorithm", "--y", "time_s"], "column 'algorithm' holds text"),
    (["--x", "workers", "--y", "time_s", "--where", "workers=abc"], "--where: column 'workers' holds numbers"),
    (["--x", "workers", "--y", "energy_j", "--logy"], "--logy: column 'energy_j' has no positive value"),
])
def test_plot_regressions_are_one_line_errors(sweep_dir: Path, tmp_path: Path, extra: list[str], match: str) -> None:
    result = runner.invoke(app, ["plot", str(sweep_dir), *extra, "--out", str(tmp_path / "p.png")])
    assert result.exit_code == 2 and match in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
    # the same column as categories is a figure
    ok = runner.invoke(app, ["plot", str(sweep_dir), "--kind", "bars", "--x", "algorithm", "--y", "time_s",
                             "--out", str(tmp_path / "b.png")])
    assert ok.exit_code == 0 and (tmp_path / "b.png").exists()


def test_compare_hw_refuses_an_unknown_device_before_running(tmp_path: Path) -> None:
    # found by this fuzzer: the sweep ran, every point failed, and the error blamed --metric
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "fz", "workload": "collective", "base": SWEEP["base"]}))
    for devices, match in (("nope,a100-sxm4-40gb", "--devices: unknown device 'nope'"),
                           ("a100-sxm4-40gb@nope", "--devices: unknown link 'nope'")):
        result = runner.invoke(app, ["compare-hw", str(spec), "--devices", devices, "--workers", "0",
                                     "--out", str(tmp_path / "out")])
        kind = "link" if "unknown link" in match else "device"
        assert result.exit_code == 2 and result.stderr.strip() == f"error: {match}; see `ddlsim hw list --kind {kind}`"
        assert not (tmp_path / "out").exists()
