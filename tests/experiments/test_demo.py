"""``ddlsim demo``: the three bundled sweeps run and write their tables and plots."""

import json

import pandas as pd
from typer.testing import CliRunner

from experiments.cli import app
from experiments.demo import DEMO_SPECS, demo_specs
from experiments.sweep import expand


def test_demo_specs_are_valid():
    specs = demo_specs()
    assert [s.name for s in specs] == list(DEMO_SPECS)
    assert sum(len(expand(s)) for s in specs) == 10 + 32 + 4
    assert sum(len(s.plots) for s in specs) >= 3


def test_demo_command(tmp_path, monkeypatch):
    monkeypatch.delenv("DDLSIM_CATALOG", raising=False)
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--workers", "0", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [s["name"] for s in out["sweeps"]] == list(DEMO_SPECS) and all(s["errors"] == 0 for s in out["sweeps"])
    pngs = [f for s in out["sweeps"] for f in s["files"] if f.endswith(".png")]
    assert len(pngs) >= 3
    train = pd.read_parquet(tmp_path / "demo-compressors" / "results.parquet")
    final = train[train["last"]].groupby("compressor")["test_accuracy"].mean()
    assert final["none"] > 0.9 and set(final.index) == {"none", "fp16", "qsgd", "topk", "qcs"}
    bits = train[train["last"]].groupby("compressor")["bits_per_worker"].mean()
    assert bits["topk"] < bits["qsgd"] < bits["fp16"] < bits["none"]
    coll = pd.read_parquet(tmp_path / "demo-collectives" / "results.parquet")
    ring = coll[(coll["algorithm"] == "ring") & (coll["topology"] == "switch")].set_index("workers")["time_s"]
    assert ring.is_monotonic_increasing   # more workers, more latency terms, the same bandwidth term
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--workers", "0"])
    assert res.exit_code == 0 and "already done" in res.stdout and "demo finished" in res.stdout
