"""``ddlsim collective``: time one collective, as a DES on a topology or by its closed form."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, Any, Optional

import numpy as np   # loaded by hwmodels already
import typer

from hwmodels import LinkSpec, SpecError, units

from .application import app
from .errors import user_errors
from .options import catalog, echo_json, figure_path, link_option, output_path
from .progress import StepProgress

if TYPE_CHECKING:
    from simulator.collectives import NetParams

__all__ = ["collective", "collective_result"]

_UNIFORM = ("switch", "fully-connected")


def _quantity(value: Any, dimension: str, option: str) -> float:
    """A human string ("10Gbps") or a plain number in SI units; anything else is a SpecError."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise SpecError(f"{option}: expected a number or a {dimension} such as {_EXAMPLE[dimension]!r}, got {value!r}")
    try:
        return units.parse(value, dimension)
    except SpecError as exc:
        raise SpecError(f"{option}: {exc}") from None


_EXAMPLE = {"size": "64MiB", "rate": "10Gbps", "time": "5us"}


def collective_result(op: str, algorithm: str, workers: int, size: str | float, topology: str, bandwidth: str | float,
                      latency: str | float, *, mode: str = "des", chunks: int | None = None, shards: int | None = None,
                      root: int | None = None, device: Any = None, paths: str = "worst", trace: str | None = None,
                      progress: bool = False, gantt: str | None = None,
                      slowdown: Any = None, energy_per_bit_J: float = 0.0, check_only: bool = False) -> dict[str, Any]:
    """What ``ddlsim collective`` computes, as the dict it prints with ``--json``; ``check_only``:
    validate everything (names, counts, sizes against memory) and return before any work.

    ``energy_breakdown_j`` and ``energy_j`` follow the executor's rule: the ranks' devices (with
    ``device``) idle over the collective and add their dynamic power while reducing; the links
    charge ``energy_per_bit_J`` per bit per link crossed (a catalog link's figure).

    ``slowdown``: ``{rank: factor}`` or ``["RANK=FACTOR", ...]``; that rank's reductions take
    ``factor`` (>= 1) times as long (a straggler).
    """
    from simulator.collectives import (analytic_time, build_program, get, net_params, ranks_needed,  # noqa: PLC0415
                                       reduction_gamma, simulate, totals)
    from simulator.network import TOPOLOGIES, build_topology  # noqa: PLC0415  (scipy only when it runs)

    if mode not in ("des", "analytic"):
        raise SpecError(f"--mode must be 'des' or 'analytic', got {mode!r}")
    if topology not in TOPOLOGIES:
        raise SpecError(f"--topology: unknown topology {topology!r}; known: {', '.join(sorted(TOPOLOGIES))}")
    size_B = _quantity(size, "size", "--size")
    if not size_B >= 0:
        raise SpecError(f"--size must be non-negative, got {size!r}")
    bw = _quantity(bandwidth, "rate", "--bandwidth")
    lat = _quantity(latency, "time", "--latency")
    link = LinkSpec(name="cli-link", bandwidth_Bps=bw, latency_s=lat, energy_per_bit_J=energy_per_bit_J)
    params = {k: v for k, v in (("chunks", chunks), ("shards", shards), ("root", root)) if v is not None}
    alg = get(op, algorithm)
    given = sorted(k for k in params if k not in alg.params)
    if given:
        flags = ", ".join(alg.params) or "none"
        raise SpecError(f"--{given[0]} does not apply to {op}/{algorithm} (its options: {flags})")
    hosts = ranks_needed(op, algorithm, workers, **params)
    _check_size(mode, topology, alg, hosts)
    gamma = reduction_gamma(device) if device is not None else 0.0
    slow = _slowdowns(slowdown, hosts)
    if slow and device is None:
        raise SpecError("--slowdown multiplies a rank's reduction time, and reductions are free without --device: "
                        "give --device")
    # one gamma for all ranks unless some are slowed (no per-rank array for a million ranks)
    gammas: Any = gamma
    if slow:
        gammas = np.full(hosts, gamma)
        for rank, factor in slow.items():
            gammas[rank] *= factor
    gamma_max = float(np.max(gammas)) if hosts else gamma
    figure_path(gantt, "--gantt")
    output_path(trace, "--trace")
    for flag, value in (("--trace", trace), ("--gantt", gantt)):
        if value is not None and mode != "des":
            raise SpecError(f"{flag} needs --mode des (the analytic mode has no events to trace)")

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
    program = build_program(op, algorithm, workers, size_B, **params)
    net = net_params(program, topo, how=paths, gamma_s_per_B=gamma_max)
    analytic = analytic_time(op, algorithm, workers, size_B, net, **params)
    t0 = time.perf_counter()
    result = simulate(program, topo, gamma_s_per_B=gammas if slow else gamma,
                      trace=trace is not None or gantt is not None,
                      on_progress=_progress_bar(program.num_steps) if progress else None)
    out["wall_s"] = time.perf_counter() - t0
    out.update(time_s=result.time_s, analytic_time_s=analytic, steps=program.num_steps, messages=result.messages,
               bytes_sent_total=result.bytes_sent_total)
    _with_bandwidth(out, op, workers)
    _with_energy(out, device, hosts, result.time_s, result.reduce_busy_s, result.link_energy_J)
    if trace is not None:
        result.timeline.to_chrome_trace(trace)
        out["trace"] = trace
    if gantt is not None:
        from ..plots import save_timeline  # noqa: PLC0415  (matplotlib only when drawing)

        save_timeline(result.timeline, gantt, title=f"{op}/{algorithm}: {workers} workers on {topology}")
        out["gantt"] = gantt
    return out


def _check_size(mode: str, topology: str, alg: Any, hosts: int) -> None:
    """SpecError before any work when the run cannot fit in memory: the DES (and the analytic mode
    on a built topology, or of an algorithm without closed-form counts) holds per-rank arrays; the
    closed form on a uniform topology holds none and answers any worker count."""
    from ..limits import COLLECTIVE_B_PER_RANK_STEP, HOST_B, check_fits  # noqa: PLC0415

    program = alg.totals is None or mode == "des"
    built = mode == "des" or topology not in _UNIFORM
    if not (program or built):
        return
    per_rank = COLLECTIVE_B_PER_RANK_STEP * max(1.0, math.log2(max(hosts, 2))) * program + HOST_B * built
    check_fits(f"--workers {hosts}" if mode == "des" else f"--workers {hosts} on {topology}",
               per_rank * hosts, "use fewer workers" + (" or --mode analytic" if mode == "des" else
                                                        " or an algorithm with closed-form counts (ring, direct)"
                                                        if alg.totals is None else "")
               + ("" if topology in _UNIFORM else " or a switch topology"))


def _slowdowns(value: Any, hosts: int) -> dict[int, float]:
    """``--slowdown RANK=FACTOR`` (repeatable), or a spec's ``{rank: factor}``, as a dict."""
    if not value:
        return {}
    items = value.items() if isinstance(value, dict) else [_split_slowdown(v) for v in value]
    out: dict[int, float] = {}
    for rank, factor in items:
        try:
            r = int(rank)
        except (TypeError, ValueError):
            r = -1
        if isinstance(rank, bool) or str(rank).strip() != str(r) or not 0 <= r < hosts:
            raise SpecError(f"--slowdown: RANK must be a rank from 0 to {hosts - 1}, got {rank!r}")
        try:
            f = float(factor)
        except (TypeError, ValueError):
            f = math.nan
        if isinstance(factor, bool) or not math.isfinite(f) or f < 1:
            raise SpecError(f"--slowdown {r}=...: FACTOR must be a number >= 1 (how many times slower), got {factor!r}")
        out[r] = f
    return out


def _split_slowdown(text: Any) -> tuple[str, str]:
    rank, sep, factor = str(text).partition("=")
    if not sep:
        raise SpecError(f"--slowdown must look like RANK=FACTOR (e.g. 3=10), got {text!r}")
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


def _progress_bar(total: int) -> Any:
    """Per DES step (``reached`` is 0-based); only for runs long enough to watch."""
    if total < 200:
        return None
    bar = StepProgress("simulating", "steps", throttle=1 / 200)

    def on_step(reached: int, total: int) -> None:
        bar(min(reached + 1, total), total)
        if reached + 1 >= total:
            bar.stop()

    return on_step


def _print_human(out: dict[str, Any]) -> None:
    fmt = units.fmt
    lines = [f"{out['op']}/{out['algorithm']}: {out['workers']} workers, {fmt(out['size_B'], 'size')} on "
             f"{out['topology']} ({fmt(out['bandwidth_Bps'], 'rate')}, {fmt(out['latency_s'], 'time')} per link)"]
    lines.append(f"  time ({out['mode']}): {fmt(out['time_s'], 'time')}")
    if "analytic_time_s" in out:
        lines.append(f"  analytic:    {fmt(out['analytic_time_s'], 'time')}")
    lines.append(f"  {out['steps']} steps, {out['messages']} messages, {fmt(out['bytes_sent_total'], 'size')} sent")
    if "trace" in out:
        lines.append(f"  trace written to {out['trace']}")
    if "gantt" in out:
        lines.append(f"  Gantt chart written to {out['gantt']}")
    typer.echo("\n".join(lines))


@app.command("collective")
@user_errors
def collective(
    op: str = typer.Option(..., "--op", help="Collective, e.g. allreduce (a wrong name lists the known ones)."),
    algorithm: str = typer.Option(..., "--algorithm", help="Algorithm, e.g. ring (a wrong name lists the known ones)."),
    workers: int = typer.Option(..., "--workers", help="Number of workers p."),
    size: str = typer.Option(..., "--size", help="Size with unit, e.g. 1GiB (the full vector for all-reduce)."),
    topology: str = typer.Option("switch", "--topology", help="ring, switch, fully-connected, torus2d or leaf-spine."),
    link: Optional[str] = typer.Option(None, "--link", help="A catalog link (`ddlsim hw list --kind link`), instead of --bandwidth/--latency."),
    bandwidth: Optional[str] = typer.Option(None, "--bandwidth", help="Link bandwidth per direction, e.g. 10Gbps or 50GiB/s."),
    latency: Optional[str] = typer.Option(None, "--latency", help="Link latency, e.g. 5us (default 0s)."),
    mode: str = typer.Option("des", "--mode", help="des (event simulation on the topology) or analytic (closed form)."),
    chunks: Optional[int] = typer.Option(None, "--chunks", help="Pipeline chunks (double-binary-tree)."),
    shards: Optional[int] = typer.Option(None, "--shards", help="Server shards (parameter-server; adds S server hosts)."),
    root: Optional[int] = typer.Option(None, "--root", help="Root rank of broadcast, reduce, gather (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="Catalog device whose roofline prices reductions (default: free)."),
    paths: str = typer.Option("worst", "--paths", help="Analytic inputs on non-uniform topologies: worst or best message path."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    trace: Optional[str] = typer.Option(None, "--trace", help="Write a Chrome trace (Perfetto) of the DES to this file."),
    gantt: Optional[str] = typer.Option(None, "--gantt", help="Draw a Gantt chart of the DES into this .png/.svg/.pdf."),
    slowdown: Optional[list[str]] = typer.Option(
        None, "--slowdown", help="RANK=FACTOR: that rank reduces FACTOR (>= 1) times slower (a straggler; needs "
        "--device). Repeatable."),
) -> None:
    """Time one collective: DES on the topology (max-min fair flows) or its closed form."""
    spec = link_option(link, bandwidth, latency, required=True)
    dev = catalog().get(device, "device") if device is not None else None
    out = collective_result(op, algorithm, workers, size, topology, spec.bandwidth_Bps, spec.latency_s, mode=mode,
                            chunks=chunks, shards=shards, root=root, device=dev, paths=paths, trace=trace,
                            progress=not as_json and sys.stderr.isatty(), gantt=gantt, slowdown=slowdown,
                            energy_per_bit_J=spec.energy_per_bit_J)
    if link is not None:
        out["link"] = spec.name
    if as_json:
        echo_json(out)
    else:
        _print_human(out)
