"""``ddlsim plot RESULTS --x COL --y COL``: a trade-off curve (or bars) from a results table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hwmodels import SpecError

from .application import app
from .errors import user_errors
from .options import figure_path

__all__ = ["plot"]


def _where(items: Optional[list[str]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--where takes COL=VALUE, got {item!r}")
        out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out


@app.command("plot")
@user_errors
def plot(
    source: Path = typer.Argument(..., help="A sweep directory or a results .parquet/.csv file."),
    x: str = typer.Option(..., "--x", help="Column on the x axis."),
    y: str = typer.Option(..., "--y", help="Column on the y axis (mean, error bars over repeats); with --kind "
                                           "stacked, the columns stacked in each bar, comma-separated."),
    hue: Optional[str] = typer.Option(None, "--hue", help="One line (or bar group) per value of this column."),
    col: Optional[str] = typer.Option(None, "--col", help="One panel per value of this column."),
    kind: str = typer.Option("tradeoff", "--kind", help="tradeoff, bars, stacked or compression."),
    where: Optional[list[str]] = typer.Option(None, "--where", help="Keep rows with COL=VALUE (repeatable), e.g. last=true."),
    logx: bool = typer.Option(False, "--logx", help="Log x axis (integer data such as worker counts keeps plain ticks)."),
    logy: bool = typer.Option(False, "--logy", help="Log y axis (spreads become geometric, never below zero)."),
    xlabel: str = typer.Option("", "--xlabel", help="x axis label (default: the metric's label and unit)."),
    ylabel: str = typer.Option("", "--ylabel", help="y axis label (default: the metric's label and unit)."),
    title: str = typer.Option("", "--title", help="Figure title (default: 'Y against X')."),
    legend: Optional[str] = typer.Option(None, "--legend", help="Legend place: best, upper left, ..., outside or none."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file; PNG plus SVG (or .pdf) beside it (default: plot-Y-vs-X.png in the sweep directory)."),
) -> None:
    """Plot any metric against any other, grouped by any column, from a results table."""
    from .. import plots  # noqa: PLC0415  (matplotlib and pandas only when the command runs)
    from ..results import read_table  # noqa: PLC0415

    if kind not in ("tradeoff", "bars", "stacked", "compression"):
        raise SpecError(f"--kind must be tradeoff, bars, stacked or compression, got {kind!r}")
    plots.check_legend(legend)
    figure_path(out, "--out")
    table = read_table(source)
    filters = _where(where)
    for name, value in filters.items():
        if name in table.columns and table[name].dtype.kind in "if":
            try:
                filters[name] = float(value)  # type: ignore[arg-type]
            except ValueError:
                raise SpecError(f"--where: column {name!r} holds numbers, got {value!r}") from None
    labels = {"title": title, "xlabel": xlabel, "ylabel": ylabel, "legend": legend}
    if kind == "bars":
        fig = plots.bars(table, x, y, hue=hue, where=filters, logy=logy, **labels)
    elif kind == "stacked":
        fig = plots.stacked(table, x, [c.strip() for c in y.split(",") if c.strip()], where=filters, **labels)
    elif kind == "compression":
        fig = plots.compression(table, x, y, hue=hue, where=filters, **labels)
    else:
        fig = plots.tradeoff(table, x, y, hue=hue, col=col, where=filters, logx=logx, logy=logy, **labels)
    if out is None:
        base = source if source.is_dir() else source.parent
        out = base / "plots" / f"plot-{y.replace(',', '+')}-vs-{x}.png"
    formats = ("pdf",) if out.suffix == ".pdf" else ("png", "svg")
    for path in plots.save(fig, out, formats):
        typer.echo(str(path))
