"""``ddlsim report DIR [--out FILE.html]``: a sweep as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .application import app
from .errors import user_errors
from .options import catalog, output_path

__all__ = ["report"]


@app.command("report")
@user_errors
def report(
    folder: Path = typer.Argument(..., help="A sweep directory (spec.yaml, results, plots/)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The HTML file (default DIR/report.html)."),
) -> None:
    """Write one static HTML page for a sweep: spec, environment, results with units, figures, failures."""
    from ..report import write_report  # noqa: PLC0415  (pandas only when the command runs)

    output_path(out, "--out")
    typer.echo(str(write_report(folder, out, catalog())))
