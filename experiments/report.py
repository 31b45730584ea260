"""A sweep's report: one self-contained static HTML page (no script, no external file).

The page holds the spec as run, the environment (ddlsim and library versions, the catalog entries
the sweep used with their sources), the metrics with their labels, units and scopes, the results
(final rows, mean and standard deviation over repeats, per point, headed with labels and units),
every figure under ``plots/`` embedded as a base64 PNG, and the failed points with their errors.
It opens from disk, in a mail attachment or on a static web server alike.
"""

from __future__ import annotations

import base64
import html
import json
import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from hwmodels import Catalog, SpecError

from . import metrics, package_version
from .catalog_view import headline, origin
from .results import ID_COLUMNS, flatten, read_table
from .spec import ExperimentSpec, parse_experiment
from .train_spec import read_spec_file

__all__ = ["report_html", "write_report", "HARDWARE_COLUMNS", "LIBRARIES"]

# Config columns that name catalog entries.
HARDWARE_COLUMNS = {"device": "device", "server_device": "device", "link": "link", "radio": "radio",
                    "wireless.radio": "radio"}
LIBRARIES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "simpy", "networkx", "dask", "pydantic")

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1.2em; color: #1b1b1b; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { display: inline-block; margin: 0.8em 1.2em 0.8em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.muted { color: #666; } .bad { color: #a40000; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: Iterable[list[Any]], numeric: frozenset[int] | set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{_esc(c)}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


def _library_versions() -> list[list[str]]:
    out = [["ddlsim", package_version()], ["python", platform.python_version()]]
    for name in LIBRARIES:
        try:
            out.append([name, version(name)])
        except PackageNotFoundError:
            out.append([name, "not installed"])
    return out


def _hardware_names(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(kind, name) of every catalog entry the sweep's config names, in order of appearance."""
    found: dict[tuple[str, str], None] = {}
    for column, kind in HARDWARE_COLUMNS.items():
        if column not in table.columns:
            continue
        for value in table[column].dropna().unique():
            names = json.loads(value) if isinstance(value, str) and value.startswith("[") else [value]
            for name in names:
                found[(kind, str(name))] = None
    return list(found)


def _hardware_section(table: pd.DataFrame, catalog: Catalog) -> str:
    rows = []
    for kind, name in _hardware_names(table):
        try:
            record = catalog.get(name, kind)
        except SpecError as exc:
            rows.append([name, kind, "", f"not in this catalog: {exc}", ""])
            continue
        rows.append([record.name, record.kind, headline(record), record.source, origin(catalog, record)])
    if not rows:
        return '<p class="muted">The sweep names no catalog entries (its hardware is given inline).</p>'
    return _table(["entry", "kind", "headline", "source", "defined in"], rows)


def _config_columns(spec: ExperimentSpec, table: pd.DataFrame) -> tuple[list[str], set[str]]:
    """(the swept columns, every config column) of ``table``: axis paths and their flattened keys."""
    paths = list(dict.fromkeys(p for _, p in spec.sweep.paths()))
    swept = [c for c in table.columns if any(c == p or c.startswith(p + ".") for p in paths)]
    config = set(flatten(spec.base)) | set(swept)
    return swept, config


def _cell(values: pd.Series) -> str:
    """Mean, with the standard deviation over repeats when they differ."""
    values = values.astype(float).dropna()
    if values.empty:
        return ""
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.4g} \u00b1 {sd:.2g}" if sd > 0 else f"{values.mean():.4g}"


def _results_section(spec: ExperimentSpec, table: pd.DataFrame) -> tuple[str, str]:
    """(the results table, the metric legend) over the final rows of the finished points; columns
    equal in every point are listed once above the table."""
    workload = spec.workload
    swept, config = _config_columns(spec, table)
    final = table[(table["status"] == "ok") & table["last"]] if "last" in table.columns else table
    if final.empty:
        return '<p class="bad">No point finished.</p>', ""
    numeric = [c for c in final.columns if c not in ID_COLUMNS and c not in config
               and pd.api.types.is_numeric_dtype(final[c]) and not pd.api.types.is_bool_dtype(final[c])]
    constant = [c for c in numeric if final[c].nunique(dropna=False) == 1]
    columns = [c for c in numeric if c not in constant]
    rows = [[int(point), *(_fmt(group.iloc[0][c]) for c in swept), *(_cell(group[c]) for c in columns)]
            for point, group in final.groupby("point", sort=True)]
    header = ["point", *(metrics.axis_label(c, workload) for c in [*swept, *columns])]
    repeats = int(final.groupby("point").size().max())
    note = (f"Final row of each point; mean \u00b1 standard deviation over {repeats} repeats where they differ. "
            if repeats > 1 else "Final row of each point. ")
    note = f'<p class="muted">{note}Every row is in results.parquet (<code>ddlsim results DIR</code>).</p>'
    same = ", ".join(f"{metrics.axis_label(c, workload)} = {_fmt(final[c].iloc[0])}" for c in constant)
    same = f"<p>The same in every point: {_esc(same)}.</p>" if constant else ""
    legend_rows = []
    for c in numeric:
        entry = metrics.metric(c, workload)
        legend_rows.append([c, metrics.label(c, workload), entry.unit if entry else "", entry.scope if entry else "?"])
    legend = _table(["column", "label", "unit", "scope"], legend_rows)
    return note + same + _table(header, rows, set(range(1 + len(swept), len(header)))), legend


def _failures_section(spec: ExperimentSpec, table: pd.DataFrame) -> str:
    failed = table[table["status"] == "error"].drop_duplicates("hash") if "status" in table.columns else table.iloc[:0]
    if failed.empty:
        return "<p>None: every point finished.</p>"
    overrides = spec.overrides()
    rows = [[int(r.point), int(r.repeat), json.dumps(overrides[int(r.point)], default=str) if int(r.point) < len(overrides)
             else "", r.error] for r in failed.itertuples()]
    return f'<p class="bad">{len(failed)} run(s) failed.</p>' + _table(["point", "repeat", "overrides", "error"], rows)


def _figures_section(folder: Path) -> tuple[str, int]:
    pngs = sorted((folder / "plots").glob("*.png")) if (folder / "plots").is_dir() else []
    if not pngs:
        return '<p class="muted">No figures under plots/.</p>', 0
    parts = []
    for path in pngs:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(path.stem)}">'
                     f"<figcaption>{_esc(path.name)}</figcaption></figure>")
    return "\n".join(parts), len(pngs)


def report_html(folder: str | Path, catalog: Catalog | None = None) -> str:
    """The report page of the sweep directory ``folder`` (its spec.yaml, results and plots/)."""
    folder = Path(folder)
    spec_file = folder / "spec.yaml"
    if not spec_file.is_file():
        raise SpecError(f"{folder}: not a sweep directory (no spec.yaml)")
    spec_text = spec_file.read_text(encoding="utf-8")
    spec = parse_experiment(read_spec_file(spec_file), str(spec_file))
    table = read_table(folder)
    catalog = catalog if catalog is not None else Catalog.load()
    results, legend = _results_section(spec, table)
    figures, count = _figures_section(folder)
    runs = table.drop_duplicates("hash") if "hash" in table.columns else table
    failed = int((runs["status"] == "error").sum()) if "status" in runs.columns else 0
    seeds = "explicit seeds " + ", ".join(map(str, spec.seeds)) if spec.seeds is not None else \
        f"{spec.repeats} repeat(s), {spec.seeding} seeds from root seed {spec.seed}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(spec.name)}: ddlsim sweep report</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style></head>
<body>
<h1>{_esc(spec.name)}</h1>
<p>{_esc(spec.description or "")}</p>
<p>Workload <b>{_esc(spec.workload)}</b>; {len(runs)} runs ({failed} failed) of {len(spec.overrides())} points;
{_esc(seeds)}; {count} figure(s).</p>
<h2 id="figures">Figures</h2>
{figures}
<h2 id="results">Results</h2>
{results}
<h3>Metrics</h3>
{legend}
<h2 id="failures">Failures</h2>
{_failures_section(spec, table)}
<h2 id="spec">Spec</h2>
<pre>{_esc(spec_text)}</pre>
<h2 id="environment">Environment</h2>
{_table(["package", "version"], _library_versions())}
<h3>Catalog entries used</h3>
{_hardware_section(table, catalog)}
<p class="muted">Written by <code>ddlsim report</code> from {_esc(folder.resolve())}.</p>
</body></html>
"""


def write_report(folder: str | Path, out: str | Path | None = None, catalog: Catalog | None = None) -> Path:
    """Write :func:`report_html` of ``folder`` to ``out`` (default ``folder/report.html``); the path."""
    target = Path(out) if out is not None else Path(folder) / "report.html"
    text = report_html(folder, catalog)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
