"""``ddlsim calibrate``: measure this host and write a catalog file with ``this-host`` and
``this-host-loopback``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import package_version
from .application import app
from .errors import user_errors
from .options import echo_json, output_path
from .progress import StepProgress

__all__ = ["calibrate"]


@app.command("calibrate")
@user_errors
def calibrate(
    out: Path = typer.Option(Path("this-host.yaml"), "--out", help="Catalog file to write (.yaml)."),
    quick: bool = typer.Option(False, "--quick", help="Fewer sizes and repeats (under 30 s instead of under 2 min)."),
    active_power: Optional[str] = typer.Option(None, "--active-power",
                                               help="Active power of one worker process, e.g. 4.4W (not measurable here)."),
    as_json: bool = typer.Option(False, "--json", help="Print every fitted figure and residual as JSON."),
) -> None:
    """Microbenchmark this host (GEMM per dtype, triad, codecs) and fit its loopback link from
    real gloo timings at 2-4 processes; write a catalog file for ``ddlsim --catalog FILE``."""
    from hwmodels import units  # noqa: PLC0415

    from ..measure.calibrate import PLACEHOLDER_POWER_W, calibrate as run, catalog_path, write_catalog  # noqa: PLC0415

    catalog_path(output_path(out, "--out"))   # a bad --out fails now, not after the measurements
    power = units.parse(active_power, "power") if active_power is not None else None
    bar = StepProgress("calibrating", "tasks")
    try:
        result = run(quick, version=package_version(), active_power_W=power, progress=bar)
    finally:
        bar.stop()
    write_catalog(result, out)
    if as_json:
        echo_json({**result.summary(), "out": str(out)})
        return
    device, link = result.device(), result.link_spec()
    flops = ", ".join(f"{k} {units.fmt(v, 'flops', 4)}" for k, v in device.peak_flops.items())
    residuals = [abs(r) for _, r in result.link_points()]
    typer.echo("\n".join([
        f"{device.name}: {flops}; memory {units.fmt(device.mem_bandwidth_Bps, 'rate', 4, bytes_per_s=True)}; "
        f"codecs at {device.codec_fraction:.3g} of that roofline",
        f"{link.name}: {units.fmt(link.bandwidth_Bps, 'rate', 4, bytes_per_s=True)} shared by every message, latency "
        f"{units.fmt(link.latency_s, 'time', 4)} per hop (loopback topology: two per message), "
        f"{units.fmt(link.oversubscription_latency_s, 'time', 4)} per process beyond {link.host_cores} cores; fit "
        f"residuals median "
        f"{sorted(residuals)[len(residuals) // 2]:.1%}, max {max(residuals):.1%} over {len(residuals)} points",
        f"written to {out} ({result.source}); use it with: ddlsim --catalog {out} ...",
    ]))
    if power is None:
        typer.echo(f"note: active power was not measured; this-host's energies use a {PLACEHOLDER_POWER_W:g} W "
                   "placeholder (give --active-power)", err=True)
