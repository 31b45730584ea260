"""``ddlsim results DIR``: print a sweep's consolidated table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hwmodels import SpecError

from .application import app
from .errors import user_errors

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["results", "summary_view"]

_HIDDEN = ("sweep", "workload", "hash", "row", "last")


def summary_view(table: "pd.DataFrame") -> "pd.DataFrame":
    """The table without its bookkeeping columns and without columns that never vary."""
    keep = [c for c in table.columns if c not in _HIDDEN
            and (c in ("point", "repeat", "status") or table[c].astype(str).nunique() > 1)]
    return table[keep]


@app.command("results")
@user_errors
def results(
    folder: Path = typer.Argument(..., help="A sweep directory (or a results .parquet/.csv file)."),
    fmt: str = typer.Option("table", "--format", help="table (varying columns), csv or json (every column)."),
) -> None:
    """Print a sweep's results: one row per point and metrics row."""
    import pandas as pd  # noqa: PLC0415  (heavy imports only when the command runs)

    from ..results import read_table  # noqa: PLC0415

    if fmt not in ("table", "csv", "json"):
        raise SpecError(f"--format must be table, csv or json, got {fmt!r}")
    table = read_table(folder)
    if fmt == "csv":
        typer.echo(table.to_csv(index=False), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps(json.loads(table.to_json(orient="records")), indent=1))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 500):
            typer.echo(summary_view(table).to_string(index=False))
