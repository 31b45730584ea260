"""Plots of ``ddlsim restructure``: accuracy against simulated latency and against transfers per
sample, one series per partitioner, the Pareto front (accuracy, latency, energy) drawn over the
candidates and the chosen plan starred; the hardware in the title."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["tradeoff_figure"]


def tradeoff_figure(rows: Sequence[dict[str, Any]], original_accuracy: float, *, title: str = "") -> Any:
    """Two panels of the optimiser's candidates ``rows`` (``Evaluation.row()`` plus ``pareto`` and
    ``chosen``); ``title`` should name the hardware."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from .style import PANEL_IN, place_legend, series_style, styled  # noqa: PLC0415

    with styled():
        fig, axes = plt.subplots(1, 2, figsize=(2 * PANEL_IN[0], PANEL_IN[1] + 0.5), sharey=True, layout="constrained")
        names = list(dict.fromkeys(r["partitioner"] for r in rows))
        panels = ((axes[0], "latency_s", 1e3, "simulated latency per batch (ms)"),
                  (axes[1], "transfers_per_sample", 1, "activation transfers per sample"))
        for ax, key, scale, xlabel in panels:
            for i, name in enumerate(names):
                # in order of transfers (the budget), so each partitioner's line follows its budget
                pts = sorted((r for r in rows if r["partitioner"] == name), key=lambda r: r["transfers_per_sample"])
                style = series_style(i)
                front = [r for r in pts if r.get("pareto")]
                # every candidate faint and hollow; the partitioner's Pareto-optimal ones solid on top
                ax.plot([r[key] * scale for r in pts], [r["accuracy"] for r in pts], ls="-" if len(pts) > 1 else "",
                        color=style["color"], marker=style["marker"], mfc="none", alpha=0.45, lw=1)
                ax.plot([r[key] * scale for r in front], [r["accuracy"] for r in front], ls="", color=style["color"],
                        marker=style["marker"], ms=6, label=name)
            front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["latency_s"])
            if key == "latency_s" and front:
                ax.plot([r[key] * scale for r in front], [r["accuracy"] for r in front], color="0.15", lw=0.9,
                        ls=":", drawstyle="steps-post", label="Pareto front", zorder=1)
            chosen = [r for r in rows if r.get("chosen")]
            if chosen:
                # hollow, so the chosen candidate's own marker stays visible under it
                ax.plot([chosen[0][key] * scale], [chosen[0]["accuracy"]], "*", ms=16, mfc="none", mec="k", mew=1.3,
                        label="chosen")
            ax.axhline(original_accuracy, color="0.5", lw=0.8, ls="--", label="unpartitioned model")
            ax.set_xlabel(xlabel)
        axes[0].set_ylabel("test accuracy")
        place_legend(fig, list(axes), "outside", title="partitioner (solid: Pareto-optimal)")
        fig.suptitle(title or "restructuring candidates")
    return fig
