"""The one look of every figure ddlsim writes: font sizes, a colour-blind-safe palette, a marker
per series, tick rules for log axes, a panel grid and where the legend goes.

Plot functions draw inside :func:`styled` (a matplotlib ``rc_context``, so a user's own
``rcParams`` outside our figures stay as they were) and take colours and markers from
:func:`series_style`. The palette is Okabe and Ito's eight colours ("Color Universal Design",
2008), readable under the common colour-vision deficiencies; the marker changes with the colour,
so series stay apart in greyscale print too.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402

from hwmodels import SpecError  # noqa: E402

from .spec import LEGEND_PLACES  # noqa: E402

__all__ = ["PALETTE", "MARKERS", "LEGEND_PLACES", "styled", "series_style", "panel_grid", "log_ticks",
           "integer_ticks", "place_legend", "check_legend", "DPI"]

# Okabe-Ito without its yellow (too faint on white); black last.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")
DPI = 150
PANEL_IN = (3.6, 2.8)   # width, height of one panel in inches: two fit a column of a two-column paper

_RC = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.title_fontsize": 8.5, "figure.titlesize": 10.5, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "lines.linewidth": 1.5, "lines.markersize": 5, "errorbar.capsize": 2.5, "legend.frameon": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "savefig.dpi": DPI, "figure.dpi": 100,
    "svg.fonttype": "none", "pdf.fonttype": 42,
}



@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Draw with ddlsim's style inside this block."""
    with plt.rc_context(_RC):
        yield


def series_style(i: int) -> dict[str, Any]:
    """Colour, marker (and, past the palette, a line style) of the ``i``-th series."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)]}


def panel_grid(n: int) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels: near square, at most 3 columns (1x1, 1x2, 2x2, 2x2, 2x3, ...)."""
    cols = min(3, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def check_legend(place: str | None) -> str | None:
    """``place`` if it is one of :data:`LEGEND_PLACES` (or None: automatic); SpecError otherwise."""
    if place is not None and place not in LEGEND_PLACES:
        raise SpecError(f"legend must be one of {', '.join(LEGEND_PLACES)}, got {place!r}")
    return place


def _is_integral(values: Sequence[float]) -> bool:
    arr = np.asarray(values, dtype=float)
    return arr.size > 0 and bool(np.all(np.isfinite(arr))) and bool(np.all(arr == np.round(arr)))


def integer_ticks(ax: Any, axis: str, values: Sequence[float], *, log: bool) -> bool:
    """Plain integer ticks at the data's values (worker counts, rounds) when they are a few small
    integers, far enough apart to read; True when applied. On a log axis this replaces
    "4x10^0"-style labels and minor labels."""
    unique = sorted(set(float(v) for v in values))
    if not _is_integral(unique) or not unique:
        return False
    target = ax.xaxis if axis == "x" else ax.yaxis
    apart = all(b >= 1.25 * a for a, b in zip(unique, unique[1:])) and unique[0] > 0
    if log and len(unique) <= 12 and unique[-1] < 1e5 and apart:
        target.set_major_locator(ticker.FixedLocator(unique))
        target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.0f}"))
        target.set_minor_locator(ticker.NullLocator())
        return True
    if not log:
        target.set_major_locator(ticker.MaxNLocator(integer=True))
        return True
    return False


# Mantissas of log-axis labels, from sparse to dense: the first giving 3 labels in range wins.
_LOG_SUBS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0), tuple(float(k) for k in range(1, 10)),
             (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0))


def log_ticks(ax: Any, axis: str, values: Sequence[float], *, max_labels: int | None = None) -> None:
    """Readable ticks on a log axis: labels at powers of ten over long ranges, at 1-2-5 (or
    denser) mantissas over short ones, at least 3 of them; never labels on minor ticks (they
    overlap on x); integer data with few values (worker counts) labelled at those values.
    ``max_labels`` caps the labels where they are long (sizes with units on x): 1-3, else powers
    of ten, with at least 2 labels."""
    arr = np.asarray([v for v in values if v > 0], dtype=float)
    if arr.size == 0 or integer_ticks(ax, axis, arr, log=True):
        return
    target = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = float(arr.min()), float(arr.max())

    def count(mantissas: tuple[float, ...]) -> int:
        decades = range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)
        return sum(lo <= m * 10.0 ** e <= hi for e in decades for m in mantissas)

    subs = next((m for m in _LOG_SUBS if count(m) >= 3), _LOG_SUBS[-1])
    if max_labels is not None and count(subs) > max_labels:
        subs = next((m for m in ((1.0, 3.0), (1.0,)) if 2 <= count(m) <= max_labels), subs)
    target.set_major_locator(ticker.LogLocator(base=10, subs=subs, numticks=8 if subs == (1.0,) else 30))
    target.set_major_formatter(ticker.FuncFormatter(_log_label))
    target.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(2, 10) * 1.0, numticks=30))
    target.set_minor_formatter(ticker.NullFormatter())


def _log_label(value: float, _pos: Any) -> str:
    """0.5, 20, 0.0015, 1e-05, 1.5e+06: short, and exact at the mantissas of :data:`_LOG_SUBS`."""
    if value <= 0:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    return f"{value:g}" if -4 <= exponent <= 4 else f"{value:.2g}"


def place_legend(fig: Any, axes: Sequence[Any], place: str | None, *, title: str | None, spare: Any = None) -> None:
    """One legend for the figure. ``None``: inside the single panel ("best"), else in the spare grid
    cell if there is one, else outside on the right; ``outside``: right of the panels; ``none``: no legend."""
    handles, labels = axes[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if place == "none" or not seen:
        return
    kwargs = {"title": title, "handlelength": 2.2}
    if place is None:
        place = "best" if len(axes) == 1 else ("spare" if spare is not None else "outside")
    if place == "spare":
        spare.legend(list(seen.values()), list(seen), loc="center", **kwargs)
    elif place == "outside":
        fig.legend(list(seen.values()), list(seen), loc="outside right center", **kwargs)
    else:
        axes[0].legend(list(seen.values()), list(seen), loc=place, **kwargs)


# Decimal prefixes for byte axes (bytes and bytes per second), largest first.
_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
PREFIXED_UNITS = ("B", "B/s")


def prefixed_ticks(ax: Any, axis: str, values: Sequence[float], unit: str, *, log: bool) -> str:
    """Byte axes read as bytes: on a log axis every label carries its own prefix ("8 B", "1 MB",
    "1 GB"; returns "" for the axis label); on a linear one the labels are in one prefixed unit
    chosen from the largest value, which is returned for the axis label ("GB/s")."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    if log:
        def label(v: float, _pos: Any) -> str:
            if v <= 0:
                return ""
            scale, prefix = next((s, p) for s, p in _PREFIXES if v >= s * 0.999 or s == 1.0)
            return f"{v / scale:g} {prefix}{unit}"
        target.set_major_formatter(ticker.FuncFormatter(label))
        return ""
    top = max((abs(float(v)) for v in values), default=0.0)
    scale, prefix = next((s, p) for s, p in _PREFIXES if top >= s or s == 1.0)
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v / scale:g}"))
    return f"{prefix}{unit}"

