"""``ddlsim netsim``: run a network scenario file (flows on a topology) and print finish times."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from hwmodels import units

from .application import app
from .errors import user_errors
from .options import echo_json, figure_path, link_option, output_path

if TYPE_CHECKING:
    from simulator.network.scenario import Scenario, ScenarioResult


def _size(nbytes: float) -> str:
    """Bytes with a decimal prefix (scenario sizes are usually written that way)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes:.4g} B"


def result_table(scenario: Scenario, result: ScenarioResult) -> Table:
    """A rich table: one row per flow with its route ends, size, start, finish and mean rate."""
    table = Table(title=f"{Path(scenario.source).name}: {len(scenario.flows)} flows, "
                        f"makespan {units.fmt(result.makespan_s, 'time', 6)}")
    for column in ("flow", "src -> dst", "bytes", "start", "finish", "duration", "mean rate"):
        table.add_column(column, justify="left" if column in ("flow", "src -> dst") else "right")
    for flow in scenario.flows:
        start, finish = result.start_s[flow.id], result.finish_s[flow.id]
        duration = finish - start
        rate = units.fmt(flow.bytes / duration, "rate", 4) if duration > 0 else "-"
        table.add_row(flow.id, f"{flow.src} -> {flow.dst}", _size(flow.bytes),
                      units.fmt(start, "time", 6), units.fmt(finish, "time", 6), units.fmt(duration, "time", 6), rate)
    return table


@app.command("netsim")
@user_errors
def netsim(
    file: Path = typer.Argument(..., help="Scenario file (.json or .yaml): nodes, links, flows."),
    as_json: bool = typer.Option(False, "--json", help='Print {"flows": {id: {"start_s", "finish_s"}}, "makespan_s"}.'),
    trace: Optional[Path] = typer.Option(None, "--trace", metavar="OUT.json",
                                         help="Write a Chrome trace of the flows (open it in Perfetto)."),
    gantt: Optional[Path] = typer.Option(None, "--gantt", metavar="OUT.png",
                                         help="Draw a Gantt chart of the flows (.png, .svg or .pdf)."),
    link: Optional[str] = typer.Option(None, "--link", help="A catalog link for the file's links that give no bandwidth/latency."),
    bandwidth: Optional[str] = typer.Option(None, "--bandwidth", help="Bandwidth for links that give none, e.g. 10Gbps."),
    latency: Optional[str] = typer.Option(None, "--latency", help="Latency for links that give none (with --bandwidth; default 0s)."),
) -> None:
    """Simulate the flows of a scenario file with max-min fair sharing of every link."""
    from simulator.network.scenario import load_scenario, run_scenario  # noqa: PLC0415  (scipy only when it runs)

    figure_path(gantt, "--gantt")
    output_path(trace, "--trace")
    scenario = load_scenario(file, default_link=link_option(link, bandwidth, latency, required=False))
    result = run_scenario(scenario, record_flows=trace is not None or gantt is not None)
    if trace is not None:
        result.timeline.to_chrome_trace(trace)
    if gantt is not None:
        from ..plots import save_timeline  # noqa: PLC0415  (matplotlib only when drawing)

        save_timeline(result.timeline, gantt, title=f"{file.name}: {len(scenario.flows)} flows")
    if as_json:
        echo_json(result.to_json())
    else:
        Console(width=160).print(result_table(scenario, result))
