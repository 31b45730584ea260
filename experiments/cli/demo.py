"""``ddlsim demo``: the README's main job (the catalog, then a priced training step)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from hwmodels import units

from ..demo import PARAMS, TOKENS_PER_WORKER, WORKERS, demo_rows
from .app import app, catalog, echo_json, user_errors
from .hw import catalog_table


@app.command()
@user_errors
def demo(
    as_json: bool = typer.Option(False, "--json", help="Print the example's rows as JSON (no catalog table)."),
) -> None:
    """Print the hardware catalog, then price one data-parallel training step on several clusters."""
    cat = catalog()
    rows = demo_rows(cat)
    if as_json:
        echo_json(rows)
        return
    console = Console(width=160)
    console.print(catalog_table(cat.entries()))
    table = Table(title=f"One data-parallel step: {PARAMS / 1e6:.0f}M-parameter transformer, {WORKERS} workers x "
                        f"{TOKENS_PER_WORKER} tokens, fp32 ring all-reduce over a switch")
    for column in ("device", "link", "dtype", "compute", "all-reduce", "step", "comm share", "energy (8 workers)"):
        table.add_column(column, justify="left" if column in ("device", "link", "dtype") else "right")
    for row in rows:
        fits = "" if row["fits_memory"] else " (state does not fit memory)"
        table.add_row(str(row["device"]) + fits, str(row["link"]), str(row["dtype"]),
                      units.fmt(row["compute_s"], "time", 4), units.fmt(row["allreduce_s"], "time", 4),
                      units.fmt(row["step_s"], "time", 4), f"{row['comm_share']:.0%}",
                      units.fmt(row["energy_j"], "energy", 4))
    console.print(table)
    console.print("Compute: roofline at 6NT FLOPs; all-reduce: ring closed form; no overlap. "
                  "See `ddlsim hw show NAME` for every number's source.")
