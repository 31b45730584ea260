"""``ddlsim train SPEC.yaml``: data-parallel training with real gradients on a simulated cluster."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

import typer

from hwmodels import SpecError

from .application import app
from .errors import user_errors
from .options import catalog, echo_json, figure_path, output_path
from .progress import StepProgress

__all__ = ["train", "train_result"]


def train_result(spec_path: str | Path, *, progress: bool = False, trace: Optional[Path] = None,
                 gantt: Optional[Path] = None) -> dict[str, Any]:
    """What ``ddlsim train --json`` prints: ``{"name", "summary", "rows"}``; with ``trace`` or
    ``gantt``, one step's timeline (the last step's plan) as a Chrome trace or a Gantt chart."""
    from simulator.learning import Trainer, price_only  # noqa: PLC0415  (torch only when the command runs)

    from ..train_spec import load_spec  # noqa: PLC0415

    spec = load_spec(spec_path)
    config = spec.config()
    cluster = spec.cluster(catalog())
    name = spec.name or Path(spec_path).stem
    if config.price_only:
        if trace is not None or gantt is not None:
            raise SpecError("--trace and --gantt draw a trained step; a price_only run has none to draw")
        return {"name": name, **price_only(config, cluster).to_dict()}
    bar = StepProgress("training", "steps") if progress else None
    trainer = Trainer(config, cluster)
    try:
        result = trainer.run(on_step=bar)
    finally:
        if bar is not None:
            bar.stop()
    if trace is not None or gantt is not None:
        step = trainer.coster.trace(trainer.last_plan)
        if trace is not None:
            step.timeline.to_chrome_trace(trace)
        if gantt is not None:
            from ..plots import save_timeline  # noqa: PLC0415  (matplotlib only when drawing)

            s = result.summary
            save_timeline(step.timeline, gantt, title=f"{name}: one step, {s['workers']} workers, {s['compressor']} "
                                                      f"via {s['sync']}, overlap {s['overlap']}")
    return {"name": name, **result.to_dict()}


def _write(out: dict[str, Any], folder: Path) -> None:
    from simulator.learning import EvalRow  # noqa: PLC0415

    from ..finite import json_ready  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(EvalRow)]
    with open(folder / "rows.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(out["rows"])
    summary = json_ready({"name": out["name"], **out["summary"]})
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")


def _print_human(out: dict[str, Any]) -> None:
    s = out["summary"]
    if s.get("price_only"):
        parts = ", ".join(f"{k} {v / s['steps']:.4g} J" for k, v in s["energy_breakdown_j"].items())
        typer.echo(f"{out['name']}: price only, {s['model']} ({s['parameters']:,} parameters), {s['workers']} workers, "
                   f"{s['compressor']} via {s['sync']}, overlap {s['overlap']} ({s['buckets']} buckets)\n"
                   f"per step: {s['step_time_s']:.4g} s simulated, {s['energy_j_per_step']:.4g} J ({parts}), "
                   f"{s['bits_per_worker_per_step']:.4g} bits per worker")
        return
    lines = [f"{out['name']}: {s['workers']} workers, {s['compressor']} via {s['sync']}, {s['steps']} steps",
             f"{'step':>6} {'epoch':>6} {'sim_time_s':>11} {'energy_j':>10} {'bits_up':>12} {'test_acc':>8} {'loss':>7}"]
    for r in out["rows"]:
        lines.append(f"{r['step']:>6} {r['epoch']:>6.2f} {r['sim_time_s']:>11.4g} {r['energy_j']:>10.4g} "
                     f"{r['bits_up_total']:>12} {r['test_accuracy']:>8.4f} {r['train_loss']:>7.4f}")
    lines.append(f"final test accuracy {s['final_test_accuracy']:.4f}; simulated {s['sim_time_s']:.4g} s "
                 f"({s['step_time_s']:.4g} s per step, overlap {s['overlap']}, {s['buckets']} bucket(s)), "
                 f"{s['energy_j']:.4g} J, {s['bits_per_worker']:.4g} bits per worker ({s['bits_per_element']:.3g} bits/element)")
    parts = ", ".join(f"{k} {v:.4g} J" for k, v in s["energy_breakdown_j"].items())
    lines.append(f"energy: {parts}; on the wire {s['wire_bits_per_worker']:.4g} bits per worker")
    if s.get("target_accuracy") is not None:
        reached = s["time_to_target_s"]
        lines.append(f"target accuracy {s['target_accuracy']:.4g}: " + (
            "not reached" if reached is None else
            f"reached after {reached:.4g} s, {s['energy_to_target_j']:.4g} J, {s['bits_to_target']:.4g} bits"))
    typer.echo("\n".join(lines))


@app.command("train")
@user_errors
def train(
    spec: Path = typer.Argument(..., help="Training spec (YAML or JSON): model, data, workers, hardware, compressor."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows and the summary as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write rows.csv and summary.json into this folder."),
    trace: Optional[Path] = typer.Option(None, "--trace", metavar="OUT.json",
                                         help="Write one step's timeline per worker as a Chrome trace (Perfetto)."),
    gantt: Optional[Path] = typer.Option(None, "--gantt", metavar="OUT.png",
                                         help="Draw one step's timeline per worker (.png, .svg or .pdf)."),
) -> None:
    """Train a real model data-parallel on a simulated cluster: accuracy real, time, energy and bits simulated."""
    figure_path(gantt, "--gantt")
    output_path(trace, "--trace")
    output_path(out, "--out", folder=True)
    result = train_result(spec, progress=sys.stderr.isatty(), trace=trace, gantt=gantt)
    if result["summary"].get("status") == "diverged":
        typer.echo(f"warning: training diverged at step {result['summary']['diverged_at_step']}: the training loss "
                   "is not finite from there on (status diverged); a lower lr may help", err=True)
    if out is not None:
        _write(result, out)
    if as_json:
        echo_json(result)
    else:
        _print_human(result)
