"""The metric table: every column a sweep workload emits, with a label, a unit and a scope.

Plots, tables and reports take their labels from here ("simulated time (s)" rather than
``sim_time_s``); ``compare-hw --metric`` checks its column here before anything runs; and a test
runs every workload kind once and fails when it emits a column this table does not name.

The **scope** says what a value covers, so per-round and cumulative quantities are never mixed up:

- ``cumulative``: the total from the start of the run up to this row (a training curve);
- ``per round`` / ``per step``: this federated round or training step only;
- ``per run``: one value for the whole run (a point), repeated on every row of a curve;
- ``snapshot``: measured at this row (an evaluation's accuracy or loss);
- ``config``: an input echoed into the table, for axes and legends.

A name may mean different things in different workloads (``energy_j`` is cumulative in ``train``
and per batch in ``infer``); those names have one entry per group of workloads, and a lookup
gives the workload. Columns named ``PREFIX.<key>`` (a flow, a host, a plan parameter) share
the entry ``PREFIX.*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hwmodels import SpecError

__all__ = ["Metric", "METRICS", "SCOPES", "AXES", "ENERGY_KINDS", "metric", "label", "axis_label", "metrics_for",
           "known_metric", "workload_of", "flatten_breakdown", "unlabelled"]

SCOPES = ("cumulative", "per round", "per step", "per run", "snapshot", "config")
ALL = ("collective", "netsim", "compress", "train", "fl", "infer", "restructure")
ENERGY_KINDS = ("compute", "idle", "link", "radio")


@dataclass(frozen=True)
class Metric:
    """One column: ``label`` (words, no unit), ``unit`` (SI symbol; "" when dimensionless),
    ``scope`` (one of :data:`SCOPES`) and the ``workloads`` that emit it."""

    name: str
    label: str
    unit: str
    scope: str
    workloads: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"{self.name}: scope {self.scope!r} is not one of {SCOPES}")

    @property
    def axis_label(self) -> str:
        """The label with its unit: ``simulated time (s)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


def _m(name: str, label: str, unit: str, scope: str, *workloads: str) -> Metric:
    return Metric(name, label, unit, scope, workloads or ALL)


_TRAIN_FL = ("train", "fl")
_INFER = ("infer", "restructure")

METRICS: tuple[Metric, ...] = (
    _m("wall_s", "host wall-clock time", "s", "per run"),
    # collective
    _m("hosts", "hosts", "", "per run", "collective"),
    _m("size_B", "message size", "B", "config", "collective"),
    _m("bandwidth_Bps", "link bandwidth", "B/s", "config", "collective"),
    _m("latency_s", "link latency", "s", "config", "collective"),
    _m("time_s", "collective time", "s", "per run", "collective"),
    _m("analytic_time_s", "closed-form time", "s", "per run", "collective"),
    _m("steps", "algorithm steps", "", "per run", "collective"),
    _m("messages", "messages", "", "per run", "collective"),
    _m("bytes_sent_total", "sent, all ranks", "B", "per run", "collective"),
    _m("algbw_Bps", "algorithm bandwidth", "B/s", "per run", "collective"),
    _m("busbw_Bps", "bus bandwidth", "B/s", "per run", "collective"),
    # netsim
    _m("makespan_s", "makespan", "s", "per run", "netsim"),
    _m("finish_s.*", "finish time of flow", "s", "per run", "netsim"),
    # compress
    _m("distribution", "data distribution", "", "config", "compress"),
    _m("elements", "elements", "", "config", "compress"),
    _m("trials", "trials", "", "config", "compress"),
    _m("noise", "per-worker noise (std)", "", "config", "compress"),
    _m("batch", "batch size", "", "config", "compress", *_INFER),
    _m("d_in", "layer inputs", "", "config", "compress"),
    _m("d_out", "layer outputs", "", "config", "compress"),
    _m("bits_per_element", "payload per element", "bit", "per run", "compress", "train"),
    _m("relative_error", "relative error", "", "per run", "compress"),
    _m("bias", "relative bias", "", "per run", "compress"),
    _m("unbiased", "unbiased by design", "", "per run", "compress"),
    _m("rd_bound", "rate-distortion bound (Gaussian D(R); CEO with workers)", "", "per run", "compress"),
    _m("mean_error", "relative error of the exact mean", "", "per run", "compress"),
    _m("encode_s", "host encode time", "s", "per run", "compress"),
    _m("decode_s", "host decode time", "s", "per run", "compress"),
    _m("failures", "decoding failures", "", "per run", "compress"),
    _m("direct_fallback", "fell back to direct", "", "per run", "compress"),
    # train
    _m("step", "training step", "", "snapshot", "train"),
    _m("epoch", "epoch", "", "snapshot", "train"),
    _m("sim_time_s", "simulated time", "s", "cumulative", *_TRAIN_FL),
    _m("energy_j", "energy, all devices", "J", "cumulative", "train"),
    _m("bits_up_total", "payload sent, all workers", "bit", "cumulative", "train"),
    _m("test_accuracy", "test accuracy", "", "snapshot", *_TRAIN_FL),
    _m("train_loss", "training loss", "", "snapshot", "train"),
    _m("final_test_accuracy", "final test accuracy", "", "per run", *_TRAIN_FL),
    _m("bits_per_worker", "payload sent per worker", "bit", "per run", "train"),
    _m("wire_bits_per_worker", "sent on the wire per worker", "bit", "per run", "train"),
    _m("wire_bits_total", "sent on the wire, all workers", "bit", "cumulative", "train"),
    _m("sync", "synchronisation", "", "config", "train"),
    _m("step_time_s", "simulated time per step", "s", "per step", "train"),
    _m("time_to_target_s", "simulated time to the target accuracy", "s", "per run", *_TRAIN_FL),
    _m("energy_to_target_j", "energy until the target accuracy", "J", "per run", *_TRAIN_FL),
    _m("bits_to_target", "sent until the target accuracy", "bit", "per run", *_TRAIN_FL),
    _m("peak_memory_B_per_worker", "peak memory per worker", "B", "per run", "train"),
    *(_m(f"energy_{kind}_j", f"energy, {kind}", "J", "cumulative", *_TRAIN_FL) for kind in ENERGY_KINDS),
    *(_m(f"energy_{kind}_j", f"energy per batch, {kind}", "J", "per run", *_INFER) for kind in ENERGY_KINDS),
    *(_m(f"energy_{kind}_j", f"energy, {kind}", "J", "per run", "collective") for kind in ENERGY_KINDS),
    _m("energy_j", "energy, devices and links", "J", "per run", "collective"),
    # fl
    _m("round", "round", "", "snapshot", "fl"),
    _m("airtime_round_s", "airtime per round", "s", "per round", "fl"),
    _m("airtime_total_s", "total airtime", "s", "cumulative", "fl"),
    _m("energy_round_j", "energy per round, all devices", "J", "per round", "fl"),
    _m("energy_total_j", "energy, all devices", "J", "cumulative", "fl"),
    _m("tx_energy_round_j", "transmit energy per round", "J", "per round", "fl"),
    _m("tx_energy_total_j", "transmit energy", "J", "cumulative", "fl"),
    _m("airtime_s", "airtime per round", "s", "per round", "fl"),
    _m("energy_j", "energy per round, all devices", "J", "per round", "fl"),
    _m("tx_energy_j", "transmit energy per round", "J", "per round", "fl"),
    _m("energy_j_per_device", "energy per round per participating device", "J", "per round", "fl"),
    _m("channel_uses", "channel uses per round", "", "per round", "fl"),
    _m("participating", "participating devices", "", "per round", "fl"),
    _m("tx_power_mean_W", "mean transmit power of the sending devices", "W", "per round", "fl"),
    _m("tx_power_max_W", "largest transmit power of a device", "W", "per round", "fl"),
    _m("threshold", "truncation threshold on the fading gain", "", "per round", "fl"),
    _m("predicted_mse", "predicted aggregation MSE, relative", "", "per round", "fl"),
    _m("diverged_round", "round the run diverged in", "", "per run", "fl"),
    _m("run_status", "the run's own status (ok, diverged)", "", "per run", *_TRAIN_FL),
    _m("run_note", "why the run stopped or diverged", "", "per run", *_TRAIN_FL),
    _m("parameters", "model parameters", "", "per run", *_TRAIN_FL),
    # infer and restructure
    _m("original_accuracy", "accuracy of the unpartitioned model", "", "per run", *_INFER),
    _m("workers", "workers", "", "config", *_INFER),
    _m("activation_bits", "activation precision", "bit", "config", *_INFER),
    _m("partitioner", "partitioner", "", "config", *_INFER),
    _m("params.*", "plan parameter", "", "config", *_INFER),
    _m("accuracy", "test accuracy", "", "per run", *_INFER),
    _m("latency_s", "latency per batch", "s", "per run", *_INFER),
    _m("energy_j", "energy per batch", "J", "per run", *_INFER),
    _m("bits_per_sample", "activations sent per sample", "bit", "per run", *_INFER),
    _m("air_bits_per_sample", "on air per sample", "bit", "per run", *_INFER),
    _m("transfers_per_sample", "activation transfers per sample", "", "per run", *_INFER),
    _m("values_per_sample", "activation values sent per sample", "", "per run", *_INFER),
    _m("transfers_per_layer", "transfers per layer", "", "per run", *_INFER),
    _m("flops_per_worker", "FLOPs per sample per worker", "FLOP", "per run", *_INFER),
    _m("busy_s_per_worker.*", "busy time per batch of worker", "s", "per run", *_INFER),
    _m("weights_kept_fraction", "fraction of weights kept", "", "per run", *_INFER),
    _m("peak_memory_B_per_worker", "peak memory of each worker", "B", "per run", *_INFER),
    _m("feasibility", "fits the workers' memory", "", "per run", *_INFER),
    _m("pareto", "on the Pareto front", "", "per run", "restructure"),
    _m("chosen", "chosen plan", "", "per run", "restructure"),
)

# Inputs that often label an axis or a legend (config columns; not emitted by a workload).
AXES: dict[str, tuple[str, str]] = {
    "workers": ("workers", ""), "clients": ("devices", ""), "compressor": ("compressor", ""),
    "algorithm": ("algorithm", ""), "topology": ("topology", ""), "device": ("device", ""), "link": ("link", ""),
    "radio": ("radio", ""), "scheme": ("scheme", ""), "name": ("configuration", ""), "op": ("collective", ""),
    "size": ("message size", ""), "epochs": ("epochs", ""), "rounds": ("rounds", ""), "mode": ("mode", ""),
    "repeat": ("repeat", ""), "seed": ("seed", ""), "configuration": ("hardware (device @ link)", ""),
    "encode_s_per_element": ("encode time per element", "s"), "decode_s_per_element": ("decode time per element", "s"),
    "batch_size": ("batch size per worker", ""), "lr": ("learning rate", ""), "alpha": ("Dirichlet alpha", ""),
    "bucket_cap": ("gradient bucket cap", "B"), "overlap": ("overlap", ""), "model": ("model", ""),
}


def _lookup(name: str) -> list[Metric]:
    exact = [m for m in METRICS if m.name == name]
    if exact:
        return exact
    head = name.split(".", 1)[0]
    return [m for m in METRICS if m.name == f"{head}.*"] if "." in name else []


def metric(name: str, workload: str | None = None) -> Metric | None:
    """The entry of column ``name`` (as ``workload`` emits it), or None when the table has none.
    Without ``workload`` a name with several meanings gives the first entry."""
    found = _lookup(name)
    if workload is not None:
        found = [m for m in found if workload in m.workloads] or found
    return found[0] if found else None


def known_metric(workload: str, name: str) -> Metric:
    """The entry of ``name`` for ``workload``; SpecError listing the workload's metrics otherwise."""
    found = [m for m in _lookup(name) if workload in m.workloads and m.scope != "config"]
    if not found:
        known = ", ".join(m.name for m in metrics_for(workload))
        raise SpecError(f"no metric {name!r} in workload {workload} (its metrics: {known})")
    return found[0]


def metrics_for(workload: str) -> list[Metric]:
    """The metrics (not config echoes) ``workload`` emits, in table order."""
    return [m for m in METRICS if workload in m.workloads and m.scope != "config"]


def label(name: str, workload: str | None = None) -> str:
    """Words for column ``name`` without the unit (``simulated time``); the name itself if unknown."""
    entry = metric(name, workload)
    if entry is not None:
        suffix = name.split(".", 1)[1] if entry.name.endswith(".*") else ""
        return f"{entry.label} {suffix}".rstrip()
    return AXES.get(name, (name.replace("_", " "), ""))[0]


def axis_label(name: str, workload: str | None = None) -> str:
    """Words and unit for an axis or a table header: ``simulated time (s)``."""
    entry = metric(name, workload)
    unit = entry.unit if entry is not None else AXES.get(name, ("", ""))[1]
    text = label(name, workload)
    return f"{text} ({unit})" if unit else text


def workload_of(table: Any) -> str | None:
    """The one workload kind of a results table (None when absent or mixed)."""
    if "workload" not in getattr(table, "columns", ()):
        return None
    kinds = set(table["workload"].dropna().unique())
    return next(iter(kinds)) if len(kinds) == 1 else None


def flatten_breakdown(row: Mapping[str, Any]) -> dict[str, Any]:
    """A metrics row with an ``energy_breakdown_j`` mapping ({kind: J}) as ``energy_<kind>_j`` columns."""
    out = dict(row)
    breakdown = out.pop("energy_breakdown_j", None)
    if isinstance(breakdown, Mapping):
        out.update({f"energy_{kind}_j": value for kind, value in breakdown.items()})
    elif breakdown is not None:
        out["energy_breakdown_j"] = breakdown
    return out


def unlabelled(workload: str, columns: Iterable[str]) -> list[str]:
    """The columns of ``workload``'s rows that have no entry (a test keeps this empty)."""
    return [c for c in columns if not any(workload in m.workloads for m in _lookup(c))]
