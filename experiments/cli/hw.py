"""``ddlsim hw``: browse the hardware catalog."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hwmodels import units
from hwmodels.catalog import BUILTIN_DIR, KINDS, Catalog, Record
from hwmodels.record import readable_fields, to_json

from .app import app, catalog, echo_json, user_errors

hw_app = typer.Typer(help="Browse the hardware catalog (devices, links, radios).", no_args_is_help=True)
app.add_typer(hw_app, name="hw")


def _headline(record: Record) -> str:
    """The one number a reader scans the list for."""
    if record.kind == "device":
        memory = units.fmt(record.mem_bandwidth_Bps, "rate", 4, bytes_per_s=True)
        return f"{units.fmt(record.peak_flops['fp32'], 'flops', 4)} fp32, {memory}, {units.fmt(record.active_power_W, 'power', 4)}"
    if record.kind == "link":
        return f"{units.fmt(record.bandwidth_Bps, 'rate', 4)}, {units.fmt(record.latency_s, 'time', 4)}"
    return f"{units.fmt(record.max_tx_power_W, 'power', 4)}, {units.fmt(record.bandwidth_Hz, 'frequency', 4)}"


def _short(text: str, width: int = 56) -> str:
    """The start of a long citation; `hw show` prints it whole."""
    first = text.split(" ; ")[0]
    return first if len(first) <= width else first[: width - 1].rstrip() + "\u2026"


def catalog_table(records: list[Record], title: str = "Hardware catalog") -> Table:
    """A rich table of catalog records: name, kind, category, headline numbers, source."""
    table = Table(title=title, show_lines=False)
    for column in ("name", "kind", "category", "headline", "source"):
        table.add_column(column, overflow="fold", max_width=56 if column == "source" else None, no_wrap=column == "source")
    for record in records:
        table.add_row(record.name, record.kind, record.category, _headline(record), _short(record.source))
    return table


def _origin(cat: Catalog, record: Record) -> str:
    path = cat.origin.get((record.kind, record.name))
    if path is None:
        return "added in code"
    return "built-in" if path.parent == BUILTIN_DIR else str(path)


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
        data["defined_in"] = _origin(cat, record)
        echo_json(data)
        return
    table = Table(title=f"{record.kind} {record.name}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for field_name, value in readable_fields(record):
        if field_name != "name":
            table.add_row(field_name, value)
    table.add_row("defined in", _origin(cat, record))
    Console(width=160).print(table)
