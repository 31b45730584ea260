"""``ddlsim hw``: browse the hardware catalog."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hwmodels.catalog import KINDS, Record
from hwmodels.record import readable_fields, to_json

from ..catalog_view import headline, origin, short_source
from .application import app
from .errors import user_errors
from .options import catalog, echo_json

hw_app = typer.Typer(help="Browse the hardware catalog (devices, links, radios).", no_args_is_help=True)
app.add_typer(hw_app, name="hw")


def catalog_table(records: list[Record], title: str = "Hardware catalog") -> Table:
    """A rich table of catalog records: name, kind, category, headline numbers, source."""
    table = Table(title=title, show_lines=False)
    for column in ("name", "kind", "category", "headline", "source"):
        table.add_column(column, overflow="fold", max_width=56 if column == "source" else None, no_wrap=column == "source")
    for record in records:
        table.add_row(record.name, record.kind, record.category, headline(record), short_source(record.source))
    return table


@hw_app.command("list")
@user_errors
def list_(
    kind: Optional[str] = typer.Option(None, "--kind", help=f"Only one kind: {', '.join(KINDS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of every entry (all fields, SI units)."),
) -> None:
    """List the catalog entries (built-in and user) with their sources."""
    records = catalog().entries(kind)
    if as_json:
        echo_json([to_json(r) for r in records])
    else:
        Console(width=200).print(catalog_table(records))


@hw_app.command("show")
@user_errors
def show(
    name: str = typer.Argument(..., help="Catalog name or alias, e.g. a100-sxm4-40gb."),
    kind: Optional[str] = typer.Option(None, "--kind", help=f"Look only in one kind: {', '.join(KINDS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print every field in SI with unit-suffixed keys."),
) -> None:
    """Show one catalog entry with all its fields."""
    cat = catalog()
    record = cat.get(name, kind)
    if as_json:
        data = to_json(record)
        data["defined_in"] = origin(cat, record)
        echo_json(data)
        return
    table = Table(title=f"{record.kind} {record.name}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for field_name, value in readable_fields(record):
        if field_name != "name":
            table.add_row(field_name, value)
    table.add_row("defined in", origin(cat, record))
    Console(width=160).print(table)
