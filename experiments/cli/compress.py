"""``ddlsim compress``: list the gradient compressors or measure one on synthetic data."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hwmodels import SpecError

from .. import as_flag
from ..limits import check_compress_size
from .application import app
from .errors import user_errors
from .options import echo_json

_INPUTS = {"tensor": "--elements N [--rows R] [--workers W]", "workers": "--workers W --noise S", "factors": "--batch B --d-in I --d-out O"}


def _listing() -> list[dict]:
    from simulator.compression import schemes  # noqa: PLC0415  (torch only when the command runs)

    return [{"scheme": s.name, "input": s.kind, "summary": s.summary, "bits": s.bits,
             "params": {k: {"default": p.default, "range": p.valid_range(), "help": p.help} for k, p in s.params.items()}}
            for s in schemes()]


def _print_list() -> None:
    from simulator.compression import schemes  # noqa: PLC0415

    table = Table(title="Compression schemes", show_lines=False)
    for column in ("scheme", "input", "bits", "parameters"):
        table.add_column(column, overflow="fold")
    for s in schemes():
        params = ", ".join(f"{k}={p.default}" for k, p in s.params.items()) or "-"
        table.add_row(s.name, _INPUTS[s.kind], s.bits, params)
    Console(width=200).print(table)


def _print_row(row: dict) -> None:
    table = Table(title=f"{row['scheme']} on {row['distribution']} data", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in row.items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    Console(width=160).print(table)


@app.command("compress")
@user_errors
def compress(
    list_: bool = typer.Option(False, "--list", help="List every scheme with its parameters and bit formula."),
    scheme: Optional[str] = typer.Option(None, "--scheme", help="Scheme name (see --list)."),
    param: Optional[list[str]] = typer.Option(None, "--param", help="KEY=VALUE scheme parameter (repeatable)."),
    elements: int = typer.Option(65536, "--elements", help="Tensor elements (tensor and workers schemes)."),
    rows: int = typer.Option(1, "--rows", help="Shape the tensor as rows x elements/rows (matrix schemes: powersgd, onebit)."),
    distribution: str = typer.Option("gaussian", "--distribution", help="i.i.d. data (an unknown name lists the known ones)."),
    trials: int = typer.Option(10, "--trials", help="Independent compressions of the same tensor."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data and of every compressor's generator."),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Workers, each seeing the tensor plus its own noise; the server's aggregate is measured (ndqsg: default 4; any tensor scheme, e.g. signsgd's majority vote)."),
    noise: float = typer.Option(0.1, "--noise", help="Per-worker noise std with --workers, relative to the data's unit scale."),
    batch: int = typer.Option(8, "--batch", help="Batch size B of the layer factors (isgq)."),
    d_in: int = typer.Option(256, "--d-in", help="Layer inputs d_in (isgq)."),
    d_out: int = typer.Option(128, "--d-out", help="Layer outputs d_out (isgq)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Measure a compressor: bits per element, relative error, bias, D(R) bound, encode/decode time."""
    from simulator.compression import get, parse_params  # noqa: PLC0415  (torch only when the command runs)
    from simulator.compression.evaluate import measure, measure_factors, measure_workers  # noqa: PLC0415

    if list_:
        if as_json:
            echo_json(_listing())
        else:
            _print_list()
        return
    if scheme is None:
        raise SpecError("give --scheme NAME (see `ddlsim compress --list`) or --list")
    params = parse_params(param)
    kind = get(scheme).kind
    spread = 4 if kind == "workers" and workers is None else workers
    check_compress_size(kind, elements=elements, workers=spread, batch=batch, d_in=d_in, d_out=d_out, label=as_flag)
    if kind == "factors":
        row = measure_factors(scheme, params, batch=batch, d_in=d_in, d_out=d_out, distribution=distribution, trials=trials, seed=seed)
    elif kind == "workers" or workers is not None:
        row = measure_workers(scheme, params, elements=elements, workers=4 if workers is None else workers, noise=noise,
                              distribution=distribution, trials=trials, seed=seed)
    else:
        row = measure(scheme, params, elements=elements, rows=rows, distribution=distribution, trials=trials, seed=seed)
    if as_json:
        echo_json(row)
    else:
        _print_row(row)
