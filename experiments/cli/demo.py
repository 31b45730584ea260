"""``ddlsim demo``: the README's main job, three bundled sweeps with their tables and plots."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from .application import app
from .errors import user_errors
from .options import catalog_env, output_path
from .sweep import DEFAULT_ROOT, exit_on_failures, report_lines, sweep_progress

__all__ = ["demo"]


@app.command()
@user_errors
def demo(
    out: Path = typer.Option(DEFAULT_ROOT / "demo", "--out", help="Where the three sweeps write their results."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local Dask worker processes (default: cores; 0: in this process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Remote Dask scheduler address."),
    fresh: bool = typer.Option(False, "--fresh", help="Rerun every point."),
    as_json: bool = typer.Option(False, "--json", help="Print the files written and the counts as JSON."),
) -> None:
    """Run the bundled sweeps: compressors in training, collectives against scale, a hardware comparison."""
    from ..demo import run_demo  # noqa: PLC0415  (heavy imports only when the command runs)

    output_path(out, "--out", folder=True)
    bar = sweep_progress("demo")
    t0 = time.perf_counter()
    try:
        with catalog_env():
            results = run_demo(out, workers=workers, scheduler=scheduler, fresh=fresh, on_point=bar,
                               on_sweep=lambda spec: bar.restart(spec.name))
    finally:
        bar.stop()
    wall = time.perf_counter() - t0
    if as_json:
        typer.echo(json.dumps({"wall_s": wall, "sweeps": [
            {"name": r.root.name, "dir": str(r.root), "points": r.total, "errors": r.errors,
             "files": [str(f) for f in r.files]} for r in results]}, indent=2))
        exit_on_failures(results)
        return
    for r in results:
        typer.echo("\n".join(report_lines(r)))
    typer.echo(f"demo finished in {wall:.1f} s; see the plots above, `ddlsim results DIR` for a table, "
               "and `ddlsim plot DIR --x COL --y COL` for any other view.")
    exit_on_failures(results)
