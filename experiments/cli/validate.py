"""``ddlsim validate``: measure the validation configurations here and compare them with their
simulation on the calibrated ``this-host`` and ``this-host-loopback``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from .application import app
from .errors import user_errors
from .options import catalog, echo_json
from .progress import StepProgress

__all__ = ["validate"]


@app.command("validate")
@user_errors
def validate(
    quick: bool = typer.Option(False, "--quick", help="The quick configurations (about a minute on 2 cores)."),
    out: Path = typer.Option(Path("validation"), "--out", help="Folder for the table (.parquet, .csv), plot and summary."),
    cases_file: Optional[Path] = typer.Option(None, "--cases", help="Validation configurations (YAML with quick and "
                                              "full sections); default: experiments/measure/validation.yaml."),
    refit_link: bool = typer.Option(False, "--refit-link", help="Fit the link's latency and bandwidth to this run's "
                                    "calibration collectives instead of taking the catalog's (same fit as calibrate)."),
    runs: int = typer.Option(1, "--runs", help="Measure every configuration this many times (whole passes) and "
                             "take the median; the summary then says how far apart the runs measured."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and the rows as JSON."),
) -> None:
    """Run the calibration and held-out configurations for real (gloo processes on 127.0.0.1),
    simulate them on the calibrated catalog entries (``ddlsim calibrate --out host.yaml``, then
    ``ddlsim --catalog host.yaml validate``) and report simulated / measured - 1."""
    from hwmodels import SpecError  # noqa: PLC0415

    from ..measure.cases import PRESET, load_cases  # noqa: PLC0415
    from ..measure.validate import calibrated_entries, summary, validate as run, write  # noqa: PLC0415

    device, link = calibrated_entries(catalog())   # before anything is measured
    cases = load_cases(quick, cases_file or PRESET)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out: {str(out)!r} exists and is not a folder")
    bars = {"measuring": StepProgress("measuring", "process groups"), "simulating": StepProgress("simulating", "cases")}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "simulating":
            bars["measuring"].stop()
        bars[stage](done, total)

    try:
        result = run(cases, device, link, quick=quick, refit=refit_link, runs=runs, progress=progress)
    finally:
        for bar in bars.values():
            bar.stop()
    paths = write(result, out)
    if as_json:
        echo_json(result.report())
        return
    import pandas as pd  # noqa: PLC0415

    table = pd.DataFrame(result.rows)[["configuration", "split", "measured_s", "simulated_s", "error",
                                       "error_given_compute"]]
    with pd.option_context("display.width", 200, "display.max_rows", 1000, "display.float_format", "{:.4g}".format):
        typer.echo(table.to_string(index=False))
    h = result.host
    typer.echo(f"\n{h['host']} ({h['cores']} cores), measured in {h['measure_wall_s']:.0f} s; load average "
               f"{h['load_before'][0]:.2f} before, {h['load_after'][0]:.2f} after; training compute at "
               f"{result.compute_efficiency:.3g} of this-host's roofline and framework overhead "
               f"{result.framework_overhead_s * 1e3:.3g} ms per step (both fitted on the calibration steps); loopback "
               f"{h['link_bandwidth_Bps'] / 1e6:.4g} MB/s shared, {h['link_latency_s'] * 1e6:.4g} us per hop, "
               f"{h['link_oversubscription_latency_s'] * 1e6:.4g} us per process beyond {h['link_host_cores']} cores "
               f"({h['link']})")
    for split, s in result.summary().items():
        typer.echo(f"{split}: median_abs_error {s['median_abs_error']:.1%}, max_abs_error {s['max_abs_error']:.1%}, "
                   f"cases {s['cases']} (the repeats' IQR is {s['median_rel_spread']:.0%} of their median, median "
                   f"over the cases" + (f"; whole runs measured {s['median_run_spread']:.0%} apart, median"
                                        if math.isfinite(s['median_run_spread']) else "") + ")")
    given = summary(result.rows, "error_given_compute")["held-out"]
    typer.echo(f"held-out, compute as measured (a diagnostic, not a prediction): median_abs_error "
               f"{given['median_abs_error']:.1%}, max_abs_error {given['max_abs_error']:.1%}")
    typer.echo(f"written to {', '.join(str(p) for p in paths)}")
