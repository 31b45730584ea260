"""Validation: measured configurations against their simulation on the calibrated entries.

Every measured configuration (collective, p2p message, DDP training step) is simulated on the
catalog device ``this-host`` and link ``this-host-loopback`` (``ddlsim calibrate``):

* a collective or p2p message: its closed form on the ``loopback`` topology of the link
  (:func:`~.predict.collective_s`, the algorithm gloo runs; every message in flight shares the
  host's copy capacity, and waits for a core when the processes outnumber the cores);
* a training step: ddlsim's own step (:func:`simulator.learning.price_only`: forward, per-layer
  backward, DDP's buckets at the measured run's cap, the compressor's codec work on the device,
  the ring all-reduce or all-gather of each bucket's exact payload on the link; analytic mode)
  on ``workers`` processes of ``this-host`` on the loopback topology of ``this-host-loopback``.

The device's GEMM and triad peaks are far above what PyTorch reaches on these small models
(a layer of a few kFLOPs costs tens of microseconds of framework dispatch, not nanoseconds), so
the training steps run the device at one ``compute_efficiency`` (for its FLOPs and its memory
bytes) fitted on the *calibration* training configurations only: the median of simulated
(efficiency 1) over measured bare compute (``train-compute``) of those configurations, less
the per-call overhead of the operators they dispatch (the device's ``call_overhead_s``, which
no efficiency scales; :func:`fit_compute_efficiency`). Held-out measurements never enter
``simulated_s``.

A diagnostic beside it, ``simulated_given_compute_s``, runs each training step at the
efficiency that makes its simulated bare compute equal to *its own* measured ``train-compute``
(the compute under the same sharing of the cores, timed in the same processes): it checks the
exchange, the buckets, the overlap and the codecs with the compute taken as measured, as
profile-driven simulators do. It is not a prediction; the summary of ``error`` is.

:func:`validation_table` gives the tidy rows (configuration, kind, split, measured_s,
simulated_s, error = simulated / measured - 1); :func:`summary` the median and maximum |error|
and the case count per split; :func:`plot` the measured-against-simulated figure.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwmodels import Catalog, Device, LinkSpec, SpecError
from hwmodels.checks import is_int

from .calibrate import DEVICE, LINK
from .cases import CollectiveCase, Cases, measure_cases, split_of
from .link import HOPS, fit_link
from .predict import collective_s
from .records import Measurement, combine_runs
from .training import OVERLAP_BUCKETS, TrainCase

__all__ = ["Validation", "validate", "write", "calibrated_entries", "simulate", "train_step_s", "bare_compute_s",
           "fit_compute_efficiency", "fit_framework_overhead", "compute_ratio", "refit_link", "validation_table", "summary", "markdown", "plot", "label", "SPLITS"]

SPLITS = ("held-out", "calibration")


def calibrated_entries(catalog: Catalog) -> tuple[Device, LinkSpec]:
    """``this-host`` and ``this-host-loopback`` from ``catalog``, or a SpecError saying how to make them."""
    try:
        return catalog.device(DEVICE), catalog.link(LINK)
    except (SpecError, KeyError):
        raise SpecError(f"validate: the catalog has no calibrated {DEVICE!r} and {LINK!r}; run `ddlsim calibrate "
                        f"--out host.yaml` and then `ddlsim --catalog host.yaml validate`") from None


def _grad_B(case: TrainCase) -> float:
    from simulator.models import build  # noqa: PLC0415

    model = build(case.model, case.input_shape, case.classes, seed=0, **case.model_params)
    return 4.0 * sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_step_s(case: TrainCase, device: Device, link: LinkSpec, *, workers: int | None = None,
                 compressor: str | None = None) -> float:
    """Simulated seconds of one DDP step of ``case`` (``workers``/``compressor`` override the
    case's: one worker and ``none`` give the bare compute) on ``device`` processes on the
    loopback topology of ``link``. The buckets are the measured run's: one bucket of the whole gradient (overlap off)
    or DDP's at a cap (and first bucket) of 1/:data:`~.training.OVERLAP_BUCKETS` of it."""
    from simulator.cluster import Cluster  # noqa: PLC0415
    from simulator.learning import TrainConfig, price_only  # noqa: PLC0415
    from simulator.network import LoopbackTopology  # noqa: PLC0415

    k = case.workers if workers is None else workers
    name = case.compressor if compressor is None else compressor
    cap = case.bucket_B or (_grad_B(case) / OVERLAP_BUCKETS if case.overlap else _grad_B(case))
    config = TrainConfig(model=case.model, model_params=dict(case.model_params), workers=k, batch_size=case.batch_size,
                         compressor=name, compressor_params=dict(case.compressor_params) if compressor is None else {},
                         optimizer="sgd", steps=1, mode="analytic", overlap="ddp" if case.overlap else "none",
                         bucket_cap_B=cap, first_bucket_B=cap, price_only=True, input_shape=case.input_shape,
                         classes=case.classes)
    return float(price_only(config, Cluster(LoopbackTopology(max(k, 2), link), device)).summary["step_time_s"])


def bare_compute_s(case: TrainCase, device: Device, link: LinkSpec, memo: dict[tuple[Any, ...], float] | None = None) -> float:
    """Simulated seconds of the bare step of ``case`` (one worker, no exchange): what its
    ``train-compute`` record times; ``memo`` keeps them by model, batch and buckets (the workers
    and the compressor do not change it)."""
    key = (case.model, case.data, case.batch_size, case.overlap, case.bucket_B, case.config()["model_params"],
           device.call_overhead_s)
    if memo is not None and key in memo:
        return memo[key]
    seconds = train_step_s(case, device, link, workers=1, compressor="none")
    if memo is not None:
        memo[key] = seconds
    return seconds


def compute_ratio(case: TrainCase, device: Device, link: LinkSpec, measured_s: float,
                  memo: dict[tuple[Any, ...], float] | None = None) -> float:
    """The efficiency at which ``case``'s simulated bare compute takes ``measured_s``: its
    roofline at efficiency 1 over what ``measured_s`` leaves after its operators' per-call
    overhead (which no efficiency scales); over all of ``measured_s`` if the calls alone take
    longer. Not capped at 1."""
    ideal = bare_compute_s(case, dataclasses.replace(device, call_overhead_s=0.0), link, memo)
    calls_s = bare_compute_s(case, device, link, memo) - ideal
    rest = measured_s - calls_s
    return ideal / (rest if rest > 0 else measured_s)


def fit_compute_efficiency(cases: Cases, measurements: Sequence[Measurement], device: Device,
                           link: LinkSpec) -> float:
    """The compute efficiency in (0, 1] of ``device`` for training steps: the median over the
    calibration training configurations of :func:`compute_ratio` of their measured
    ``train-compute``; 1 when there is none."""
    ratios = []
    for m in measurements:
        if m.kind == "train-compute" and split_of(cases, m) == "calibration":
            ratios.append(compute_ratio(_train_case(cases, m), device, link, m.measured_s))
    return min(1.0, float(np.median(ratios))) if ratios else 1.0


def fit_framework_overhead(cases: Cases, measurements: Sequence[Measurement], device: Device, link: LinkSpec,
                           compute_efficiency: float) -> float:
    """Seconds per training step that the framework spends beyond ddlsim's step (DDP's Python
    wrapper and reducer, autograd hooks, the bucket's future): the median over the calibration
    training configurations of measured minus simulated step (device at ``compute_efficiency``),
    at least 0; 0 when there is none."""
    gaps = [m.measured_s - simulate(_train_case(cases, m), device, link, compute_efficiency)
            for m in measurements if m.kind == "train-step" and split_of(cases, m) == "calibration"]
    return max(0.0, float(np.median(gaps))) if gaps else 0.0


def _key(m: Measurement) -> tuple[Any, ...]:
    """The training configuration of a record (its ``train-step`` and ``train-compute`` share it)."""
    return tuple(m.config[f.name] for f in dataclasses.fields(TrainCase))


def _train_case(cases: Cases, m: Measurement) -> TrainCase:
    for case in cases.all():
        if isinstance(case, TrainCase) and all(m.config[k] == v for k, v in case.config().items()):
            return case
    raise SpecError(f"measurement {m.kind} {dict(m.config)} matches no training case")


def simulate(case: CollectiveCase | TrainCase, device: Device, link: LinkSpec, compute_efficiency: float = 1.0) -> float:
    """Simulated seconds of ``case``: a collective in closed form, a training step by the
    simulator with the device at ``compute_efficiency`` (FLOPs and memory bytes)."""
    if isinstance(case, CollectiveCase):
        return collective_s(case, device, link)
    slow = dataclasses.replace(device, compute_efficiency=compute_efficiency, memory_efficiency=compute_efficiency)
    return train_step_s(case, slow, link)


def label(row: dict[str, Any]) -> str:
    """A short configuration label: ``allgather p=4 256 KiB``, ``mlp K=2 qsgd(levels=4) overlap``."""
    if row["kind"] != "train":
        return f"{row['op']} p={row['world']} {_size(row['size_B'])}"
    params = f"({row['compressor_params']})" if row["compressor_params"] else ""
    return f"{row['model']} K={row['workers']} b={row['batch_size']} {row['compressor']}{params}" + \
        (" overlap" if row["overlap"] else "")


def _size(size_B: float) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size_B >= scale:
            return f"{size_B / scale:.4g} {unit}"
    return f"{size_B:.0f} B"


def validation_table(cases: Cases, measurements: Sequence[Measurement], device: Device, link: LinkSpec, *,
                     compute_efficiency: float = 1.0, framework_overhead_s: float = 0.0, progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """One row per measured configuration (collectives, p2p messages and training steps; the
    bare-compute records only fit the efficiency): configuration, kind (the operation, or
    ``train``), split, measured_s, simulated_s, error = simulated / measured - 1, the spread of
    the repeats and the configuration's fields. Training steps add ``framework_overhead_s``
    (:func:`fit_framework_overhead`)."""
    chosen = [m for m in measurements if m.kind in ("p2p", "collective", "train-step")]
    compute = {_key(m): m.measured_s for m in measurements if m.kind == "train-compute"}
    memo: dict[tuple[Any, ...], float] = {}
    rows = []
    for i, m in enumerate(chosen):
        split = split_of(cases, m)
        if m.kind == "train-step":
            case: CollectiveCase | TrainCase = _train_case(cases, m)
            fields = {"kind": "train", "model": case.model, "data": case.data, "workers": case.workers,
                      "batch_size": case.batch_size, "compressor": case.compressor,
                      "compressor_params": m.config["compressor_params"], "overlap": case.overlap,
                      "world": case.workers, "op": None, "size_B": m.config.get("grad_B")}
        else:
            case = CollectiveCase(m.config["op"], int(m.config["world"]), float(m.config["size_B"]))
            fields = {"kind": case.op, "model": None, "data": None, "workers": None, "batch_size": None,
                      "compressor": None, "compressor_params": None, "overlap": None, "world": case.world,
                      "op": case.op, "size_B": case.size_B}
        extra = framework_overhead_s if m.kind == "train-step" else 0.0
        simulated = given = simulate(case, device, link, compute_efficiency) + extra
        bare_s = compute.get(_key(m)) if m.kind == "train-step" else None
        if bare_s is not None:
            given = simulate(case, device, link, min(1.0, compute_ratio(case, device, link, bare_s, memo))) + extra
        rows.append({"configuration": label(fields), "split": split, **fields, "measured_s": m.measured_s,
                     "simulated_s": simulated, "error": simulated / m.measured_s - 1.0, "spread_s": m.spread_s,
                     "run_spread": m.run_spread, "repeats": m.repeats, "simulated_given_compute_s": given,
                     "error_given_compute": given / m.measured_s - 1.0})
        if progress is not None:
            progress(i + 1, len(chosen))
    return rows


def summary(rows: Sequence[dict[str, Any]], column: str = "error") -> dict[str, dict[str, Any]]:
    """Per split (held-out first): ``median_abs_error``, ``max_abs_error`` (NaN without rows)
    and ``cases``, of ``column``; ``median_rel_spread``, the median interquartile range of
    the repeats over their median, and ``median_run_spread``, the median of how far apart
    whole runs measured a configuration (NaN for one run): the measurement's own noise,
    against which an error means something."""
    out = {}
    for split in SPLITS:
        chosen = [r for r in rows if r["split"] == split]
        errors = np.abs([r[column] for r in chosen])
        spread = [r["spread_s"] / r["measured_s"] for r in chosen]
        runs = [r.get("run_spread", math.nan) for r in chosen]
        runs = [x for x in runs if x is not None and math.isfinite(x)]
        out[split] = {"median_abs_error": float(np.median(errors)) if errors.size else math.nan,
                      "max_abs_error": float(errors.max()) if errors.size else math.nan, "cases": int(errors.size),
                      "median_rel_spread": float(np.median(spread)) if spread else math.nan,
                      "median_run_spread": float(np.median(runs)) if runs else math.nan}
    return out


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table as Markdown (configuration, split, measured and simulated ms, error, error with
    the compute as measured, relative spread of the repeats and, from several runs, of the
    runs), held-out rows first."""
    runs = any(math.isfinite(r.get("run_spread", math.nan)) for r in rows)
    lines = ["| configuration | split | measured (ms) | simulated (ms) | error | error, compute as measured | "
             "IQR / median |" + (" runs' spread |" if runs else ""),
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if runs else "")]
    for split in SPLITS:
        for r in rows:
            if r["split"] == split:
                given = f"{r['error_given_compute']:+.0%}" if r["kind"] == "train" else ""
                lines.append(f"| {r['configuration']} | {split} | {1e3 * r['measured_s']:.3g} | "
                             f"{1e3 * r['simulated_s']:.3g} | {r['error']:+.0%} | {given} | "
                             f"{r['spread_s'] / r['measured_s']:.0%} |" + (f" {r['run_spread']:.0%} |" if runs else ""))
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Measured against simulated seconds, log-log, with y = x and the +-10 % and +-25 % bands;
    colour by kind, marker by split. Written to ``path`` (.png, .svg or .pdf)."""
    import matplotlib  # noqa: PLC0415
    import matplotlib.ticker  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from ..plots import figure_format, save  # noqa: PLC0415

    fmt = figure_format(path)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    values = [v for r in rows for v in (r["measured_s"], r["simulated_s"]) if v > 0 and math.isfinite(v)]
    lo, hi = (min(values) / 1.5, max(values) * 1.5) if values else (1e-4, 1.0)
    x = np.geomspace(lo, hi, 50)
    ax.plot(x, x, color="black", lw=1, label="simulated = measured")
    for band, alpha in ((0.25, 0.12), (0.10, 0.28)):
        ax.fill_between(x, x * (1 - band), x * (1 + band), color="grey", alpha=alpha, lw=0, label=f"±{band:.0%}")
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    colours = dict(zip(kinds, plt.get_cmap("tab10").colors))
    markers = {"held-out": "o", "calibration": "x"}
    for kind in kinds:
        for split, marker in markers.items():
            pts = [(r["measured_s"], r["simulated_s"]) for r in rows if r["kind"] == kind and r["split"] == split]
            if pts:
                mx, sy = zip(*pts)
                ax.scatter(mx, sy, marker=marker, color=colours[kind], s=28, label=f"{kind} ({split})",
                           facecolors="none" if marker == "o" else None)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured (s)", ylabel="simulated (s)",
           title=title or "ddlsim against measured runs on this host")
    for axis in (ax.xaxis, ax.yaxis):   # decade labels only: minor labels collide on a short range
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.grid(True, which="major", lw=0.3)
    return save(fig, path, (fmt,))[0]


@dataclasses.dataclass
class Validation:
    """A validation run: its rows, the fitted compute efficiency and the conditions of the
    measurement (host, cores, load average before and after, wall seconds)."""

    rows: list[dict[str, Any]]
    compute_efficiency: float
    host: dict[str, Any]
    framework_overhead_s: float = 0.0

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per split, the error statistics of the rows (see :func:`summary`; errors as fractions)."""
        return summary(self.rows)

    def report(self) -> dict[str, Any]:
        """The summary, the conditions and the rows (what ``--json`` prints; NaN as null)."""
        return _finite({"summary": self.summary(), "compute_efficiency": self.compute_efficiency,
                        "framework_overhead_s": self.framework_overhead_s, "host": self.host,
                        "summary_given_compute": summary(self.rows, "error_given_compute"), "rows": self.rows})


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON null)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def refit_link(cases: Cases, measurements: Sequence[Measurement], device: Device,
               link: LinkSpec) -> LinkSpec:
    """``link`` with its latency, shared bandwidth and oversubscription latency fitted as
    ``ddlsim calibrate`` fits them (:func:`~.link.fit_link`, reductions on ``device``, the link's
    ``host_cores``) to the p2p and collective measurements of the *calibration*
    configurations only."""
    from simulator.collectives import reduction_gamma  # noqa: PLC0415

    points = [m for m in measurements if m.kind in ("p2p", "collective") and split_of(cases, m) == "calibration"]
    if not points:
        raise SpecError("validate --refit-link: the configurations have no calibration collectives to fit the link to")
    gamma = reduction_gamma(device)

    fit = fit_link(points, gamma, link.host_cores)
    residuals = np.abs(fit.residuals)
    return dataclasses.replace(link, bandwidth_Bps=fit.bandwidth_Bps, latency_s=fit.alpha_s / HOPS,
                               oversubscription_latency_s=fit.oversubscription_latency_s,
                               source=f"refitted on this run's {len(points)} calibration collectives "
                                      f"(median |residual| {np.median(residuals):.0%}, max {residuals.max():.0%})")


def validate(cases: Cases, device: Device, link: LinkSpec, *, quick: bool = False, refit: bool = False, runs: int = 1,
             progress: Callable[[str, int, int], None] | None = None, start_method: str = "fork") -> Validation:
    """Measure every configuration of ``cases`` (calibration and held-out) for real ``runs``
    times (each run a pass over all of them; a configuration's measured time is the median of
    the runs', :func:`~.records.combine_runs`), fit the
    compute efficiency on the calibration training configurations (and with ``refit`` the link,
    :func:`refit_link`) and simulate them all; ``progress(stage, done, total)`` after each
    measured group (one world and operation, or one worker count and model) and each simulated
    row."""
    before = os.getloadavg()
    t0 = datetime.datetime.now(datetime.timezone.utc)
    # One process group per (world, operation) and per (workers, model): progress a user can follow,
    # at the price of a few more group start-ups.
    chunks: dict[tuple[Any, ...], list[CollectiveCase | TrainCase]] = {}
    for case in cases.all():
        key = ("c", case.world, case.op) if isinstance(case, CollectiveCase) else ("t", case.workers, case.model)
        chunks.setdefault(key, []).append(case)
    if not is_int(runs) or runs < 1:
        raise SpecError(f"--runs must be a positive integer, got {runs!r}")
    passes: list[list[Measurement]] = []
    ordered = sorted(chunks.items(), key=lambda kv: kv[0][:2])   # collectives, then training
    for r in range(runs):
        passes.append([])
        for i, (_, chunk) in enumerate(ordered):
            passes[-1] += measure_cases(chunk, quick=quick, start_method=start_method)
            if progress is not None:
                progress("measuring", r * len(ordered) + i + 1, runs * len(ordered))
    measurements = combine_runs(passes)
    wall = (datetime.datetime.now(datetime.timezone.utc) - t0).total_seconds()
    after = os.getloadavg()
    if refit:
        link = refit_link(cases, measurements, device, link)
    efficiency = fit_compute_efficiency(cases, measurements, device, link)
    overhead = fit_framework_overhead(cases, measurements, device, link, efficiency)
    rows = validation_table(cases, measurements, device, link, compute_efficiency=efficiency,
                            framework_overhead_s=overhead, progress=None if progress is None else lambda d, t: progress("simulating", d, t))
    host = {"host": platform.node(), "cores": os.cpu_count(), "date": t0.isoformat(timespec="seconds"),
            "measure_wall_s": wall, "runs": runs, "load_before": list(before), "load_after": list(after),
            "device": device.source or device.name, "link": link.source or link.name,
            "link_bandwidth_Bps": link.bandwidth_Bps, "link_latency_s": link.latency_s,
            "link_host_cores": link.host_cores, "link_oversubscription_latency_s": link.oversubscription_latency_s}
    return Validation(rows, efficiency, host, overhead)


def write(result: Validation, folder: str | Path) -> list[Path]:
    """``validation.parquet``, ``validation.csv``, ``validation.png``, ``summary.json`` and
    ``validation.md`` (the table in Markdown) in ``folder`` (made if missing); the paths. The
    files are written aside first and moved in together, so a failure leaves none half-written."""
    import shutil  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = ["validation.parquet", "validation.csv", "validation.png", "summary.json", "validation.md"]
    aside = folder / f".validate-{os.getpid()}"
    aside.mkdir(exist_ok=True)
    try:
        table = pd.DataFrame(result.rows)
        table.to_parquet(aside / names[0], index=False)
        table.to_csv(aside / names[1], index=False)
        held = result.summary()["held-out"]
        plot(result.rows, aside / names[2], title=f"{result.host['host']} ({result.host['cores']} cores): held-out "
                                                  f"median |error| {held['median_abs_error']:.0%}, max "
                                                  f"{held['max_abs_error']:.0%}")
        report = result.report()
        (aside / names[3]).write_text(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2) + "\n",
                                      encoding="utf-8")
        (aside / names[4]).write_text(markdown(result.rows) + "\n", encoding="utf-8")
        for name in names:
            (aside / name).replace(folder / name)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return [folder / name for name in names]
