"""``ddlsim compare-hw SPEC.yaml --devices A,B,C``: one workload on several hardware configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from hwmodels import SpecError

from .. import plots
from ..spec import ExperimentSpec, load_experiment
from ..sweep import run_sweep
from ..workloads import get_workload
from .app import app, catalog_env, user_errors
from .sweep import DEFAULT_ROOT, exit_on_failures, report_lines, sweep_progress

__all__ = ["compare_hw", "hardware_spec", "comparison_table"]


def hardware_spec(spec: ExperimentSpec, devices: list[str]) -> ExperimentSpec:
    """``spec`` with one more zipped axis: ``device`` (and ``link`` where given as DEVICE@LINK)."""
    workload = get_workload(spec.workload)
    if "device" not in workload.hardware:
        raise SpecError(f"workload {spec.workload} has no hardware to compare (kinds with a device: "
                        "collective, train)")
    if not devices:
        raise SpecError("--devices: give at least one device, e.g. --devices a100-sxm4-40gb,jetson-agx-orin-64gb")
    pairs = [d.split("@", 1) for d in devices]
    group: dict[str, list[str]] = {"device": [p[0] for p in pairs]}
    if any(len(p) == 2 for p in pairs):
        if not all(len(p) == 2 for p in pairs):
            raise SpecError("--devices: give a link to every entry (DEVICE@LINK) or to none")
        group["link"] = [p[1] for p in pairs]
    data = spec.model_dump()
    data["name"] = f"{spec.name}-compare-hw"
    data["sweep"]["zip"] = [*data["sweep"]["zip"], group]
    data["plots"] = []
    return ExperimentSpec.model_validate(data)


def comparison_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean and sd of ``metric`` (final rows, over repeats) per hardware configuration."""
    if metric not in table.columns:
        raise SpecError(f"--metric: no column {metric!r} in the results")
    rows = table[(table["status"] == "ok") & table["last"]]
    keys = [c for c in ("device", "link") if c in rows.columns]
    return rows.groupby(keys, sort=False)[metric].agg(["mean", "std", "count"]).reset_index()


@app.command("compare-hw")
@user_errors
def compare_hw(
    spec: Path = typer.Argument(..., help="Experiment spec whose workload runs on each configuration."),
    devices: str = typer.Option(..., "--devices", help="Comma-separated catalog devices, each optionally DEVICE@LINK."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric to compare (default: the workload's headline)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results directory (default ./ddlsim-results/<name>-compare-hw)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local Dask worker processes (0: in this process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Remote Dask scheduler address."),
) -> None:
    """Run one workload on several hardware configurations; print them side by side and plot them."""
    experiment = hardware_spec(load_experiment(spec), [d.strip() for d in devices.split(",") if d.strip()])
    metric = metric or get_workload(experiment.workload).headline
    bar = sweep_progress(experiment.name)
    try:
        with catalog_env():
            result = run_sweep(experiment, out or DEFAULT_ROOT / experiment.name, workers=workers, scheduler=scheduler,
                               on_point=bar)
    finally:
        bar.stop()
    summary = comparison_table(result.table, metric)
    files = plots.save(plots.bars(result.table, "device", metric, where={"last": True},
                                  title=f"{metric} by device ({experiment.workload})"),
                       result.root / "plots" / f"compare-{metric}")
    typer.echo(summary.to_string(index=False))
    typer.echo("\n".join(report_lines(result) + [f"  {f}" for f in files]))
    exit_on_failures([result])
