"""``ddlsim collective``: time one collective, as a DES on a topology or by its closed form."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from hwmodels import SpecError, units

from .. import as_flag
from ..collective import collective_row
from .application import app
from .errors import user_errors
from .options import catalog, echo_json, figure_path, link_option, output_path
from .progress import StepProgress

__all__ = ["collective"]


def _progress_bar() -> Any:
    """Per DES step (``reached`` is 0-based); shown only for runs long enough to watch (200 steps)."""
    bar = StepProgress("simulating", "steps", throttle=1 / 200)

    def on_step(reached: int, total: int) -> None:
        if total < 200:
            return
        bar(min(reached + 1, total), total)
        if reached + 1 >= total:
            bar.stop()

    return on_step


def _print_human(out: dict[str, Any]) -> None:
    fmt = units.fmt
    lines = [f"{out['op']}/{out['algorithm']}: {out['workers']} workers, {fmt(out['size_B'], 'size')} on "
             f"{out['topology']} ({fmt(out['bandwidth_Bps'], 'rate')}, {fmt(out['latency_s'], 'time')} per link)"]
    lines.append(f"  time ({out['mode']}): {fmt(out['time_s'], 'time')}")
    if "analytic_time_s" in out:
        lines.append(f"  analytic:    {fmt(out['analytic_time_s'], 'time')}")
    lines.append(f"  {out['steps']} steps, {out['messages']} messages, {fmt(out['bytes_sent_total'], 'size')} sent")
    if "trace" in out:
        lines.append(f"  trace written to {out['trace']}")
    if "gantt" in out:
        lines.append(f"  Gantt chart written to {out['gantt']}")
    typer.echo("\n".join(lines))


@app.command("collective")
@user_errors
def collective(
    op: str = typer.Option(..., "--op", help="Collective, e.g. allreduce (a wrong name lists the known ones)."),
    algorithm: str = typer.Option(..., "--algorithm", help="Algorithm, e.g. ring (a wrong name lists the known ones)."),
    workers: int = typer.Option(..., "--workers", help="Number of workers p."),
    size: str = typer.Option(..., "--size", help="Size with unit, e.g. 1GiB (the full vector for all-reduce)."),
    topology: str = typer.Option("switch", "--topology", help="ring, switch, fully-connected, torus2d or leaf-spine."),
    link: Optional[str] = typer.Option(None, "--link", help="A catalog link (`ddlsim hw list --kind link`), instead of --bandwidth/--latency."),
    bandwidth: Optional[str] = typer.Option(None, "--bandwidth", help="Link bandwidth per direction, e.g. 10Gbps or 50GiB/s."),
    latency: Optional[str] = typer.Option(None, "--latency", help="Link latency, e.g. 5us (default 0s)."),
    mode: str = typer.Option("des", "--mode", help="des (event simulation on the topology) or analytic (closed form)."),
    chunks: Optional[int] = typer.Option(None, "--chunks", help="Pipeline chunks (double-binary-tree)."),
    shards: Optional[int] = typer.Option(None, "--shards", help="Server shards (parameter-server; adds S server hosts)."),
    root: Optional[int] = typer.Option(None, "--root", help="Root rank of broadcast, reduce, gather (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="Catalog device whose roofline prices reductions (default: free)."),
    paths: str = typer.Option("worst", "--paths", help="Analytic inputs on non-uniform topologies: worst or best message path."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    trace: Optional[str] = typer.Option(None, "--trace", help="Write a Chrome trace (Perfetto) of the DES to this file."),
    gantt: Optional[str] = typer.Option(None, "--gantt", help="Draw a Gantt chart of the DES into this .png/.svg/.pdf."),
    slowdown: Optional[list[str]] = typer.Option(
        None, "--slowdown", help="RANK=FACTOR: that rank reduces FACTOR (>= 1) times slower (a straggler; needs "
        "--device). Repeatable."),
) -> None:
    """Time one collective: DES on the topology (max-min fair flows) or its closed form."""
    spec = link_option(link, bandwidth, latency, required=True)
    dev = catalog().get(device, "device") if device is not None else None
    args = (op, algorithm, workers, size, topology, spec.bandwidth_Bps, spec.latency_s)
    options = dict(mode=mode, chunks=chunks, shards=shards, root=root, device=dev, paths=paths, slowdown=slowdown,
                   energy_per_bit_J=spec.energy_per_bit_J, label=as_flag)
    collective_row(*args, **options, check_only=True)   # the inputs first, then the output files
    figure_path(gantt, "--gantt")
    output_path(trace, "--trace")
    for flag, value in (("--trace", trace), ("--gantt", gantt)):
        if value is not None and mode != "des":
            raise SpecError(f"{flag} needs --mode des (the analytic mode has no events to trace)")
    progress = not as_json and sys.stderr.isatty()
    timelines: list[Any] = []
    drawn = trace is not None or gantt is not None
    out = collective_row(*args, **options, on_timeline=timelines.append if drawn else None,
                         on_progress=_progress_bar() if progress else None)
    timeline = timelines[0] if timelines else None
    if trace is not None:
        timeline.to_chrome_trace(trace)
        out["trace"] = trace
    if gantt is not None:
        from ..plots import save_timeline  # noqa: PLC0415  (matplotlib only when drawing)

        save_timeline(timeline, gantt, title=f"{op}/{algorithm}: {workers} workers on {topology}")
        out["gantt"] = gantt
    if link is not None:
        out["link"] = spec.name
    if as_json:
        echo_json(out)
    else:
        _print_human(out)
