"""One collective as a row of metrics: what ``ddlsim collective`` prints and the ``collective``
sweep workload records.

:func:`collective_row` checks every input (names, counts, sizes against memory) before any
work, then runs :func:`simulator.collectives.run` on the built topology (``mode="des"``) or the
closed form (``mode="analytic"``; on a switch or a fully connected network without building
anything, so it answers any worker count), and adds nccl-tests' bandwidths and the energy.
Messages name the fields; ``label`` spells them as the caller's user knows them (the CLI's flags).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from hwmodels import Device, LinkSpec, SpecError, units
from hwmodels.checks import is_number

if TYPE_CHECKING:
    from simulator.collectives import NetParams
    from simulator.timeline import Timeline

__all__ = ["collective_row"]

_UNIFORM = ("switch", "fully-connected")
_EXAMPLE = {"size": "64MiB", "rate": "10Gbps", "time": "5us"}


def _quantity(value: Any, dimension: str, field: str) -> float:
    """A human string ("10Gbps") or a plain number in SI units; anything else is a SpecError."""
    if is_number(value, finite=False):
        return float(value)
    if not isinstance(value, str):
        raise SpecError(f"{field}: expected a number or a {dimension} such as {_EXAMPLE[dimension]!r}, got {value!r}")
    try:
        return units.parse(value, dimension)
    except SpecError as exc:
        raise SpecError(f"{field}: {exc}") from None


def collective_row(op: str, algorithm: str, workers: int, size: str | float, topology: str, bandwidth: str | float,
                   latency: str | float, *, mode: str = "des", chunks: int | None = None, shards: int | None = None,
                   root: int | None = None, device: Device | None = None, paths: str = "worst",
                   slowdown: Any = None, energy_per_bit_J: float = 0.0,
                   on_timeline: Callable[[Timeline], Any] | None = None,
                   on_progress: Callable[[int, int], Any] | None = None, check_only: bool = False,
                   label: Callable[[str], str] = str) -> dict[str, Any]:
    """One collective's row (times in seconds, sizes in bytes, rates in bytes per second, energy
    in joules); ``on_timeline``: the DES records its spans and passes the timeline to it (the
    analytic mode has no events and never calls it); ``check_only``: validate everything
    and return the row's inputs before any work. ``size``, ``bandwidth`` and ``latency`` are
    numbers in SI units or strings with units ("64MiB", "10Gbps", "5us").

    ``energy_breakdown_j`` and ``energy_j`` follow the executor's rule: the ranks' devices (with
    ``device``) idle over the collective and add their dynamic power while reducing; the links
    charge ``energy_per_bit_J`` per bit per link crossed (a catalog link's figure).

    ``slowdown``: ``{rank: factor}`` or ``["RANK=FACTOR", ...]``; that rank's reductions take
    ``factor`` (>= 1) times as long (a straggler). ``on_progress(reached, total)``: per DES step.
    ``label(field)`` names a field in messages (the CLI passes its flags).
    """
    from simulator.collectives import analytic_time, get, ranks_needed, reduction_gamma, run, totals  # noqa: PLC0415
    from simulator.network import TOPOLOGIES, build_topology  # noqa: PLC0415  (scipy only when it runs)

    if mode not in ("des", "analytic"):
        raise SpecError(f"{label('mode')} must be 'des' or 'analytic', got {mode!r}")
    TOPOLOGIES.get(topology, where=label("topology"))
    size_B = _quantity(size, "size", label("size"))
    if not size_B >= 0:
        raise SpecError(f"{label('size')} must be non-negative, got {size!r}")
    bw = _quantity(bandwidth, "rate", label("bandwidth"))
    lat = _quantity(latency, "time", label("latency"))
    link = LinkSpec(name="cli-link", bandwidth_Bps=bw, latency_s=lat, energy_per_bit_J=energy_per_bit_J)
    params = {k: v for k, v in (("chunks", chunks), ("shards", shards), ("root", root)) if v is not None}
    alg = get(op, algorithm)
    given = sorted(k for k in params if k not in alg.params)
    if given:
        options = ", ".join(alg.params) or "none"
        raise SpecError(f"{label(given[0])} does not apply to {op}/{algorithm} (its options: {options})")
    hosts = ranks_needed(op, algorithm, workers, **params)
    _check_size(mode, topology, alg, hosts, label)
    gamma = reduction_gamma(device) if device is not None else 0.0
    slow = _slowdowns(slowdown, hosts, label)
    if slow and device is None:
        raise SpecError(f"{label('slowdown')} multiplies a rank's reduction time, and reductions are free without "
                        f"{label('device')}: give {label('device')}")
    # one gamma for all ranks unless some are slowed (no per-rank array for a million ranks)
    gammas: Any = gamma
    if slow:
        gammas = np.full(hosts, gamma)
        for rank, factor in slow.items():
            gammas[rank] *= factor
    gamma_max = float(np.max(gammas)) if hosts else gamma

    out: dict[str, Any] = {"op": op, "algorithm": algorithm, "workers": workers, "hosts": hosts, "size_B": size_B,
                           "topology": topology, "bandwidth_Bps": bw, "latency_s": lat, "mode": mode, "time_s": None}
    if mode == "des":
        out["analytic_time_s"] = None
    out.update(alg.resolve(workers, params))
    if device is not None:
        out["device"] = device.name
        out["gamma_s_per_B"] = gamma
    if slow:
        out["slowdown"] = {str(rank): factor for rank, factor in sorted(slow.items())}
    if check_only:
        return out

    if mode == "analytic":
        steps, messages, sent = totals(op, algorithm, workers, size_B, **params)
        net = _analytic_net(op, algorithm, workers, size_B, topology, hosts, link, params, paths, gamma_max)
        t0 = time.perf_counter()
        out["time_s"] = analytic_time(op, algorithm, workers, size_B, net, **params)
        out["wall_s"] = time.perf_counter() - t0
        out.update(steps=steps, messages=messages, bytes_sent_total=sent, alpha_s=net.alpha_s,
                   beta_s_per_B=net.beta_s_per_B)
        # every reducing collective sums (P - 1) n bytes in all, whatever the algorithm: an equal share per rank
        reduced = (workers - 1) * size_B if op in ("allreduce", "reducescatter", "reduce") else 0.0
        link_j = _analytic_link_energy(op, algorithm, workers, size_B, topology, hosts, link, params, sent)
        _with_bandwidth(out, op, workers)
        busy = reduced / hosts * gammas if slow else reduced * gamma   # summed over the ranks
        return _with_energy(out, device, hosts, out["time_s"], busy, link_j)

    topo = build_topology(topology, hosts, link)
    t0 = time.perf_counter()
    result = run(op, algorithm, workers, size_B, topo, mode="des", gamma_s_per_B=gammas if slow else gamma, how=paths,
                 trace=on_timeline is not None, on_progress=on_progress, **params)
    out["wall_s"] = time.perf_counter() - t0
    out.update(time_s=result.time_s, analytic_time_s=result.analytic_time_s, steps=result.steps,
               messages=result.messages, bytes_sent_total=result.bytes_sent_total)
    _with_bandwidth(out, op, workers)
    _with_energy(out, device, hosts, result.time_s, result.reduce_busy_s, result.link_energy_J)
    if on_timeline is not None:
        on_timeline(result.timeline)
    return out


def _check_size(mode: str, topology: str, alg: Any, hosts: int, label: Callable[[str], str]) -> None:
    """SpecError before any work when the run cannot fit in memory: the DES (and the analytic mode
    on a built topology, or of an algorithm without closed-form counts) holds per-rank arrays; the
    closed form on a uniform topology holds none and answers any worker count."""
    from .limits import COLLECTIVE_B_PER_RANK_STEP, HOST_B, check_fits  # noqa: PLC0415

    program = alg.totals is None or mode == "des"
    built = mode == "des" or topology not in _UNIFORM
    if not (program or built):
        return
    per_rank = COLLECTIVE_B_PER_RANK_STEP * max(1.0, math.log2(max(hosts, 2))) * program + HOST_B * built
    check_fits(f"{label('workers')} {hosts}" if mode == "des" else f"{label('workers')} {hosts} on {topology}",
               per_rank * hosts, "use fewer workers" + (f" or {label('mode')} analytic" if mode == "des" else
                                                        " or an algorithm with closed-form counts (ring, direct)"
                                                        if alg.totals is None else "")
               + ("" if topology in _UNIFORM else " or a switch topology"))


def _slowdowns(value: Any, hosts: int, label: Callable[[str], str]) -> dict[int, float]:
    """``["RANK=FACTOR", ...]`` (the CLI's repeated option) or a spec's ``{rank: factor}``, as a dict."""
    if not value:
        return {}
    items = value.items() if isinstance(value, dict) else [_split_slowdown(v, label) for v in value]
    out: dict[int, float] = {}
    for rank, factor in items:
        try:
            r = int(rank)
        except (TypeError, ValueError):
            r = -1
        if isinstance(rank, bool) or str(rank).strip() != str(r) or not 0 <= r < hosts:
            raise SpecError(f"{label('slowdown')}: RANK must be a rank from 0 to {hosts - 1}, got {rank!r}")
        try:
            f = float(factor)
        except (TypeError, ValueError):
            f = math.nan
        if isinstance(factor, bool) or not math.isfinite(f) or f < 1:
            raise SpecError(f"{label('slowdown')} {r}=...: FACTOR must be a number >= 1 (how many times slower), got {factor!r}")
        out[r] = f
    return out


def _split_slowdown(text: Any, label: Callable[[str], str]) -> tuple[str, str]:
    rank, sep, factor = str(text).partition("=")
    if not sep:
        raise SpecError(f"{label('slowdown')} must look like RANK=FACTOR (e.g. 3=10), got {text!r}")
    return rank.strip(), factor.strip()


def _with_bandwidth(out: dict[str, Any], op: str, workers: int) -> None:
    """Add nccl-tests' ``algbw_Bps`` and ``busbw_Bps`` of the simulated time (the workers are its ranks)."""
    from simulator.collectives.busbw import bus_bandwidth  # noqa: PLC0415

    out["algbw_Bps"], out["busbw_Bps"] = bus_bandwidth(op, workers, out["size_B"], out["time_s"])


def _with_energy(out: dict[str, Any], device: Any, hosts: int, time_s: float, busy_s: Any,
                 link_j: float) -> dict[str, Any]:
    """Add ``energy_j`` and ``energy_breakdown_j`` (the executor's rule) to ``out``."""
    from simulator.energy import device_energy_j  # noqa: PLC0415

    parts = {"compute": 0.0, "idle": 0.0, "link": float(link_j), "radio": 0.0}
    if device is not None:
        parts.update(device_energy_j(device, float(np.sum(busy_s)), time_s, count=hosts))
    out.update(energy_j=sum(parts.values()), energy_breakdown_j=parts)
    return out


def _analytic_link_energy(op: str, algorithm: str, workers: int, size_B: float, topology: str, hosts: int,
                          link: LinkSpec, params: dict[str, Any], sent_B: float) -> float:
    """Joules of the bits on the links: a message crosses 2 links through a switch, 1 between fully
    connected hosts; elsewhere each message's own path on the built topology."""
    if not link.energy_per_bit_J:
        return 0.0
    if topology in _UNIFORM:
        return 8.0 * sent_B * link.energy_per_bit_J * (2 if topology == "switch" else 1)
    from simulator.collectives import build_program  # noqa: PLC0415
    from simulator.network import build_topology  # noqa: PLC0415

    topo = build_topology(topology, hosts, link)
    program = build_program(op, algorithm, workers, size_B, **params)
    uses = np.bincount(program.order, minlength=len(program.patterns))
    joules = 0.0
    for i in np.flatnonzero(uses).tolist():
        pat = program.patterns[i]
        ptr, links = topo.paths(np.asarray(pat.src), np.asarray(pat.dst))
        per_msg = np.add.reduceat(topo.energy_per_bit_J[links], ptr[:-1]) if len(links) else np.zeros(len(pat))
        joules += uses[i] * float(np.dot(np.asarray(pat.nbytes, dtype=float) * 8.0, per_msg))
    return joules


def _analytic_net(op: str, algorithm: str, workers: int, size_B: float, topology: str, hosts: int, link: LinkSpec,
                  params: dict[str, Any], paths: str, gamma: float) -> NetParams:
    """Closed-form inputs without building big things: uniform builders need nothing, the
    ring needs the message pairs (arithmetic), others the built topology."""
    from simulator.collectives import NetParams, build_program, get, net_params  # noqa: PLC0415
    from simulator.network import build_topology  # noqa: PLC0415

    if topology in _UNIFORM:
        return NetParams.for_builder(topology, hosts, link, how=paths, gamma_s_per_B=gamma)  # type: ignore[return-value]
    alg = get(op, algorithm)
    if topology == "ring" and alg.totals is not None:   # direct: all pairs
        return NetParams.for_builder("ring", hosts, link, how=paths, gamma_s_per_B=gamma)  # type: ignore[return-value]
    program = build_program(op, algorithm, workers, size_B, **params)
    if topology == "ring":
        src = np.concatenate([p.src for p in program.patterns]) if len(program.patterns) else np.empty(0)
        dst = np.concatenate([p.dst for p in program.patterns]) if len(program.patterns) else np.empty(0)
        return NetParams.for_builder("ring", hosts, link, src, dst, how=paths, gamma_s_per_B=gamma)  # type: ignore[return-value]
    return net_params(program, build_topology(topology, hosts, link), how=paths, gamma_s_per_B=gamma)
