"""``ddlsim infer SPEC.yaml``: one partition plan on one simulated cluster;
``ddlsim restructure SPEC.yaml``: the cost-driven optimiser, its Pareto table, plan and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Optional

import typer

from .application import app
from .errors import user_errors
from .options import catalog, echo_json, output_path

__all__ = ["infer", "infer_result", "restructure", "restructure_result", "savings"]


def infer_result(spec_path: str | Path) -> dict[str, Any]:
    """What ``ddlsim infer --json`` prints."""
    from ..infer_spec import load_spec, run_infer_spec  # noqa: PLC0415  (torch only when the command runs)

    spec = load_spec(spec_path)
    return {"name": spec.name or Path(spec_path).stem, **run_infer_spec(spec, catalog())}


def restructure_result(spec_path: str | Path, out: Path | None = None) -> dict[str, Any]:
    """What ``ddlsim restructure --json`` prints; with ``out``, also writes the table, plan and plot."""
    from ..infer_spec import load_spec, run_restructure_spec  # noqa: PLC0415  (torch only when the command runs)

    from ..finite import json_ready  # noqa: PLC0415

    spec = load_spec(spec_path)
    res = run_restructure_spec(spec, catalog())
    table = res.table()
    name = spec.name or Path(spec_path).stem
    result = {"name": name, "hardware": spec.hardware_label(), "original_accuracy": res.original_accuracy,
              "wall_s": res.wall_s, "chosen": res.chosen.row(), "savings": savings(res.chosen.row(), table),
              "infeasible": res.infeasible, "rows": table}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _write_table(table, out / "pareto.csv")
        res.chosen.plan.save(out / "plan.pt")
        (out / "summary.json").write_text(json.dumps(json_ready({k: v for k, v in result.items() if k != "rows"}),
                                                     indent=2, allow_nan=False),
                                          encoding="utf-8")
        from ..plots_infer import tradeoff_figure  # noqa: PLC0415  (matplotlib only when plotting)

        from ..plots import save  # noqa: PLC0415

        priced = [r for r in table if r["feasibility"] == "ok"]
        save(tradeoff_figure(priced, res.original_accuracy, title=f"{name}: {result['hardware']}"), out / "tradeoff",
             ("png",))
    return result


BASELINES_SAVED_AGAINST = ("direct", "central")


def savings(chosen: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The chosen plan against the direct split and the central baseline (those searched, unless
    chosen themselves): their
    latency and energy per batch and the chosen plan's saving, 1 - chosen / baseline (negative: it costs more)."""
    out = {}
    for name in BASELINES_SAVED_AGAINST:
        base = next((r for r in rows if r["partitioner"] == name), None)
        if base is None or base.get("chosen") or base.get("feasibility", "ok") != "ok":
            continue
        out[name] = {"latency_s": base["latency_s"], "energy_j": base["energy_j"],
                     "latency_saving": 1 - chosen["latency_s"] / base["latency_s"] if base["latency_s"] else 0.0,
                     "energy_saving": 1 - chosen["energy_j"] / base["energy_j"] if base["energy_j"] else 0.0}
    return out


def _saving_line(name: str, s: dict[str, float]) -> str:
    def word(saving: float, what: str) -> str:
        return f"{abs(saving):.0%} {'less' if saving >= 0 else 'more'} {what}"

    return (f"  against {name} ({s['latency_s']:.4g} s, {s['energy_j']:.4g} J per batch): "
            f"{word(s['latency_saving'], 'latency')}, {word(s['energy_saving'], 'energy')}")


def _write_table(rows: list[dict[str, Any]], path: Path) -> None:
    names = ["partitioner", "params", "accuracy", "latency_s", "energy_j", "bits_per_sample", "transfers_per_sample",
             "weights_kept_fraction", "peak_memory_B_per_worker", "feasibility", "pareto", "chosen"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**r, "params": json.dumps(r["params"])} for r in rows)


def _fmt_row(r: dict[str, Any]) -> str:
    p = r["params"]
    keep = p.get("keep", "")
    if isinstance(keep, list):  # per-layer budgets
        keep = "/".join(f"{v:g}" for v in keep)
    extra = ([f"compute_workers={p['compute_workers']}"] if p.get("share") is not None else []) + \
        ([f"lam_c={p['lam_c']:g}"] if p.get("lam_c") else []) + ([f"spread={p['spread']}"] if p.get("spread") else [])
    return (f"{r['partitioner']:<10} {keep!s:>5} {r['accuracy']:>8.4f} {r['latency_s']:>11.4g} {r['energy_j']:>10.4g} "
            f"{r['transfers_per_sample']:>9} {r['bits_per_sample']:>9.0f}" + "".join(f" {e}" for e in extra))


_HEAD = f"{'plan':<10} {'keep':>5} {'accuracy':>8} {'latency_s':>11} {'energy_j':>10} {'transfers':>9} {'bits':>9}"


@app.command("infer")
@user_errors
def infer(
    spec: Path = typer.Argument(..., help="Inference spec (YAML or JSON): model, data, sensors, workers, partitioner, hardware."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a trained model partitioned over workers: accuracy real; latency, energy and bits simulated."""
    r = infer_result(spec)
    if as_json:
        echo_json(r)
        return
    typer.echo(f"{r['name']}: {r['partitioner']} on {r['workers']} workers (original accuracy {r['original_accuracy']:.4f})")
    typer.echo(_HEAD)
    typer.echo(_fmt_row(r))
    typer.echo("FLOPs per sample per worker: " + ", ".join(f"{f:.4g}" for f in r["flops_per_worker"]))
    typer.echo("peak memory per worker (KiB): " + ", ".join(f"{b / 1024:.1f}" for b in r["peak_memory_B_per_worker"]))


@app.command("restructure")
@user_errors
def restructure(
    spec: Path = typer.Argument(..., help="Inference spec with keeps, baselines and target."),
    as_json: bool = typer.Option(False, "--json", help="Print every candidate and the chosen plan as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write pareto.csv, plan.pt, summary.json and tradeoff.png here."),
) -> None:
    """Search restructuring budgets on the simulated hardware; print the Pareto front and the chosen plan."""
    output_path(out, "--out", folder=True)
    r = restructure_result(spec, out)
    if as_json:
        echo_json(r)
        return
    typer.echo(f"{r['name']} on {r['hardware']}: original accuracy {r['original_accuracy']:.4f}; "
               f"{len(r['rows'])} candidates in {r['wall_s']:.1f} s")
    typer.echo("Pareto front (accuracy, latency, energy):")
    typer.echo(_HEAD)
    for row in r["rows"]:
        if row["pareto"]:
            typer.echo(_fmt_row(row) + ("  <- chosen" if row["chosen"] else ""))
    typer.echo("chosen: " + _fmt_row(r["chosen"]))
    for name, saving in r["savings"].items():
        typer.echo(_saving_line(name, saving))
    for row in r["rows"]:
        if row["feasibility"] != "ok":
            keep = row["params"].get("keep")
            typer.echo(f"  left out: {row['partitioner']}{'' if keep is None else f' {keep}'}: {row['feasibility']}")
