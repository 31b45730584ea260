"""Plots are written, non-empty, and their axes span the data."""

import numpy as np
import pandas as pd
import pytest

from experiments import plots
from hwmodels import SpecError
from simulator.timeline import Span


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    rows = []
    for alg in ("ring", "tree"):
        for workers in (2, 4, 8, 16):
            for repeat in range(3):
                rows.append({"status": "ok", "last": True, "algorithm": alg, "topology": "switch", "workers": workers,
                             "repeat": repeat, "time_s": workers * (1 if alg == "ring" else 2) + rng.normal(0, 0.1)})
    rows.append({"status": "error", "algorithm": "ring", "workers": 1000, "time_s": None, "last": True, "topology": "switch"})
    return pd.DataFrame(rows)


def _spans_data(ax, values, axis):
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    return lo <= min(values) and max(values) <= hi


def test_tradeoff_axes_cover_the_data_and_skip_errors(table, tmp_path):
    fig = plots.tradeoff(table, "workers", "time_s", hue="algorithm", logx=True)
    ax = fig.axes[0]
    ok = table[table["status"] == "ok"]
    assert _spans_data(ax, ok["workers"], "x") and _spans_data(ax, ok["time_s"], "y")
    assert ax.get_xlim()[1] < 1000                       # the failed point is not drawn
    assert len(ax.get_legend().get_texts()) == 2
    files = plots.save(fig, tmp_path / "t")
    assert [f.suffix for f in files] == [".png", ".svg"] and all(f.stat().st_size > 1000 for f in files)


def test_bars_and_compression_and_pdf(table, tmp_path):
    fig = plots.bars(table, "algorithm", "time_s", hue="workers")
    assert _spans_data(fig.axes[0], [0, table["time_s"].max()], "y")
    assert plots.save(fig, tmp_path / "b.pdf", ("pdf",))[0].stat().st_size > 1000
    comp = pd.DataFrame({"scheme": ["a", "a", "b"], "bits_per_element": [1.0, 1.0, 4.0],
                         "relative_error": [0.5, 0.6, 0.01], "status": "ok"})
    ax = plots.compression(comp).axes[0]
    assert _spans_data(ax, comp["bits_per_element"], "x") and _spans_data(ax, [2.0 ** -8, 0.6], "y")
    assert any("D(R)" in t.get_text() for t in ax.get_legend().get_texts())


def test_timeline_gantt(tmp_path):
    spans = [Span("h0", "compute", 0.0, 1.0), Span("h1", "send", 0.5, 2.5, 100.0)]
    ax = plots.timeline(spans).axes[0]
    assert ax.get_xlim() == (0.0, 2.5) and len(ax.patches) >= 2


def test_unknown_column_lists_the_known(table):
    with pytest.raises(SpecError, match="no column 'nope'.*workers"):
        plots.tradeoff(table, "nope", "time_s")
    with pytest.raises(SpecError, match="no finished rows"):
        plots.tradeoff(table, "workers", "time_s", where={"algorithm": "none"})
