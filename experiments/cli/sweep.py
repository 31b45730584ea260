"""``ddlsim sweep SPEC.yaml``: run an experiment sweep into a results directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from .application import app
from .errors import user_errors
from .options import catalog_env, output_path
from .progress import StepProgress

if TYPE_CHECKING:
    from ..sweep import SweepResult

__all__ = ["sweep", "sweep_progress", "report_lines", "exit_on_failures", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path("ddlsim-results")


def sweep_progress(label: str) -> StepProgress:
    """A sweep's ``on_point`` progress on stderr (a bar on a terminal, else a line every 20 s), counting failures."""
    return StepProgress(label, "points", count_errors=True)


def exit_on_failures(results: list[SweepResult]) -> None:
    """Warn of diverged points (metrics NaN or inf) on stderr; exit with code 1 when some point
    failed (everything is written by then), so scripts notice."""
    for r in results:
        if len(r.table) and "status" in r.table:
            for row in r.table[r.table["status"] == "diverged"].drop_duplicates("hash").itertuples():
                typer.echo(f"warning: {row.sweep} point {row.point} (repeat {row.repeat}) diverged: {row.error}",
                           err=True)
    failed = sum(r.errors for r in results)
    if failed:
        typer.echo(f"{failed} point(s) failed: their rows have status 'error'", err=True)
        raise typer.Exit(1)


def report_lines(result: SweepResult) -> list[str]:
    """What a finished sweep prints: counts, then every file written."""
    lines = [f"{result.root}: {result.total} points ({result.ran} run, {result.skipped} already done, "
             f"{result.errors} failed)"]
    if result.errors:
        failed = result.table[result.table["status"] == "error"].drop_duplicates("hash")
        lines += [f"  failed point {r.point} (repeat {r.repeat}): {r.error}" for r in failed.head(5).itertuples()]
    lines += [f"  {path}" for path in result.files]
    return lines


@app.command("sweep")
@user_errors
def sweep(
    spec: Path = typer.Argument(..., help="Experiment spec (YAML): workload, base, sweep axes, repeats, plots."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results directory (default ./ddlsim-results/<spec name>)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local Dask worker processes (default: cores; 0: run in this process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Remote Dask scheduler address (also $DASK_SCHEDULER_ADDRESS)."),
    fresh: bool = typer.Option(False, "--fresh", help="Forget finished points in the directory and run everything."),
    csv: bool = typer.Option(False, "--csv", help="Also write results.csv."),
) -> None:
    """Run every point of an experiment sweep (skipping finished ones); write the table and plots."""
    from ..spec import load_experiment  # noqa: PLC0415  (heavy imports only when the command runs)
    from ..sweep import run_sweep  # noqa: PLC0415

    experiment = load_experiment(spec)
    out = output_path(out or DEFAULT_ROOT / experiment.name, "--out", folder=True)
    bar = sweep_progress(experiment.name)
    try:
        with catalog_env():
            result = run_sweep(experiment, out, workers=workers, scheduler=scheduler,
                               fresh=fresh, csv=csv, on_point=bar)
    finally:
        bar.stop()
    typer.echo("\n".join(report_lines(result)))
    exit_on_failures([result])
