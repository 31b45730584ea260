"""``ddlsim fl SPEC.yaml``: federated learning over a simulated wireless multiple-access channel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from .application import app
from .errors import user_errors
from .options import catalog, echo_json
from .progress import StepProgress

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


def _print_human(out: dict[str, Any]) -> None:
    """One line per evaluated round (every column the rows carry), then the run's totals: the
    cumulative columns of the last row, named from the metric table."""
    from ..metrics import metric  # noqa: PLC0415

    s, rows = out["summary"], out["rows"]
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))] if rows else []
    widths = {k: max(len(k), 10) for k in keys}
    lines = [f"{out['name']}: {s['clients']} clients, scheme {s['scheme']}, {s['rounds']} rounds, "
             f"{s['parameters']} parameters, {s['radio']} over {s['path_loss']}/{s['fading']}",
             " ".join(f"{k:>{widths[k]}}" for k in keys)]
    lines += [" ".join(f"{'null':>{widths[k]}}" if r[k] is None else f"{r[k]:>{widths[k]}d}" if isinstance(r[k], int)
                       else f"{r[k]:>{widths[k]}.4g}" for k in keys) for r in rows]
    totals = [f"{m.label} {rows[-1][k]:.4g} {m.unit}".rstrip() for k in keys
              if (m := metric(k, "fl")) is not None and m.scope == "cumulative" and k != "sim_time_s"]
    final = "null" if s["final_test_accuracy"] is None else f"{s['final_test_accuracy']:.4f}"
    if s.get("status") == "diverged":
        final += f" (diverged in round {s['diverged_round']})"
    lines.append(f"final test accuracy {final}; simulated {s['sim_time_s']:.4g} s"
                 + "".join(f"; {t}" for t in totals))
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
