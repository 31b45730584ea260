"""Plots: functions from a results table (or a timeline) to a matplotlib Figure, and saving.

- :func:`tradeoff`: any metric against any other, one line per ``hue`` value (in the order the
  spec gives them), one panel per ``col`` value (a near-square grid), the mean over repeats with
  its spread: error bars of one standard deviation, or a shaded band on curves of many points; on
  a log axis the geometric mean and the geometric standard deviation (x/÷), never below zero.
- :func:`bars`: a hardware (or any categorical) comparison, grouped by ``hue``, each bar labelled.
- :func:`compression`: relative error against bits per element with the Gaussian D(R) = 2^-2R and
  the unbiased bound 1/(2^2R - 1).
- :func:`timeline`: the Gantt chart of one run's :class:`~simulator.timeline.Timeline`.

Axis labels come from the metric table (:mod:`experiments.metrics`), the look from
:mod:`experiments.style`. Only rows with ``status == "ok"`` are drawn. :func:`save` writes PNG
plus SVG (or PDF).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hwmodels import SpecError

from . import metrics
from .style import (DPI, PANEL_IN, PREFIXED_UNITS, check_legend, integer_ticks, log_ticks, panel_grid, place_legend,
                    prefixed_ticks, series_style, styled)

import matplotlib.pyplot as plt  # noqa: E402,I001  (after style: the Agg backend is chosen there)

__all__ = ["tradeoff", "bars", "compression", "timeline", "save", "save_timeline", "render_recipes", "select",
           "figure_format", "check_legend"]

BAND_MIN_POINTS = 7   # a line with at least this many points shows its spread as a band, not bars


def select(table: pd.DataFrame, where: Mapping[str, Any] | None = None, columns: Iterable[str | None] = (),
           numeric: Iterable[str] = ()) -> pd.DataFrame:
    """The ok rows matching ``where`` (column: value or list of values); SpecError on an unknown
    column, or on a ``numeric`` one (an axis of values) that holds text."""
    for name in [*(where or {}), *columns, *numeric]:
        if name is not None and name not in table.columns:
            known = ", ".join(c for c in table.columns if c not in ("error",))
            raise SpecError(f"no column {name!r} in the results (columns: {known})")
    for name in numeric:
        values = table[name].dropna()
        text = values[pd.to_numeric(values, errors="coerce").isna()]
        if not text.empty:
            sample = text.iloc[0]
            raise SpecError(f"column {name!r} holds text (e.g. {sample!r}), not numbers to put on an axis: "
                            f"group by it (--hue or --col) or draw it as categories (--kind bars --x {name})")
    rows = table[table["status"] == "ok"] if "status" in table.columns else table
    for name, value in (where or {}).items():
        rows = rows[rows[name].isin(value if isinstance(value, list) else [value])]
    if rows.empty:
        raise SpecError("no finished rows to plot" + (f" where {dict(where)}" if where else ""))
    return rows


def _groups(rows: pd.DataFrame, key: str | None) -> list[tuple[Any, pd.DataFrame]]:
    """Groups in order of first appearance: the table is in point order, so the spec's order."""
    if key is None:
        return [(None, rows)]
    return [(k, g) for k, g in rows.groupby(key, sort=False, dropna=False)]


def _centre(values: pd.Series, log: bool) -> tuple[float, float, float]:
    """(centre, lower, upper): mean +- sd, or on a log axis the geometric mean x/÷ the geometric sd."""
    v = values.astype(float).to_numpy()
    if log:
        v = v[v > 0]
        if v.size == 0:
            return (float("nan"),) * 3
        logs = np.log(v)
        centre, spread = float(np.exp(logs.mean())), float(np.exp(logs.std(ddof=1))) if v.size > 1 else 1.0
        return centre, centre / spread, centre * spread
    mean, sd = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
    return mean, mean - sd, mean + sd


def _stats(rows: pd.DataFrame, x: str, y: str, logx: bool, logy: bool) -> pd.DataFrame:
    """One row per point and evaluation (``point``, ``row``), or per ``x`` value in a table
    without them: x and y averaged over the repeats with their spreads, sorted by x."""
    keys = ["point", "row"] if {"point", "row"} <= set(rows.columns) else [x]
    out = []
    for _, g in rows.groupby(keys, sort=False):
        xc, xlo, xhi = _centre(g[x], logx)
        yc, ylo, yhi = _centre(g[y], logy)
        out.append({"x": xc, "xlo": xlo, "xhi": xhi, "y": yc, "ylo": ylo, "yhi": yhi, "n": len(g)})
    return pd.DataFrame(out).dropna(subset=["x", "y"]).sort_values("x", kind="stable")


def _draw_series(ax: Any, s: pd.DataFrame, style: dict[str, Any], label: str | None) -> None:
    if len(s) >= BAND_MIN_POINTS:
        ax.plot(s["x"], s["y"], label=label, markevery=max(1, len(s) // 8), **style)
        if (s["n"] > 1).any():
            ax.fill_between(s["x"], s["ylo"], s["yhi"], color=style["color"], alpha=0.18, lw=0)
        return
    xerr = np.vstack([s["x"] - s["xlo"], s["xhi"] - s["x"]]) if (s["xhi"] > s["xlo"]).any() else None
    yerr = np.vstack([s["y"] - s["ylo"], s["yhi"] - s["y"]]) if (s["yhi"] > s["ylo"]).any() else None
    ax.errorbar(s["x"], s["y"], xerr=xerr, yerr=yerr, label=label, **style)


PUBLISHED_MARKERS = ("s", "D", "^", "v", "P")


def _draw_published(ax: Any, published: Sequence[Any], panel: Any) -> None:
    """Published series (black, open markers, dotted) whose ``col`` is this panel's value or absent."""
    for i, p in enumerate(published):
        if p.col is None or p.col == panel:
            ax.plot(p.x, p.y, color="black", marker=PUBLISHED_MARKERS[i % len(PUBLISHED_MARKERS)],
                    markerfacecolor="none", linestyle=":", linewidth=1.2, markersize=6, label=p.label)


def _title_of(x: str, y: str, workload: str | None) -> str:
    return f"{metrics.label(y, workload)} against {metrics.label(x, workload)}"


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def tradeoff(table: pd.DataFrame, x: str, y: str, *, hue: str | None = None, col: str | None = None,
             where: Mapping[str, Any] | None = None, logx: bool = False, logy: bool = False, title: str = "",
             xlabel: str = "", ylabel: str = "", legend: str | None = None,
             reference: Callable[[Any], None] | None = None, published: Sequence[Any] = ()) -> Figure:
    """``y`` against ``x``, a line per ``hue``, a panel per ``col``; spreads over repeats.
    Labels default to the metric table's; ``legend``: see :data:`~experiments.spec.LEGEND_PLACES`;
    ``reference(ax)`` draws reference curves (bounds) into each panel before the legend is made;
    ``published``: :class:`~experiments.spec.PublishedSeries` (label, x, y, col) drawn in black
    with open markers beside the simulated lines, each in its ``col`` panel (or in all)."""
    check_legend(legend)
    rows = select(table, where, (hue, col), numeric=(x, y))
    for option, name, log in (("--logx", x, logx), ("--logy", y, logy)):
        if log and not (pd.to_numeric(rows[name], errors="coerce") > 0).any():
            raise SpecError(f"{option}: column {name!r} has no positive value to put on a log axis; drop {option}")
    workload = metrics.workload_of(table)
    hues = [k for k, _ in _groups(rows, hue)]
    panels = _groups(rows, col)
    nrows, ncols = panel_grid(len(panels))
    with styled():
        # room on the right for a legend outside the panels (where place_legend will put it)
        outside = legend == "outside" or (legend is None and hue is not None and 1 < len(panels) == nrows * ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(PANEL_IN[0] * ncols + (1.6 if outside else 0.0),
                                                        PANEL_IN[1] * nrows + 0.4),
                                 squeeze=False, sharex=True, sharey=True, layout="constrained")
        cells = list(grid.flat)
        axes = cells[:len(panels)]
        for ax, (panel, prow) in zip(axes, panels):
            for key, grow in _groups(prow, hue):
                style = series_style(hues.index(key))
                _draw_series(ax, _stats(grow, x, y, logx, logy), style, None if hue is None else _value(key))
            ax.set_xscale("log" if logx else "linear")
            ax.set_yscale("log" if logy else "linear")
            if reference is not None:
                reference(ax)
            _draw_published(ax, published, panel if col is not None else None)
            if col is not None:
                ax.set_title(f"{metrics.label(col, workload)} = {_value(panel)}")
        shown = {}   # axis -> its label (byte axes carry their unit in the ticks or a prefixed unit)
        for axis, log, name in (("x", logx, x), ("y", logy, y)):
            values = rows[name].astype(float)
            entry = metrics.metric(name, workload)
            unit = entry.unit if entry is not None else metrics.AXES.get(name, ("", ""))[1]
            shown[axis] = metrics.axis_label(name, workload)
            for ax in axes:
                if log:   # sizes with units on x make long labels: at most 6 of them
                    log_ticks(ax, axis, values, max_labels=6 if axis == "x" and unit in PREFIXED_UNITS else None)
                else:
                    integer_ticks(ax, axis, values, log=False)
                if unit in PREFIXED_UNITS:
                    prefixed = prefixed_ticks(ax, axis, values, unit, log=log)
                    shown[axis] = metrics.label(name, workload) + (f" ({prefixed})" if prefixed else "")
        for i, ax in enumerate(axes):
            if i // ncols == nrows - 1 or i + ncols >= len(axes):
                ax.set_xlabel(xlabel or shown["x"])
                ax.xaxis.set_tick_params(labelbottom=True)
            if i % ncols == 0:
                ax.set_ylabel(ylabel or shown["y"])
        spare = cells[len(panels)] if len(cells) > len(panels) else None
        for extra in cells[len(panels):]:
            extra.axis("off")
        if hue is not None or reference is not None or published:
            place_legend(fig, axes, legend, title=None if hue is None else metrics.label(hue, workload), spare=spare)
        heading = title or _title_of(x, y, workload)
        if len(axes) == 1:
            axes[0].set_title(heading)
        else:
            fig.suptitle(heading)
    return fig


def bars(table: pd.DataFrame, x: str, y: str, *, hue: str | None = None, where: Mapping[str, Any] | None = None,
         logy: bool = False, title: str = "", xlabel: str = "", ylabel: str = "", legend: str | None = None) -> Figure:
    """Bars of ``y`` per ``x`` category (e.g. device), grouped by ``hue``; mean and spread over the
    rows of each bar (repeats); every bar labelled with its value."""
    check_legend(legend)
    rows = select(table, where, (x, hue), numeric=(y,))
    workload = metrics.workload_of(table)
    cats = list(dict.fromkeys(rows[x].astype(str)))
    groups = _groups(rows, hue)
    width = 0.8 / len(groups)
    with styled():
        fig, ax = plt.subplots(figsize=(max(PANEL_IN[0], 0.55 * len(cats) * len(groups) + 1.2), PANEL_IN[1] + 0.4),
                               layout="constrained")
        for i, (key, grow) in enumerate(groups):
            stats = {cat: _centre(g[y], logy) for cat, g in grow.groupby(grow[x].astype(str), sort=False)}
            present = [c for c in cats if c in stats]
            pos = np.array([cats.index(c) for c in present]) + (i - (len(groups) - 1) / 2) * width
            centre = np.array([stats[c][0] for c in present])
            err = np.array([[stats[c][0] - stats[c][1] for c in present], [stats[c][2] - stats[c][0] for c in present]])
            colour = series_style(i)["color"]
            ax.bar(pos, centre, width * 0.92, yerr=err if err.any() else None, color=colour,
                   label=None if hue is None else _value(key), error_kw={"elinewidth": 0.9})
            for px, value, top in zip(pos, centre, centre + err[1]):   # above the error bar, if any
                ax.annotate(f"{value:.3g}", (px, top), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(cats)), cats, rotation=20 if max(map(len, cats)) > 10 else 0,
                      ha="right" if max(map(len, cats)) > 10 else "center")
        ax.set_xlabel(xlabel or metrics.axis_label(x, workload))
        ax.set_ylabel(ylabel or metrics.axis_label(y, workload))
        ax.set_yscale("log" if logy else "linear")
        if logy:
            log_ticks(ax, "y", rows[y].astype(float))
        else:
            ax.set_ylim(0, ax.get_ylim()[1] * 1.08)   # room for the value labels
        ax.grid(False, axis="x")
        if hue is not None:   # beside the bars by default: "best" may still sit on one
            place_legend(fig, [ax], legend or "outside", title=metrics.label(hue, workload))
        ax.set_title(title or f"{metrics.label(y, workload)} by {metrics.label(x, workload)}")
    return fig


def stacked(table: pd.DataFrame, x: str, parts: Sequence[str], *, where: Mapping[str, Any] | None = None,
            title: str = "", xlabel: str = "", ylabel: str = "", legend: str | None = None) -> Figure:
    """One bar per ``x`` category, stacked from the columns ``parts`` (e.g. energy by kind: compute,
    idle, link, radio), each the mean over the rows of the category; the total above the bar."""
    check_legend(legend)
    rows = select(table, where, (x,), numeric=parts)
    workload = metrics.workload_of(table)
    cats = list(dict.fromkeys(rows[x].astype(str)))
    means = rows.groupby(rows[x].astype(str), sort=False)[list(parts)].mean().reindex(cats)
    with styled():
        fig, ax = plt.subplots(figsize=(max(PANEL_IN[0], 0.7 * len(cats) + 2.4), PANEL_IN[1] + 0.4),
                               layout="constrained")
        base = np.zeros(len(cats))
        for i, part in enumerate(parts):
            values = means[part].to_numpy(dtype=float)
            ax.bar(np.arange(len(cats)), values, 0.7, bottom=base, color=series_style(i)["color"],
                   label=metrics.label(part, workload))
            base += values
        for px, total in enumerate(base):
            ax.annotate(f"{total:.3g}", (px, total), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(cats)), cats, rotation=20 if max(map(len, cats)) > 10 else 0,
                      ha="right" if max(map(len, cats)) > 10 else "center")
        ax.set_xlabel(xlabel or metrics.axis_label(x, workload))
        ax.set_ylabel(ylabel or metrics.axis_label(parts[0], workload))
        ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
        ax.grid(False, axis="x")
        place_legend(fig, [ax], legend or "outside", title="")
        ax.set_title(title or f"{', '.join(metrics.label(p, workload) for p in parts)} by {metrics.label(x, workload)}")
    return fig


def compression(table: pd.DataFrame, x: str = "bits_per_element", y: str = "relative_error", *,
                hue: str | None = "scheme", where: Mapping[str, Any] | None = None, title: str = "",
                xlabel: str = "", ylabel: str = "", legend: str | None = None) -> Figure:
    """Relative error against bits per element (log y), with the D(R) and unbiased bounds."""
    from simulator.compression.bounds import gaussian_distortion, unbiased_bound  # noqa: PLC0415

    rows = select(table, where, (), numeric=(x,))
    lo, hi = float(rows[x].min()), float(rows[x].max())
    rate = np.linspace(max(lo * 0.9, 1e-3), hi * 1.1, 200)

    def bounds(ax: Any) -> None:
        ax.plot(rate, [gaussian_distortion(r) for r in rate], color="0.35", ls="--", lw=1, marker="",
                label="D(R) = 2^-2R")
        ax.plot(rate, [unbiased_bound(r) for r in rate], color="0.35", ls=":", lw=1.2, marker="",
                label="unbiased bound 1/(2^2R - 1)")

    return tradeoff(table, x, y, hue=hue, where=where, logy=True, title=title or "compression error against bits",
                    xlabel=xlabel, ylabel=ylabel, legend=legend or "outside", reference=bounds)


_DEVICE_KINDS = ("compute", "codec", "reduce", "delay")


def timeline(tl: Any, *, title: str = "timeline", max_resources: int = 40) -> Figure:
    """A Gantt chart: one row per resource, one bar per span, coloured by kind; spans of a
    resource that overlap go to sub-rows of its row, the device's work (compute, codec, reduce)
    above its communication (flows, collectives, airtime)."""
    from simulator.timeline import assign_lanes  # noqa: PLC0415

    spans = tl.spans if hasattr(tl, "spans") else list(tl)
    if not spans:
        raise SpecError("the timeline has no spans")
    resources = list(dict.fromkeys(s.resource for s in spans))[:max_resources]
    kinds = list(dict.fromkeys(s.kind for s in spans))
    colours = {k: series_style(i)["color"] for i, k in enumerate(kinds)}
    with styled():
        fig, ax = plt.subplots(figsize=(7.2, 0.3 * len(resources) + 1.4), layout="constrained")
        for row, resource in enumerate(resources):
            work = [s for s in spans if s.resource == resource and s.kind in _DEVICE_KINDS]
            comm = [s for s in spans if s.resource == resource and s.kind not in _DEVICE_KINDS]
            first = assign_lanes(work)
            top = max(first, default=-1) + 1
            own, lanes = work + comm, first + [top + lane for lane in assign_lanes(comm)]
            height = 0.8 / (max(lanes) + 1)
            for s, lane in zip(own, lanes):
                y = row - 0.4 + height * (lane + 0.5)
                ax.barh(y, s.end_s - s.start_s, left=s.start_s, height=height * 0.9, color=colours[s.kind],
                        edgecolor="white", linewidth=0.6)
        ax.set_yticks(range(len(resources)), resources)
        ax.invert_yaxis()
        ax.grid(False, axis="y")
        ax.set_xlabel("simulated time (s)")
        ax.set_xlim(min(s.start_s for s in spans), max(s.end_s for s in spans))
        fig.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours[k]) for k in kinds], labels=kinds,
                   loc="outside right upper")
        ax.set_title(title)
    return fig


FIGURE_FORMATS = ("png", "svg", "pdf")


def figure_format(path: str | Path, what: str = "a figure file") -> str:
    """The format of a figure file from its suffix (png, svg or pdf), or a SpecError naming ``what``."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise SpecError(f"{what}: give a .png, .svg or .pdf file, got {str(path)!r}")
    return fmt


def save_timeline(tl: Any, path: str | Path, *, title: str = "timeline") -> Path:
    """Draw :func:`timeline` into ``path`` (.png, .svg or .pdf, from its suffix)."""
    return save(timeline(tl, title=title), path, (figure_format(path),))[0]


def save(fig: Figure, path: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix in ``formats`` (png, svg, pdf); close it; the paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        fig.savefig(target, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
        out.append(target)
    plt.close(fig)
    return out


def render_recipes(recipes: Sequence[Any], table: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Draw each :class:`~experiments.spec.PlotRecipe` of a spec into ``folder``; the files written."""
    out: list[Path] = []
    for r in recipes:
        labels = {"title": r.title, "xlabel": r.xlabel, "ylabel": r.ylabel, "legend": r.legend}
        if r.kind == "bars":
            fig = bars(table, r.x, r.y, hue=r.hue, where=r.where, logy=r.logy, **labels)
        elif r.kind == "stacked":
            fig = stacked(table, r.x, r.stack or [r.y], where=r.where, **labels)
        elif r.kind == "compression":
            fig = compression(table, r.x, r.y, hue=r.hue, where=r.where, **labels)
        else:
            fig = tradeoff(table, r.x, r.y, hue=r.hue, col=r.col, where=r.where, logx=r.logx, logy=r.logy,
                           published=r.published, **labels)
        out += save(fig, Path(folder) / r.name)
    return out
