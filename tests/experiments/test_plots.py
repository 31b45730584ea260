"""Plots are written, non-empty, their axes span the data, and they read as paper figures:
labels and units from the metric table, the spec's order of lines, plain worker ticks, spreads
never below zero on log axes, a grid of panels, one palette."""

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from experiments import plots
from experiments.spec import PlotRecipe
from experiments.style import MARKERS, PALETTE
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
    legend = ax.figure.legends[0]                         # outside the panel, clear of the curves
    assert any("D(R)" in t.get_text() for t in legend.get_texts())


def test_timeline_gantt(tmp_path):
    spans = [Span("h0", "compute", 0.0, 1.0), Span("h1", "send", 0.5, 2.5, 100.0)]
    ax = plots.timeline(spans).axes[0]
    assert ax.get_xlim() == (0.0, 2.5) and len(ax.patches) >= 2


def test_unknown_column_lists_the_known(table):
    with pytest.raises(SpecError, match="no column 'nope'.*workers"):
        plots.tradeoff(table, "nope", "time_s")
    with pytest.raises(SpecError, match="no finished rows"):
        plots.tradeoff(table, "workers", "time_s", where={"algorithm": "none"})


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_labels_and_units_come_from_the_metric_table(table):
    ax = plots.tradeoff(table.assign(workload="collective"), "workers", "time_s", hue="algorithm").axes[0]
    assert ax.get_xlabel() == "workers" and ax.get_ylabel() == "collective time (s)"
    assert ax.get_title() == "collective time against workers"
    recipe = PlotRecipe(name="p", x="workers", y="time_s", hue="algorithm", xlabel="ranks", ylabel="t (ms)",
                        title="mine", legend="lower right")
    [png, svg] = plots.render_recipes([recipe], table, _tmp := __import__("tempfile").mkdtemp())
    assert png.suffix == ".png" and svg.suffix == ".svg"
    fig = plots.tradeoff(table, "workers", "time_s", hue="algorithm", xlabel="ranks", ylabel="t (ms)", title="mine",
                         legend="lower right")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("ranks", "t (ms)", "mine")
    assert ax.get_legend()._loc == 4                      # matplotlib's code of "lower right"
    assert plots.tradeoff(table, "workers", "time_s", hue="algorithm", legend="none").axes[0].get_legend() is None
    with pytest.raises(SpecError, match="legend must be one of"):
        plots.tradeoff(table, "workers", "time_s", legend="somewhere")


def test_lines_keep_the_spec_order_and_each_its_colour_and_marker(table):
    order = ["tree", "ring"]                              # not alphabetical
    rows = pd.concat([table[table["algorithm"] == a] for a in order])
    fig = plots.tradeoff(rows, "workers", "time_s", hue="algorithm")
    assert _legend_texts(fig) == order
    lines = [c.lines[0] for c in fig.axes[0].containers if c.get_label() in order]   # each errorbar's data line
    assert [line.get_color() for line in lines] == list(PALETTE[:2])
    assert [line.get_marker() for line in lines] == list(MARKERS[:2])


def test_worker_counts_on_a_log_axis_get_plain_ticks(table):
    ax = plots.tradeoff(table, "workers", "time_s", hue="algorithm", logx=True).axes[0]
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8", "16"]
    assert not [t for t in ax.xaxis.get_minorticklabels() if t.get_text()]


def test_spreads_on_a_log_axis_stay_above_zero():
    # repeats 0.1 and 1.9: mean 1, standard deviation 1.27, so mean - sd < 0
    rows = pd.DataFrame({"status": "ok", "point": [0, 0, 1, 1], "row": 0, "repeat": [0, 1, 0, 1],
                         "x": [1, 1, 2, 2], "y": [0.1, 1.9, 0.1, 1.9]})
    ax = plots.tradeoff(rows, "x", "y", logy=True).axes[0]
    lows = [seg[:, 1].min() for coll in ax.collections for seg in coll.get_segments()]
    assert lows and min(lows) > 0
    centre = ax.get_lines()[0].get_ydata()
    assert centre == pytest.approx([np.sqrt(0.1 * 1.9)] * 2)     # the geometric mean
    assert min(lows) == pytest.approx(np.sqrt(0.19) / np.exp(np.std(np.log([0.1, 1.9]), ddof=1)))
    curve = pd.DataFrame({"status": "ok", "point": 0, "row": np.repeat(np.arange(8), 2), "repeat": [0, 1] * 8,
                          "x": np.repeat(np.arange(1, 9), 2), "y": [0.1, 1.9] * 8})
    band = plots.tradeoff(curve, "x", "y", logy=True).axes[0].collections[0]   # many points: a shaded band
    assert band.get_paths()[0].vertices[:, 1].min() > 0


def test_repeats_with_different_x_are_averaged_per_point_not_zigzagged():
    rows = pd.DataFrame({"status": "ok", "point": [0, 0, 1, 1], "row": 0, "repeat": [0, 1, 0, 1],
                         "bits": [100.0, 110.0, 10.0, 12.0], "acc": [0.9, 0.8, 0.7, 0.6]})
    line = plots.tradeoff(rows, "bits", "acc").axes[0].get_lines()[0]
    assert list(line.get_xdata()) == pytest.approx([11.0, 105.0]) and list(line.get_ydata()) == pytest.approx([0.65, 0.85])


def test_panels_wrap_into_a_grid_with_one_legend(table, tmp_path):
    rows = pd.concat([table.assign(topology=t) for t in ("switch", "torus2d", "ring")])
    fig = plots.tradeoff(rows, "workers", "time_s", hue="algorithm", col="topology", logx=True)
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == 3 and len(fig.axes) == 4             # 2 x 2, the spare cell holds the legend
    assert sum(ax.get_legend() is not None for ax in fig.axes) + len(fig.legends) == 1
    assert [ax.get_title() for ax in shown] == ["topology = switch", "topology = torus2d", "topology = ring"]
    height, width = matplotlib.image.imread(plots.save(fig, tmp_path / "grid")[0]).shape[:2]
    assert 0.8 < width / height < 2.0


def test_bars_are_labelled_with_their_values(table):
    ax = plots.bars(table.assign(workload="collective"), "algorithm", "time_s").axes[0]
    assert ax.get_ylabel() == "collective time (s)"
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.texts] == [
        f"{v:.3g}" for v in table[table["status"] == "ok"].groupby("algorithm", sort=False)["time_s"].mean()]


def test_stacked_bars_sum_their_parts():
    import pandas as pd

    from experiments import plots

    table = pd.DataFrame({"workload": "train", "name": ["a", "a", "b"], "energy_compute_j": [1.0, 3.0, 2.0],
                          "energy_idle_j": [1.0, 1.0, 5.0]})
    fig = plots.stacked(table, "name", ["energy_compute_j", "energy_idle_j"])
    ax = fig.axes[0]
    heights = sorted((round(p.get_x(), 2), round(p.get_y(), 6), round(p.get_height(), 6)) for p in ax.patches)
    # category a: mean compute 2 then idle 1 on top; b: 2 then 5
    assert [h[1:] for h in heights] == [(0.0, 2.0), (2.0, 1.0), (0.0, 2.0), (2.0, 5.0)]
    assert [t.get_text() for t in ax.texts] == ["3", "7"]


def test_long_size_labels_on_a_log_axis_are_few_enough_not_to_touch():
    # 1 MiB to 200 MiB: 1-2-5 would label 8 sizes ("100 MB" next to "200 MB" on a narrow panel)
    sizes = [2.0**20 * k for k in (1, 2, 5, 10, 25, 50, 100, 200)]
    rows = pd.DataFrame([{"status": "ok", "last": True, "algorithm": "ring", "topology": "switch", "workers": 8,
                          "repeat": 0, "size_B": s, "time_s": 1e-3 + s / 1e10} for s in sizes])
    ax = plots.tradeoff(rows, "size_B", "time_s", logx=True).axes[0]
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= v <= hi and t.get_text()]
    assert labels == ["1 MB", "3 MB", "10 MB", "30 MB", "100 MB"]   # 1-3 mantissas (1 MB: in the margin)
