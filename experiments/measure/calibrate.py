"""Calibrate this host: a catalog device ``this-host`` and link ``this-host-loopback`` from
microbenchmarks and real gloo timings (``ddlsim calibrate``).

* device: one single-threaded process (what each worker of a measured run gets), measured as
  one: each microbenchmark runs in one process per core at once (a gloo group, main threads
  pinned), the median over the processes.
  ``peak_flops`` per dtype: GEMM times fitted as ``t = flops / rate``; ``mem_bandwidth``: the
  triad fitted as ``t = bytes / rate`` (:func:`fit_host`); ``mem_capacity``:
  the host's physical memory; ``active_power`` is not measured (no power counters): give it.
* ``call_overhead``: seconds per eager operator dispatch, the slope of loops of tiny additions
  of different lengths (:func:`~.fit.fit_call_overhead`).
* ``codec_efficiency``: encode and decode times of each scheme against the work it declares
  (``Compressor.work(shape)``), less its declared calls at that overhead, priced on the
  calibrated roofline at efficiency 1; the one efficiency that fits them best
  (:func:`~.fit.fit_efficiency`).
* ``codec_call_overhead``: the same schemes on small tensors (a model layer's gradient, 10 to
  8192 elements), where the calls dominate: the median over those points of (time - roofline)
  / declared calls (:func:`fit_codec_calls`).
* link: the loopback's latency per message, its shared copy bandwidth and its latency per
  process beyond the cores, fitted to p2p (2 processes) and all-reduce timings (2-4
  processes) through ddlsim's ``loopback`` topology, the all-reduce's reductions priced on the
  calibrated device (:mod:`.link`).

:func:`calibrate` returns a :class:`Calibration`; :meth:`Calibration.catalog` is the YAML
mapping, :func:`write_catalog` writes it (checked by loading it back first).
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hwmodels import Catalog, Device, LinkSpec, SpecError, units

from . import host
from .collectives import measure_collectives
from .fit import EfficiencyFit, RateFit, fit_call_overhead, fit_efficiency, fit_rate, relative_residuals
from .link import HOPS, LoopbackFit, fit_link
from .records import Measurement, combine_runs
from .world import host_cpus, run_world

__all__ = ["Settings", "SETTINGS", "Calibration", "calibrate", "catalog_path", "fit_codec_calls", "fit_host",
           "host_device", "write_catalog", "DEVICE", "LINK"]

DEVICE, LINK = "this-host", "this-host-loopback"
PLACEHOLDER_POWER_W = 1.0


@dataclass(frozen=True)
class Settings:
    """What :func:`calibrate` measures."""

    gemm_sizes: dict[str, tuple[int, ...]]
    triad_elements: tuple[int, ...]
    codecs: tuple[tuple[str, dict[str, Any]], ...]
    codec_shape: tuple[int, ...]
    worlds: tuple[int, ...]
    link_sizes_B: tuple[int, ...]
    repeats: int
    budget_s: float
    dispatch_calls: tuple[int, ...] = (1000, 4000, 16000)
    codec_small_shapes: tuple[tuple[int, ...], ...] = ((10,), (128,), (1280,), (8192,))


_CODECS = (("none", {}), ("fp16", {}), ("qsgd", {}), ("topk", {}), ("powersgd", {}), ("qcs", {}))
SETTINGS = {
    "full": Settings({"fp32": (256, 512, 1024), "fp64": (256, 512, 768), "bf16": (128, 256, 384)},
                     (1 << 22, 1 << 23, 1 << 24), _CODECS, (1024, 1024), (2, 3, 4),
                     tuple(4096 * 4**i for i in range(8)), 5, 0.25),
    "quick": Settings({"fp32": (256, 512), "fp64": (256, 384), "bf16": (128, 256)}, (1 << 21, 1 << 23),
                      _CODECS, (256, 1024), (2, 4), (4096, 262144, 4 << 20, 16 << 20), 3, 0.3, (500, 2000, 8000),
                      ((128,), (8192,))),
}


@dataclass
class Calibration:
    """The measured points, the fits and the catalog entries they make."""

    host: str
    date: str
    version: str
    cpu: str
    cores: int
    gemm: dict[str, RateFit]
    triad: RateFit
    link: LoopbackFit
    gamma_s_per_B: float
    codec: EfficiencyFit | None = None
    calls: RateFit | None = None
    codec_calls: RateFit | None = None
    measurements: list[Measurement] = field(default_factory=list)
    active_power_W: float | None = None

    @property
    def source(self) -> str:
        """Where the figures come from: host, date and ddlsim version (the catalog's ``source``)."""
        return f"measured on {self.host}, {self.date}, ddlsim {self.version}"

    def device(self) -> Device:
        """The calibrated ``this-host`` device (one single-threaded process)."""
        return host_device(self.gemm, self.triad, self.active_power_W, self.codec.efficiency if self.codec else None,
                           call_overhead_s=1.0 / self.calls.rate if self.calls else 0.0,
                           codec_call_overhead_s=1.0 / self.codec_calls.rate if self.codec_calls else None,
                           source=self.source, notes=self._device_notes())

    def link_spec(self) -> LinkSpec:
        """The calibrated ``this-host-loopback`` link (for the ``loopback`` topology)."""
        return LinkSpec(name=LINK, bandwidth_Bps=self.link.bandwidth_Bps, latency_s=self.link.alpha_s / HOPS,
                        host_cores=self.link.cores, oversubscription_latency_s=self.link.oversubscription_latency_s,
                        category="loopback", source=self.source, notes=self._link_notes())

    def codec_rates(self) -> dict[str, dict[str, float]]:
        """Seconds per element, encode and decode, by scheme."""
        out: dict[str, dict[str, float]] = {}
        for m in self.measurements:
            if m.kind == "codec":
                out.setdefault(m.config["scheme"], {})[m.config["phase"]] = m.measured_s / m.config["elements"]
        return out

    def link_points(self) -> list[tuple[Measurement, float]]:
        """Each p2p and all-reduce point with its relative residual under the joint fit."""
        points = [m for m in self.measurements if m.kind in ("p2p", "collective")]
        return list(zip(points, self.link.residuals))

    def _device_notes(self) -> str:
        fits = "; ".join(f"{k} {units.fmt(f.rate, 'flops', 4)} (max |residual| {_max_abs(f.residuals):.1%})"
                         for k, f in self.gemm.items())
        codecs = ", ".join(f"{k} {v.get('encode', 0):.3g}/{v.get('decode', 0):.3g}" for k, v in self.codec_rates().items())
        codec_fit = (f"codec_efficiency: one efficiency for the declared work of {len(self.codec.residuals)} encodes "
                     f"and decodes (median |residual| {np.median(np.abs(self.codec.residuals)):.0%}, max "
                     f"{_max_abs(self.codec.residuals):.0%}). " if self.codec else "")
        calls = (f"call_overhead: loops of {', '.join(str(m.config['calls']) for m in self.measurements if m.kind == 'dispatch')} "
                 f"additions of 1-element tensors fitted as t = fixed + calls x overhead (max |residual| "
                 f"{_max_abs(self.calls.residuals):.1%}). " if self.calls else "")
        power = (f"active_power {units.fmt(self.active_power_W, 'power', 4)} as given (not measured)"
                 if self.active_power_W else f"active_power is a {PLACEHOLDER_POWER_W:g} W placeholder: not measured "
                 f"(no power counters); give ddlsim calibrate --active-power")
        small = sorted({m.config["elements"] for m in self.measurements if m.kind == "codec-calls"})
        codec_calls = (f"codec_call_overhead: the same codecs on tensors of {', '.join(map(str, small))} elements, the "
                       f"median of (time - roofline) / declared calls (median |residual| "
                       f"{np.median(np.abs(self.codec_calls.residuals)):.0%}). " if self.codec_calls else "")
        return (f"One single-threaded process of this host ({self.cpu}, {self.cores} cores): each worker process "
                f"of a measured run, measured as one ({self.cores} processes at once, the median over them). peak_flops: square GEMMs (torch.mm) fitted as t = 2n^3/rate: {fits}. "
                f"mem_bandwidth: STREAM-like triad, 12 B per element, fitted the same way (max |residual| "
                f"{_max_abs(self.triad.residuals):.1%}). {power}. mem_capacity: the host's physical memory. "
                f"{calls}{codec_fit}{codec_calls}Codec seconds per element, encode/decode: {codecs}.")

    def _link_notes(self) -> str:
        f = self.link
        worlds = sorted({int(m.config["world"]) for m in self.measurements if m.kind == "collective"})
        res = np.abs(f.residuals)
        return (f"gloo over 127.0.0.1, as the loopback topology: a message costs alpha "
                f"{units.fmt(f.alpha_s, 'time', 4)} (two hops: latency = alpha/2), plus "
                f"{units.fmt(f.oversubscription_latency_s, 'time', 4)} per process beyond the {f.cores} cores, and every "
                f"message in flight shares {units.fmt(f.bandwidth_Bps, 'rate', 4, bytes_per_s=True)} (the host copies "
                f"every byte). Fitted (relative least squares) to p2p half ping-pongs at 2 processes and ring "
                f"all-reduces at {', '.join(map(str, worlds))} processes (reductions at {self.gamma_s_per_B:.3g} s/B on "
                f"this-host), each rank pinned to a core. Residuals: median |r| {np.median(res):.1%}, max |r| "
                f"{res.max():.1%} over {res.size} points.")

    def catalog(self) -> dict[str, Any]:
        """The catalog file's content: one device and one link, quantities with units."""
        d, lk = self.device(), self.link_spec()
        device = {"name": d.name, "category": d.category,
                  "peak_flops": {k: units.fmt(v, "flops", 4) for k, v in d.peak_flops.items()},
                  "mem_bandwidth": units.fmt(d.mem_bandwidth_Bps, "rate", 4, bytes_per_s=True),
                  "mem_capacity": units.fmt(d.mem_capacity_B, "size", 4), "active_power": units.fmt(d.active_power_W, "power", 4),
                  **({"codec_efficiency": float(f"{d.codec_efficiency:.4g}")} if d.codec_efficiency else {}),
                  **({"call_overhead": units.fmt(d.call_overhead_s, "time", 4)} if d.call_overhead_s else {}),
                  **({"codec_call_overhead": units.fmt(d.codec_call_overhead_s, "time", 4)}
                     if d.codec_call_overhead_s else {}),
                  "source": d.source, "notes": d.notes}
        link = {"name": lk.name, "category": lk.category, "bandwidth": units.fmt(lk.bandwidth_Bps, "rate", 4, bytes_per_s=True),
                "latency": units.fmt(lk.latency_s, "time", 4), "duplex": True, "host_cores": lk.host_cores,
                "oversubscription_latency": units.fmt(lk.oversubscription_latency_s, "time", 4),
                "source": lk.source, "notes": lk.notes}
        return {"devices": [device], "links": [link]}

    def summary(self) -> dict[str, Any]:
        """Every fitted figure and residual, SI units (``ddlsim calibrate --json``)."""
        return {
            "source": self.source, "device": DEVICE, "link": LINK,
            "peak_flops": {k: f.rate for k, f in self.gemm.items()},
            "mem_bandwidth_Bps": self.triad.rate, "codec_s_per_element": self.codec_rates(),
            "codec_efficiency": self.codec.efficiency if self.codec else None,
            "call_overhead_s": 1.0 / self.calls.rate if self.calls else None,
            "codec_call_overhead_s": 1.0 / self.codec_calls.rate if self.codec_calls else None,
            "codec_residuals": list(self.codec.residuals) if self.codec else [],
            "link_alpha_s": self.link.alpha_s, "link_bandwidth_Bps": self.link.bandwidth_Bps,
            "link_latency_s": self.link.alpha_s / HOPS, "gamma_s_per_B": self.gamma_s_per_B,
            "host_cores": self.link.cores, "oversubscription_latency_s": self.link.oversubscription_latency_s,
            "link_points": [{**m.config, "measured_s": m.measured_s, "residual": r} for m, r in self.link_points()],
        }


def host_device(gemm: dict[str, RateFit], triad: RateFit, active_power_W: float | None = None,
                codec_efficiency: float | None = None, *, call_overhead_s: float = 0.0,
                codec_call_overhead_s: float | None = None, source: str = "", notes: str = "") -> Device:
    """The ``this-host`` device of fitted GEMM rates per dtype, a fitted triad bandwidth and
    (when fitted) its codec efficiency and per-call overhead."""
    return Device(name=DEVICE, peak_flops={k: f.rate for k, f in gemm.items()}, mem_bandwidth_Bps=triad.rate,
                  mem_capacity_B=_memory_B(), active_power_W=active_power_W or PLACEHOLDER_POWER_W,
                  codec_efficiency=codec_efficiency, call_overhead_s=call_overhead_s,
                  codec_call_overhead_s=codec_call_overhead_s, category="cpu", source=source,
                  notes=notes)


def _max_abs(values: Any) -> float:
    return float(np.max(np.abs(values))) if len(values) else 0.0


def _memory_B() -> float:
    """Physical memory, to 3 significant digits (it prints as 24.7 GB rather than in KiB)."""
    return float(f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES'):.3g}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _declared_work(m: Measurement) -> Any:
    """The work a codec measurement's scheme declares for its shape and phase (encode or decode)."""
    from simulator.compression import create  # noqa: PLC0415

    work = create(m.config["scheme"], **m.config["params"]).work(m.config["shape"])
    return work.encode if m.config["phase"] == "encode" else work.decode


def fit_host(points: Sequence[Measurement]) -> tuple[dict[str, RateFit], RateFit, EfficiencyFit | None, RateFit | None]:
    """The device's fits from its measured points: GEMM rate per dtype and triad bandwidth, each
    ``t = work / rate`` (the sizes are large enough for a call's microseconds of overhead to
    vanish, and a fit through the origin stays positive on a noisy, shared host), the per-call
    overhead of the dispatch loops (None without them), and the codec efficiency of the codec
    points, less their declared calls at that overhead, against their declared work on that
    roofline."""

    def rate(kind: str, key: str, dtype: str | None = None) -> RateFit:
        chosen = [m for m in points if m.kind == kind and (dtype is None or m.config["dtype"] == dtype)]
        return fit_rate([m.config[key] for m in chosen], [m.measured_s for m in chosen], overhead=False)

    dtypes = dict.fromkeys(m.config["dtype"] for m in points if m.kind == "gemm")
    gemm = {dtype: rate("gemm", "flops", dtype) for dtype in dtypes}
    triad = rate("triad", "bytes")
    loops = [m for m in points if m.kind == "dispatch"]
    calls = fit_call_overhead([m.config["calls"] for m in loops], [m.measured_s for m in loops]) if loops else None
    call_s = 1.0 / calls.rate if calls else 0.0
    pairs = []
    for m in points:
        if m.kind == "codec":
            work = _declared_work(m)
            # the roofline's share of the time; a point its calls alone exceed is left at its time
            rest = m.measured_s - work.calls * call_s
            pairs.append((rest if rest > 0 else m.measured_s, replace(work, calls=0)))
    roofline = host_device(gemm, triad, codec_efficiency=1.0)
    return gemm, triad, fit_efficiency(pairs, roofline.codec_time) if pairs else None, calls


def fit_codec_calls(points: Sequence[Measurement], device: Device) -> RateFit | None:
    """Seconds per operator call of the codecs (``1 / rate`` of the returned fit): over the
    small-tensor codec points (kind ``codec-calls``), the median of (measured - ``device``'s
    codec roofline of the declared work) / declared calls; None without such points. The
    residuals are each point's (model - measured) / measured at that value."""
    rows = []
    for m in points:
        if m.kind == "codec-calls":
            work = _declared_work(m)
            if work.calls > 0:
                rows.append((m.measured_s, device.codec_time(replace(work, calls=0)), work.calls))
    if not rows:
        return None
    t, roof, calls = (np.array(c, dtype=float) for c in zip(*rows))
    per_call = float(np.median(np.maximum(t - roof, 0.0) / calls))
    if not per_call > 0:
        raise SpecError("calibrate: the small-tensor codec times do not exceed their roofline; no per-call cost fits")
    return RateFit(1.0 / per_call, 0.0, tuple(relative_residuals(roof + calls * per_call, t)))


def _host_tasks(rank: int, world: int, tasks: Sequence[tuple[Any, ...]]) -> list[Measurement]:
    """Run the microbenchmark ``tasks`` (kind first, then the arguments of :mod:`.host`'s
    function of that kind) in this rank; ``codec`` tasks give an encode and a decode record,
    ``codec-calls`` the same of a small tensor."""
    out: list[Measurement] = []
    for kind, *args in tasks:
        if kind in ("codec", "codec-calls"):
            out += [replace(m, kind=kind) for m in host.codec(*args)]
        else:
            out.append(getattr(host, kind)(*args))
    return out


def calibrate(quick: bool = False, *, version: str = "0+unknown", active_power_W: float | None = None,
              progress: Callable[[int, int], None] | None = None, settings: Settings | None = None) -> Calibration:
    """Run the microbenchmarks and the gloo timings of :data:`SETTINGS` (``quick`` or full, or
    ``settings``) and fit the device and the link; ``progress(done, total)`` after each task."""
    import torch  # noqa: F401, PLC0415  (imported once here: the forked ranks inherit it)

    from simulator.collectives import reduction_gamma  # noqa: PLC0415

    if active_power_W is not None and not active_power_W > 0:
        raise SpecError(f"--active-power must be positive, got {active_power_W!r}")
    s = settings or SETTINGS["quick" if quick else "full"]
    tasks = (sum(len(v) for v in s.gemm_sizes.values()) + len(s.triad_elements) + len(s.dispatch_calls) + len(s.codecs)
             + len(s.worlds))
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, tasks)

    # Every microbenchmark runs in one process per core at once, each in a gloo group and its main
    # thread pinned, as the workers of a measured run are: the device is one such worker on a
    # loaded host (two processes busy at once run a codec's small calls 10-40 % slower than one).
    cores = len(host_cpus())
    groups = [tuple(("gemm", dtype, n, s.repeats) for dtype, sizes in s.gemm_sizes.items() for n in sizes),
              tuple(("triad", n, s.repeats) for n in s.triad_elements)
              + tuple(("dispatch", calls, s.repeats) for calls in s.dispatch_calls)]
    groups += [(("codec", name, params, s.codec_shape, s.repeats),)   # then a layer's gradients: calls dominate
               + tuple(("codec-calls", name, params, shape, 10 * s.repeats) for shape in s.codec_small_shapes)
               for name, params in s.codecs]
    measurements: list[Measurement] = []
    for group in groups:
        # fork: the ranks inherit this process's torch instead of importing it again (seconds each)
        measurements += combine_runs(run_world(_host_tasks, cores, group, start_method="fork"))
        for task in group:
            if task[0] != "codec-calls":
                tick()
    gemm, triad, codec, calls = fit_host(measurements)
    codec_calls = fit_codec_calls(measurements, host_device(gemm, triad, codec_efficiency=codec.efficiency if codec else None))

    gamma = reduction_gamma(host_device(gemm, triad, active_power_W))
    link_points: list[Measurement] = []
    for world in s.worlds:
        ops = ("p2p", "allreduce") if world == 2 else ("allreduce",)
        # fork: the ranks inherit this process's torch instead of importing it again (seconds each)
        points = measure_collectives(world, ops, s.link_sizes_B, budget_s=s.budget_s, min_repeats=5 * s.repeats,
                                     max_repeats=40 * s.repeats, start_method="fork")
        link_points += points
        tick()
    return Calibration(socket.gethostname(), datetime.datetime.now(datetime.timezone.utc).date().isoformat(), version,
                       _cpu_name(), cores, gemm, triad, fit_link(link_points, gamma, cores), gamma,
                       codec, calls, codec_calls, measurements + link_points, active_power_W)


def catalog_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if a catalog file can be written there (a .yaml/.yml name in an existing folder)."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        raise SpecError(f"--out: a catalog file ends in .yaml or .yml, got {str(path)!r}")
    if not path.parent.is_dir():
        raise SpecError(f"--out: folder {str(path.parent)!r} does not exist")
    return path


def write_catalog(calibration: Calibration, path: str | os.PathLike[str]) -> Path:
    """Write the calibration's catalog file (YAML) to ``path``, after checking that it loads."""
    path = catalog_path(path)
    text = f"# ddlsim calibrate: {calibration.source}\n" + yaml.safe_dump(calibration.catalog(), sort_keys=False, width=100)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        Catalog.load([tmp], use_env=False, builtin=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
