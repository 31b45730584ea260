"""The registry of sweep workload kinds: what one sweep point runs.

A workload is a pure function ``run(config, seed) -> rows`` of a plain mapping (the spec's
``base`` with the point's overrides applied) and an integer seed; ``rows`` is one metrics dict or a
list of them (a training curve: one dict per evaluation). Same config and seed, same numbers.

Built in: ``collective``, ``netsim``, ``compress``, ``train``, ``fl``, ``infer`` and
``restructure``. Other modules add kinds with :func:`register_workload` (into :data:`WORKLOADS`, a
:class:`~hwmodels.registry.Registry`); a sweep point carries the registering module's name, so a
Dask worker imports it before looking the kind up. Registering imports no torch: a kind's known
fields may be given as a function reading its schema, called the first time a config is checked.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from hwmodels import Catalog, SpecError
from hwmodels.checks import is_int
from hwmodels.registry import Registry

from . import as_flag
from .limits import check_compress_size

__all__ = ["Workload", "WORKLOADS", "register_workload", "get_workload", "workloads", "Rows"]

Rows = "dict[str, Any] | list[dict[str, Any]]"
Fields = Union[tuple[str, ...], Callable[[], tuple[str, ...]], None]


@dataclass(frozen=True)
class Workload:
    """A registered kind. ``fields``: the known top-level config keys (None: any), or a function
    giving them (so listing kinds imports nothing heavy; see :meth:`known_fields`);
    ``hardware``: the config keys that name catalog hardware (``compare-hw`` sets them);
    ``volatile``: metrics measured on the host's clock, left out of equality checks;
    ``headline``: the metric ``compare-hw`` shows by default."""

    name: str
    run: Callable[[dict[str, Any], int], Any]
    summary: str
    module: str
    fields: Fields = None
    validate: Callable[[dict[str, Any]], None] | None = None
    hardware: tuple[str, ...] = ()
    volatile: tuple[str, ...] = ()
    headline: str = ""

    def known_fields(self) -> tuple[str, ...] | None:
        """The known top-level config keys (None: any)."""
        return self.fields() if callable(self.fields) else self.fields

    def check(self, config: Mapping[str, Any], where: str) -> None:
        """Raise SpecError (naming ``where``) if ``config`` is not a valid config of this kind."""
        fields = self.known_fields()
        if fields is not None:
            unknown = sorted(set(config) - set(fields))
            if unknown:
                raise SpecError(f"{where}: unknown field {unknown[0]!r} for workload {self.name} "
                                f"(known: {', '.join(fields)})")
        if self.validate is not None:
            try:
                self.validate(dict(config))
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None


WORKLOADS: Registry[Workload] = Registry("workload")


def register_workload(name: str, run: Callable[[dict[str, Any], int], Any], *, summary: str,
                      fields: Fields = None, validate: Callable[[dict[str, Any]], None] | None = None,
                      hardware: tuple[str, ...] = (), volatile: tuple[str, ...] = (), headline: str = "") -> Workload:
    """Register workload kind ``name`` (ValueError if taken); ``run`` must be a module-level function."""
    return WORKLOADS.add(name, Workload(name, run, summary, run.__module__, fields, validate, hardware, volatile,
                                        headline))


def get_workload(name: str, module: str | None = None) -> Workload:
    """The workload ``name``, importing ``module`` first if given (a Dask worker's first point)."""
    if name not in WORKLOADS and module:
        importlib.import_module(module)
    return WORKLOADS.get(name)


def workloads() -> list[Workload]:
    """Every registered workload, by name."""
    return [WORKLOADS.get(k) for k in sorted(WORKLOADS)]


# ---- built-in kinds -------------------------------------------------------------------------

_COLLECTIVE_FIELDS = ("op", "algorithm", "workers", "size", "topology", "bandwidth", "latency", "link", "device",
                      "mode", "chunks", "shards", "root", "paths", "slowdown")


def _collective_args(config: Mapping[str, Any]) -> dict[str, Any]:
    cfg = dict(config)
    for key in ("op", "algorithm", "workers", "size"):
        if key not in cfg:
            raise SpecError(f"{key}: required field of a collective")
    cat = Catalog.load() if ("link" in cfg or "device" in cfg) else None
    if "link" in cfg:
        link = cat.get(cfg.pop("link"), "link")
        cfg.setdefault("bandwidth", link.bandwidth_Bps)
        cfg.setdefault("latency", link.latency_s)
        cfg.setdefault("energy_per_bit_J", link.energy_per_bit_J)
    if "bandwidth" not in cfg:
        raise SpecError("bandwidth: give bandwidth (e.g. 10Gbps) or a catalog link")
    if "device" in cfg:
        cfg["device"] = cat.get(cfg["device"], "device")
    cfg.setdefault("topology", "switch")
    cfg.setdefault("latency", 0.0)
    workers = cfg["workers"]
    if isinstance(workers, float) and workers.is_integer():
        workers = int(workers)
    if not is_int(workers):
        raise SpecError(f"workers: must be an integer, got {workers!r}")
    cfg["workers"] = workers
    return cfg


def _validate_collective(config: dict[str, Any]) -> None:
    from hwmodels import units  # noqa: PLC0415

    from .collective import collective_row  # noqa: PLC0415

    cfg = _collective_args(config)
    for key, dimension in (("size", "size"), ("bandwidth", "rate"), ("latency", "time")):
        if isinstance(cfg[key], str):
            try:
                units.parse(cfg[key], dimension)
            except SpecError as exc:
                raise SpecError(f"{key}: {exc}") from None
    # everything the run itself checks (counts, algorithm options, memory), without running it; messages
    # name the fields as ``ddlsim collective`` options, the spelling sweep users have been shown
    collective_row(cfg.pop("op"), cfg.pop("algorithm"), cfg.pop("workers"), cfg.pop("size"), cfg.pop("topology"),
                   cfg.pop("bandwidth"), cfg.pop("latency"), **cfg, check_only=True, label=as_flag)


def run_collective(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """One collective (``ddlsim collective``): time, steps, messages, bytes."""
    from .collective import collective_row  # noqa: PLC0415  (the simulator only when a point runs)

    cfg = _collective_args(config)
    out = collective_row(cfg.pop("op"), cfg.pop("algorithm"), cfg.pop("workers"), cfg.pop("size"),
                         cfg.pop("topology"), cfg.pop("bandwidth"), cfg.pop("latency"), **cfg, label=as_flag)
    return {k: v for k, v in out.items() if k in _COLLECTIVE_METRICS}


_COLLECTIVE_METRICS = ("hosts", "size_B", "bandwidth_Bps", "latency_s", "time_s", "analytic_time_s", "steps",
                       "messages", "bytes_sent_total", "algbw_Bps", "busbw_Bps", "wall_s", "energy_j",
                       "energy_breakdown_j")


def _scenario(config: Mapping[str, Any]) -> Any:
    from simulator.network.scenario import load_scenario, parse_scenario  # noqa: PLC0415

    if "file" in config:
        return load_scenario(config["file"])
    return parse_scenario(dict(config), "base")


def _validate_netsim(config: dict[str, Any]) -> None:
    _scenario(config)


def run_netsim(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """A flow scenario (``ddlsim netsim``): makespan and each flow's finish time."""
    from simulator.network.scenario import run_scenario  # noqa: PLC0415

    result = run_scenario(_scenario(config), seed=seed, record_flows=False)
    return {"makespan_s": result.makespan_s, **{f"finish_s.{k}": v for k, v in result.finish_s.items()}}


_COMPRESS_FIELDS = ("scheme", "params", "elements", "rows", "distribution", "trials", "workers", "noise", "batch",
                    "d_in", "d_out")


def _validate_compress(config: dict[str, Any]) -> None:
    from simulator.compression import get  # noqa: PLC0415

    if "scheme" not in config:
        raise SpecError("scheme: required field of a compress workload")
    scheme = get(config["scheme"])
    scheme.resolve(dict(config.get("params") or {}))
    from simulator.compression.evaluate import DISTRIBUTIONS, measure, measure_factors, measure_workers  # noqa: PLC0415

    how = measure_factors if scheme.kind == "factors" else \
        measure_workers if scheme.kind == "workers" or "workers" in config else measure
    taken = set(inspect.signature(how).parameters) - {"scheme", "params", "seed"}
    extra = sorted(set(config) - taken - {"scheme", "params"})
    if extra:
        raise SpecError(f"{extra[0]}: does not apply to {scheme.name} measured by {how.__name__} "
                        f"(its fields: {', '.join(sorted(taken))})")
    counts = {k: config[k] for k in ("elements", "workers", "batch", "d_in", "d_out", "rows", "trials") if k in config}
    for key, value in counts.items():
        if not is_int(value) or value < 1:
            raise SpecError(f"{key}: must be an integer >= 1, got {value!r}")
    if config.get("elements", 4096) % config.get("rows", 1):
        raise SpecError(f"rows: must divide elements ({config.get('elements', 4096)}), got {config['rows']}")
    if config.get("distribution", "gaussian") not in DISTRIBUTIONS:
        raise SpecError(f"distribution: one of {', '.join(DISTRIBUTIONS)}, got {config['distribution']!r}")
    check_compress_size(scheme.kind, **{k: v for k, v in counts.items() if k not in ("rows", "trials")})


def run_compress(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """A compressor on synthetic data (``ddlsim compress``): bits per element, error, bias, D(R)."""
    from simulator.compression import get  # noqa: PLC0415
    from simulator.compression.evaluate import measure, measure_factors, measure_workers  # noqa: PLC0415

    cfg = dict(config)
    scheme, params = cfg.pop("scheme"), dict(cfg.pop("params", None) or {})
    kind = get(scheme).kind
    if kind == "factors":
        row = measure_factors(scheme, params, seed=seed, **cfg)
    elif kind == "workers" or "workers" in cfg:
        row = measure_workers(scheme, params, seed=seed, **cfg)
    else:
        row = measure(scheme, params, seed=seed, **cfg)
    row.pop("params", None)
    row.pop("scheme", None)
    return row


def _train_spec(config: Mapping[str, Any]) -> Any:
    from .train_spec import parse_spec  # noqa: PLC0415

    return parse_spec(dict(config), "base")


def run_train(config: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Data-parallel training (``ddlsim train``): one row per evaluation, with the run's summary."""
    from simulator.learning import price_only, train  # noqa: PLC0415

    spec = _train_spec({**config, "seed": seed})
    cfg = spec.config()
    if cfg.price_only:   # no evaluations: one row of the priced step
        s = price_only(cfg, spec.cluster(Catalog.load())).summary
        return [{k: s[k] for k in _PRICE_ONLY_ROW}]
    result = train(cfg, spec.cluster(Catalog.load()))
    summary = {k: v for k, v in result.summary.items() if k in _TRAIN_SUMMARY}
    step = result.summary.get("diverged_at_step")
    status = _run_status(result.summary, f"training loss not finite from step {step}")
    return [{**row, **summary, **status} for row in result.to_dict()["rows"]]


def _run_status(summary: Mapping[str, Any], note: str) -> dict[str, Any]:
    """The run's own verdict for its rows: ``run_status`` (ok, diverged) and, when not ok,
    ``run_note`` (where); the sweep records a point by it."""
    status = summary.get("status", "ok")
    return {"run_status": status, "run_note": None if status == "ok" else note}


# The run's summary values every row of a train or fl point carries (those the run reports).
_TRAIN_SUMMARY = ("sync", "bits_per_worker", "bits_per_element", "final_test_accuracy", "wire_bits_per_worker",
                  "time_to_target_s", "energy_to_target_j", "bits_to_target", "peak_memory_B_per_worker")
_PRICE_ONLY_ROW = ("step_time_s", "sim_time_s", "energy_j", "energy_breakdown_j", "bits_per_worker", "bits_per_element",
                   "wire_bits_per_worker", "sync", "parameters", "peak_memory_B_per_worker")
_FL_SUMMARY = ("final_test_accuracy", "parameters", "time_to_target_s", "energy_to_target_j", "bits_to_target",
               "diverged_round")


@functools.cache
def _train_fields() -> tuple[str, ...]:
    from .train_spec import spec_fields  # noqa: PLC0415

    return spec_fields()


def _fl_spec(config: Mapping[str, Any]) -> Any:
    from .fl_spec import parse_fl_spec  # noqa: PLC0415

    return parse_fl_spec(dict(config), "base")


def run_fl(config: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Federated learning over a wireless MAC (``ddlsim fl``): one row per evaluated round,
    with the run's final accuracy and the device placement's seed-derived distances left out."""
    from simulator.federated import run_federated  # noqa: PLC0415

    spec = _fl_spec({**config, "seed": seed})
    result = run_federated(spec.config(), *spec.hardware(Catalog.load())).to_dict()
    final = {k: v for k, v in result["summary"].items() if k in _FL_SUMMARY}
    status = _run_status(result["summary"], f"updates not finite in round {result['summary'].get('diverged_round')}")
    return [{**row, **final, **status} for row in result["rows"]]


@functools.cache
def _fl_fields() -> tuple[str, ...]:
    from .fl_spec import spec_fields  # noqa: PLC0415

    return spec_fields()


def _infer_spec(config: Mapping[str, Any]) -> Any:
    from .infer_spec import parse_spec  # noqa: PLC0415

    return parse_spec(dict(config), "base")


def run_infer(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """One partition plan on one cluster (``ddlsim infer``): accuracy, latency, energy, bits, transfers."""
    from .infer_spec import run_infer_spec  # noqa: PLC0415

    return run_infer_spec(_infer_spec({**config, "seed": seed}), Catalog.load())


def run_restructure(config: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """The restructuring optimiser (``ddlsim restructure``): one row per candidate plan, marked
    ``pareto`` and ``chosen``."""
    from .infer_spec import run_restructure_spec  # noqa: PLC0415

    result = run_restructure_spec(_infer_spec({**config, "seed": seed}), Catalog.load())
    return [{**row, "original_accuracy": result.original_accuracy} for row in result.table()]


@functools.cache
def _infer_fields() -> tuple[str, ...]:
    from .infer_spec import InferSpec  # noqa: PLC0415

    return tuple(InferSpec.model_fields)


register_workload("collective", run_collective, summary="one collective, DES or closed form",
                  fields=_COLLECTIVE_FIELDS, validate=_validate_collective, hardware=("device", "link"),
                  volatile=("wall_s",), headline="time_s")
register_workload("netsim", run_netsim, summary="flows of a scenario on a max-min fair network",
                  validate=_validate_netsim, headline="makespan_s")
register_workload("compress", run_compress, summary="a gradient compressor on synthetic data",
                  fields=_COMPRESS_FIELDS, validate=_validate_compress, volatile=("encode_s", "decode_s"),
                  headline="relative_error")
register_workload("train", run_train, summary="data-parallel training of a real model",
                  fields=_train_fields, validate=lambda c: _train_spec(c).config() and None, hardware=("device", "link"),
                  headline="sim_time_s")
register_workload("infer", run_infer, summary="a trained model partitioned over workers",
                  fields=_infer_fields, validate=lambda c: _infer_spec(c) and None, hardware=("device", "link"),
                  headline="latency_s")
register_workload("restructure", run_restructure, summary="the cost-driven restructuring optimiser",
                  fields=_infer_fields, validate=lambda c: _infer_spec(c) and None, hardware=("device", "link"),
                  volatile=("wall_s",), headline="latency_s")
register_workload("fl", run_fl, summary="federated learning over a wireless multiple-access channel",
                  fields=_fl_fields, validate=lambda c: _fl_spec(c) and None, hardware=("device", "radio"),
                  headline="sim_time_s")
