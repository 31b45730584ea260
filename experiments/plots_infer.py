"""Plots of ``ddlsim restructure``: accuracy against simulated latency and against transfers per
sample, one series per partitioner (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["tradeoff_figure"]


def tradeoff_figure(rows: Sequence[dict[str, Any]], original_accuracy: float) -> Any:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    names = list(dict.fromkeys(r["partitioner"] for r in rows))
    for name in names:
        pts = sorted((r for r in rows if r["partitioner"] == name), key=lambda r: r["transfers_per_sample"])
        style = "o-" if len(pts) > 1 else "s"
        axes[0].plot([r["latency_s"] * 1e3 for r in pts], [r["accuracy"] for r in pts], style, label=name)
        axes[1].plot([r["transfers_per_sample"] for r in pts], [r["accuracy"] for r in pts], style, label=name)
    chosen = [r for r in rows if r.get("chosen")]
    for ax, key, scale in ((axes[0], "latency_s", 1e3), (axes[1], "transfers_per_sample", 1)):
        ax.axhline(original_accuracy, color="grey", lw=0.8, ls="--")
        if chosen:
            # hollow, so the chosen candidate's own marker stays visible under it
            ax.plot([chosen[0][key] * scale], [chosen[0]["accuracy"]], "*", ms=18, mfc="none", mec="k", mew=1.4,
                    label="chosen")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0].set_xlabel("simulated latency per batch (ms)")
    axes[1].set_xlabel("activation transfers per sample")
    axes[1].legend(fontsize=8)
    return fig
