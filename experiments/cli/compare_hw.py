"""``ddlsim compare-hw SPEC.yaml --devices A,B@LINK [--links L1,L2]``: one workload on several
hardware configurations, each device x link configuration its own bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from hwmodels import SpecError

from .application import app
from .errors import user_errors
from .options import catalog, catalog_env, output_path
from .sweep import DEFAULT_ROOT, exit_on_failures, report_lines, sweep_progress

if TYPE_CHECKING:
    import pandas as pd

    from ..spec import ExperimentSpec

__all__ = ["compare_hw", "hardware_spec", "comparison_table", "hardware_configs"]


def hardware_configs(devices: list[str], links: list[str]) -> dict[str, list[str]]:
    """The zipped ``device`` (and ``link``) axis: DEVICE@LINK entries as given, or with ``links``
    every device on every link (device-major order)."""
    if not devices:
        raise SpecError("--devices: give at least one device, e.g. --devices a100-sxm4-40gb,jetson-agx-orin-64gb")
    pairs = [d.split("@", 1) for d in devices]
    with_link = [len(p) == 2 for p in pairs]
    if links:
        if any(with_link):
            raise SpecError("--links: give links either per device (DEVICE@LINK) or with --links, not both")
        return {"device": [d for d in devices for _ in links], "link": [lk for _ in devices for lk in links]}
    if any(with_link) and not all(with_link):
        raise SpecError("--devices: give a link to every entry (DEVICE@LINK) or to none")
    if all(with_link):
        return {"device": [p[0] for p in pairs], "link": [p[1] for p in pairs]}
    return {"device": devices}


def hardware_spec(spec: ExperimentSpec, devices: list[str], links: list[str] | None = None) -> ExperimentSpec:
    """``spec`` with one more zipped axis: ``device`` (and ``link``, from DEVICE@LINK or ``links``).
    The spec's own hardware axes give way: grid and random axes and point overrides of a hardware
    field are dropped, and so are zip groups holding one (their other axes name that hardware)."""
    from ..spec import ExperimentSpec  # noqa: PLC0415
    from ..workloads import get_workload  # noqa: PLC0415

    workload = get_workload(spec.workload)
    if "device" not in workload.hardware:
        raise SpecError(f"workload {spec.workload} has no hardware to compare (kinds with a device: "
                        "collective, train, fl, infer, restructure)")
    group = hardware_configs(devices, list(links or []))
    if "link" in group and "link" not in workload.hardware:
        raise SpecError(f"workload {spec.workload} has no link to vary (its hardware: {', '.join(workload.hardware)})")
    data = spec.model_dump()
    data["name"] = f"{spec.name}-compare-hw"
    sweep, hardware = data["sweep"], set(workload.hardware)
    sweep["grid"] = {k: v for k, v in sweep["grid"].items() if k.split(".")[0] not in hardware}
    sweep["points"] = [{k: v for k, v in p.items() if k.split(".")[0] not in hardware} for p in sweep["points"]]
    if sweep["random"] is not None:
        sweep["random"]["axes"] = {k: v for k, v in sweep["random"]["axes"].items() if k.split(".")[0] not in hardware}
    sweep["zip"] = [g for g in sweep["zip"] if not {k.split(".")[0] for k in g} & hardware] + [group]
    data["plots"] = []
    return ExperimentSpec.model_validate(data)


def comparison_table(table: pd.DataFrame, metric: str, keys: list[str]) -> pd.DataFrame:
    """Mean, standard deviation and number of runs of ``metric`` (final rows) per configuration
    (``keys``: device, and link when it varies), headed with the metric's label and unit."""
    from ..metrics import axis_label, workload_of  # noqa: PLC0415

    if metric not in table.columns:
        raise SpecError(f"--metric: no column {metric!r} in the results")
    rows = table[(table["status"] == "ok") & table["last"]]
    stats = rows.groupby(keys, sort=False)[metric].agg(["mean", "std", "count"]).reset_index()
    return stats.rename(columns={"mean": f"{axis_label(metric, workload_of(table))}: mean", "std": "sd",
                                 "count": "runs"})


@app.command("compare-hw")
@user_errors
def compare_hw(
    spec: Path = typer.Argument(..., help="Experiment spec whose workload runs on each configuration."),
    devices: str = typer.Option(..., "--devices", help="Comma-separated catalog devices, each optionally DEVICE@LINK."),
    links: Optional[str] = typer.Option(None, "--links", help="Comma-separated catalog links: every device on every link."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Metric to compare (default: the workload's headline)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results directory (default ./ddlsim-results/<name>-compare-hw)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Local Dask worker processes (0: in this process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Remote Dask scheduler address."),
    csv: bool = typer.Option(False, "--csv", help="Also write results.csv and comparison.csv."),
) -> None:
    """Run one workload on several hardware configurations; print them side by side and plot them."""
    from .. import plots  # noqa: PLC0415  (heavy imports only when the command runs)
    from ..metrics import known_metric  # noqa: PLC0415
    from ..spec import load_experiment  # noqa: PLC0415
    from ..sweep import run_sweep  # noqa: PLC0415
    from ..workloads import get_workload  # noqa: PLC0415

    split = [d.strip() for d in devices.split(",") if d.strip()]
    experiment = hardware_spec(load_experiment(spec), split, [lk.strip() for lk in (links or "").split(",") if lk.strip()])
    metric = metric or get_workload(experiment.workload).headline
    entry = known_metric(experiment.workload, metric)       # before anything runs
    hardware = catalog()                                    # every name known before anything runs
    axis = experiment.sweep.zip[-1]
    for option, kind in (("--devices", "device"), ("--links" if links else "--devices", "link")):
        for name in dict.fromkeys(axis.get(kind, [])):
            try:
                getattr(hardware, kind)(name)
            except SpecError as exc:
                raise SpecError(f"{option}: {exc}") from None
    keys = ["device", "link"] if "link" in experiment.sweep.zip[-1] else ["device"]
    out = output_path(out or DEFAULT_ROOT / experiment.name, "--out", folder=True)
    bar = sweep_progress(experiment.name)
    try:
        with catalog_env():
            result = run_sweep(experiment, out, workers=workers, scheduler=scheduler,
                               csv=csv, on_point=bar)
    finally:
        bar.stop()
    summary = comparison_table(result.table, metric, keys)
    table = result.table.assign(configuration=result.table[keys].astype(str).agg(" @ ".join, axis=1))
    grid = len(keys) == 2 and summary["link"].nunique() > 1 and len(summary) == summary["device"].nunique() * \
        summary["link"].nunique()
    x, hue = ("device", "link") if grid else ("configuration", None)
    figure = plots.bars(table, x, metric, hue=hue, where={"last": True},
                        title=f"{entry.label} by hardware ({experiment.workload}: {experiment.name.removesuffix('-compare-hw')})")
    files = plots.save(figure, result.root / "plots" / f"compare-{metric}")
    if csv:
        summary.to_csv(result.root / "comparison.csv", index=False)
        files.append(result.root / "comparison.csv")
    typer.echo(summary.to_string(index=False, na_rep="-"))
    typer.echo("\n".join(report_lines(result) + [f"  {f}" for f in files]))
    exit_on_failures([result])
