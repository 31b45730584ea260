"""``ddlsim sweep SPEC.yaml``: run an experiment sweep into a results directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ..spec import load_experiment
from ..sweep import SweepResult, run_sweep
from .app import app, catalog_env, user_errors

__all__ = ["sweep", "ProgressBar", "report_lines", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path("ddlsim-results")


class ProgressBar:
    """A rich progress bar on stderr (only when stderr is a terminal); a sweep's ``on_point``."""

    def __init__(self, label: str = "sweep") -> None:
        self._bar: Any = None
        self._task: Any = None
        self.label = label
        if sys.stderr.isatty():
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn  # noqa: PLC0415

            self._bar = Progress("{task.description}", BarColumn(), MofNCompleteColumn(), "points",
                                 "{task.fields[errors]} failed", TimeElapsedColumn(), transient=True,
                                 console=Console(stderr=True))

    def __call__(self, done: int, total: int, record: dict[str, Any]) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=total, errors=0)
        errors = self._bar.tasks[0].fields["errors"] + (record.get("status") == "error")
        self._bar.update(self._task, completed=done, total=total, errors=errors)

    def restart(self, label: str) -> None:
        """Start a fresh bar for the next sweep."""
        self.stop()
        self.__init__(label)  # type: ignore[misc]

    def stop(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.stop()


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
    experiment = load_experiment(spec)
    bar = ProgressBar(experiment.name)
    try:
        with catalog_env():
            result = run_sweep(experiment, out or DEFAULT_ROOT / experiment.name, workers=workers, scheduler=scheduler,
                               fresh=fresh, csv=csv, on_point=bar)
    finally:
        bar.stop()
    typer.echo("\n".join(report_lines(result)))
