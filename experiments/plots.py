"""Plots: functions from a results table (or a timeline) to a matplotlib Figure, and saving.

- :func:`tradeoff`: any metric against any other, one line per ``hue`` value, one panel per ``col``
  value, mean with error bars (standard deviation) over repeats.
- :func:`bars`: a hardware (or any categorical) comparison, grouped by ``hue``.
- :func:`compression`: relative error against bits per element with the Gaussian D(R) = 2^-2R and
  the unbiased bound 1/(2^2R - 1).
- :func:`timeline`: the Gantt chart of one run's :class:`~simulator.timeline.Timeline`.

Only rows with ``status == "ok"`` are drawn. :func:`save` writes PNG plus SVG (or PDF).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hwmodels import SpecError  # noqa: E402

__all__ = ["tradeoff", "bars", "compression", "timeline", "save", "render_recipes", "select"]


def select(table: pd.DataFrame, where: Mapping[str, Any] | None = None, columns: Iterable[str | None] = ()) -> pd.DataFrame:
    """The ok rows matching ``where`` (column: value or list of values); SpecError on an unknown column."""
    for name in [*(where or {}), *columns]:
        if name is not None and name not in table.columns:
            known = ", ".join(c for c in table.columns if c not in ("error",))
            raise SpecError(f"no column {name!r} in the results (columns: {known})")
    rows = table[table["status"] == "ok"] if "status" in table.columns else table
    for name, value in (where or {}).items():
        rows = rows[rows[name].isin(value if isinstance(value, list) else [value])]
    if rows.empty:
        raise SpecError("no finished rows to plot" + (f" where {dict(where)}" if where else ""))
    return rows


def _groups(rows: pd.DataFrame, key: str | None) -> list[tuple[Any, pd.DataFrame]]:
    if key is None:
        return [(None, rows)]
    return [(k, g) for k, g in rows.groupby(key, sort=True, dropna=False)]


def _stats(rows: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    return rows.groupby(x, sort=True)[y].agg(["mean", "std"]).fillna(0.0).reset_index()


def tradeoff(table: pd.DataFrame, x: str, y: str, *, hue: str | None = None, col: str | None = None,
             where: Mapping[str, Any] | None = None, logx: bool = False, logy: bool = False, title: str = "") -> Figure:
    """``y`` against ``x``, a line per ``hue``, a panel per ``col``; error bars over repeats."""
    rows = select(table, where, (x, y, hue, col))
    panels = _groups(rows, col)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False, sharey=True)
    for ax, (panel, prow) in zip(axes[0], panels):
        for label, grow in _groups(prow, hue):
            s = _stats(grow, x, y)
            ax.errorbar(s[x], s["mean"], yerr=s["std"], marker="o", ms=4, capsize=3,
                        label=None if hue is None else str(label))
        ax.set_xlabel(x)
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if logy else "linear")
        ax.grid(True, alpha=0.3)
        if col is not None:
            ax.set_title(f"{col} = {panel}")
    axes[0][0].set_ylabel(y)
    if hue is not None:
        axes[0][-1].legend(title=hue, fontsize="small")
    fig.suptitle(title or f"{y} against {x}", fontsize="medium")
    fig.tight_layout()
    return fig


def bars(table: pd.DataFrame, x: str, y: str, *, hue: str | None = None, where: Mapping[str, Any] | None = None,
         logy: bool = False, title: str = "") -> Figure:
    """Bars of ``y`` per ``x`` category (e.g. device), grouped by ``hue``; error bars over repeats."""
    rows = select(table, where, (x, y, hue))
    cats = list(dict.fromkeys(rows[x].astype(str)))
    groups = _groups(rows, hue)
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.2 * len(cats) * max(1, len(groups) / 2)), 4.2))
    for i, (label, grow) in enumerate(groups):
        s = _stats(grow.assign(**{x: grow[x].astype(str)}), x, y).set_index(x).reindex(cats)
        pos = np.arange(len(cats)) + (i - (len(groups) - 1) / 2) * width
        ax.bar(pos, s["mean"], width, yerr=s["std"], capsize=3, label=None if hue is None else str(label))
    ax.set_xticks(np.arange(len(cats)), cats, rotation=20, ha="right")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_yscale("log" if logy else "linear")
    if hue is not None:
        ax.legend(title=hue, fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title or f"{y} by {x}", fontsize="medium")
    fig.tight_layout()
    return fig


def compression(table: pd.DataFrame, x: str = "bits_per_element", y: str = "relative_error", *,
                hue: str | None = "scheme", where: Mapping[str, Any] | None = None, title: str = "") -> Figure:
    """Relative error against bits per element (log y), with the D(R) and unbiased bounds."""
    from simulator.compression.bounds import gaussian_distortion, unbiased_bound  # noqa: PLC0415

    fig = tradeoff(table, x, y, hue=hue, where=where, logy=True, title=title or "compression error against bits")
    ax = fig.axes[0]
    rows = select(table, where, (x,))
    lo, hi = float(rows[x].min()), float(rows[x].max())
    rate = np.linspace(max(lo * 0.9, 1e-3), hi * 1.1, 200)
    ax.plot(rate, [gaussian_distortion(r) for r in rate], "k--", lw=1, label="D(R) = 2^-2R")
    ax.plot(rate, [unbiased_bound(r) for r in rate], "k:", lw=1, label="unbiased bound")
    ax.legend(fontsize="small")
    return fig


def timeline(tl: Any, *, title: str = "timeline", max_resources: int = 40) -> Figure:
    """A Gantt chart: one lane per resource, one bar per span, coloured by kind."""
    spans = tl.spans if hasattr(tl, "spans") else list(tl)
    if not spans:
        raise SpecError("the timeline has no spans")
    resources = list(dict.fromkeys(s.resource for s in spans))[:max_resources]
    lane = {r: i for i, r in enumerate(resources)}
    kinds = list(dict.fromkeys(s.kind for s in spans))
    colours = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(kinds)}
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(resources) + 1.8))
    for s in spans:
        if s.resource in lane:
            ax.barh(lane[s.resource], s.end_s - s.start_s, left=s.start_s, height=0.8, color=colours[s.kind])
    ax.set_yticks(range(len(resources)), resources, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("simulated time (s)")
    ax.set_xlim(min(s.start_s for s in spans), max(s.end_s for s in spans))
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours[k]) for k in kinds], labels=kinds, fontsize="small")
    ax.set_title(title)
    fig.tight_layout()
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
        fig.savefig(target, dpi=120)
        out.append(target)
    plt.close(fig)
    return out


def render_recipes(recipes: Sequence[Any], table: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Draw each :class:`~experiments.spec.PlotRecipe` of a spec into ``folder``; the files written."""
    out: list[Path] = []
    for r in recipes:
        if r.kind == "bars":
            fig = bars(table, r.x, r.y, hue=r.hue, where=r.where, logy=r.logy, title=r.title)
        elif r.kind == "compression":
            fig = compression(table, r.x, r.y, hue=r.hue, where=r.where, title=r.title)
        else:
            fig = tradeoff(table, r.x, r.y, hue=r.hue, col=r.col, where=r.where, logx=r.logx, logy=r.logy,
                           title=r.title)
        out += save(fig, Path(folder) / r.name)
    return out
