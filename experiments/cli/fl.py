"""``ddlsim fl SPEC.yaml``: federated learning over a simulated wireless multiple-access channel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from .app import StepProgress, app, catalog, echo_json, user_errors

__all__ = ["fl", "fl_result"]


def fl_result(spec_path: str | Path, *, progress: bool = False) -> dict[str, Any]:
    """What ``ddlsim fl --json`` prints: ``{"name", "summary", "rows"}``."""
    from simulator.federated import run_federated  # noqa: PLC0415  (torch only when the command runs)

    from ..fl_spec import load_fl_spec  # noqa: PLC0415

    spec = load_fl_spec(spec_path)
    config = spec.config()
    device, radio, channel, distances = spec.hardware(catalog(), Path(spec_path).parent)
    bar = StepProgress("federated learning", "rounds") if progress else None
    try:
        result = run_federated(config, device, radio, channel, distances, on_round=bar)
    finally:
        if bar is not None:
            bar.stop()
    out = result.to_dict()
    out["summary"].update({"device": device.name, "radio": radio.name, "path_loss": channel.path_loss,
                           "fading": channel.fading, "distances_m": distances.tolist()})
    return {"name": spec.name or Path(spec_path).stem, **out}


# (row key, header, width, format) of the human table
_COLUMNS = (("round", "round", 6, "d"), ("sim_time_s", "sim_time_s", 11, ".4g"), ("airtime_s", "airtime_s", 10, ".4g"),
            ("energy_j", "energy_j", 10, ".4g"), ("energy_j_per_device", "J/device", 10, ".4g"),
            ("channel_uses", "uses", 10, ".4g"), ("participating", "part", 5, "d"), ("test_accuracy", "test_acc", 8, ".4f"))


def _print_human(out: dict[str, Any]) -> None:
    s = out["summary"]
    lines = [f"{out['name']}: {s['clients']} clients, scheme {s['scheme']}, {s['rounds']} rounds, "
             f"{s['parameters']} parameters, {s['radio']} over {s['path_loss']}/{s['fading']}",
             " ".join(f"{head:>{width}}" for _, head, width, _ in _COLUMNS)]
    lines += [" ".join(f"{r[key]:>{width}{spec}}" for key, _, width, spec in _COLUMNS) for r in out["rows"]]
    lines.append(f"final test accuracy {s['final_test_accuracy']:.4f}; simulated {s['sim_time_s']:.4g} s "
                 f"({s['airtime_s']:.4g} s on air), {s['energy_j']:.4g} J ({s['tx_energy_j']:.4g} J transmitting)")
    typer.echo("\n".join(lines))


@app.command("fl")
@user_errors
def fl(
    spec: Path = typer.Argument(..., help="FL spec (YAML or JSON): model, data, clients, radio, channel, scheme."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows and the summary as JSON."),
) -> None:
    """Federated learning over a wireless MAC: accuracy real, airtime and energy simulated per round."""
    result = fl_result(spec, progress=sys.stderr.isatty())
    if as_json:
        echo_json(result)
    else:
        _print_human(result)
