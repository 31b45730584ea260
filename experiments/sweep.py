"""Sweep runner: expand a spec into points, run them (in process or on Dask), store every one.

A :class:`Point` is a pure, picklable value; :func:`run_point` turns it into a record
(status ``ok``, ``diverged`` when a metric is NaN or inf, ``infeasible`` when a worker's memory does
not hold it, or ``error``, with the message; metrics rows, wall time) and never raises for a
workload's failure. :func:`run_sweep` skips points already stored, runs the rest sequentially
(``workers=0``) or on Dask (a LocalCluster with ``workers`` processes, or the scheduler at
``scheduler`` / ``$DASK_SCHEDULER_ADDRESS``), writes each record as it arrives, then the table and
the spec's plots. Seeds come from the spec (root seed and repeat; with ``seeding: independent`` also the
config without its hardware fields), never from a worker or a clock, so by default every point of
repeat r trains the same initial model on the same batches (common random numbers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from hwmodels import SpecError
from hwmodels.checks import is_int

from . import package_version
from .finite import first_nonfinite
from .metrics import flatten_breakdown
from .results import ResultStore
from .spec import ExperimentSpec, set_path
from .workloads import get_workload

__all__ = ["Point", "SweepResult", "expand", "run_point", "run_sweep", "open_client", "config_hash", "canonical",
           "default_workers", "check_workers", "SCHEDULER_ENV"]

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_S = 10


def canonical(value: Any) -> str:
    """The normalised text of a config: sorted keys, no spaces, floats by repr; the hash's input."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def config_hash(workload: str, config: dict[str, Any], repeat: int, seed: int, version: str) -> str:
    """A stable 16-hex-digit key of one point (same in every process and on every machine)."""
    text = canonical({"workload": workload, "config": config, "repeat": repeat, "seed": seed, "version": version})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _derive_seed(root: int, workload: str, repeat: int, config: dict[str, Any] | None = None) -> int:
    """A 31-bit seed from the spec's root seed, the repeat and (independent seeding) the point's config."""
    text = canonical({"root": root, "workload": workload, "config": config, "repeat": repeat})
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the workload's full config, its repeat and seed, and its hash."""

    sweep: str
    index: int
    workload: str
    module: str
    config: dict[str, Any]
    repeat: int
    seed: int
    hash: str
    timeout_s: float | None = None


def expand(spec: ExperimentSpec, *, version: str | None = None) -> list[Point]:
    """Every point of ``spec``, each validated; SpecError names the bad point's overrides."""
    workload = get_workload(spec.workload)
    version = package_version() if version is None else version
    points = []
    for index, overrides in enumerate(spec.overrides()):
        config = dict(spec.base)
        for path, value in overrides.items():
            config = set_path(config, path, value)
        workload.check(config, f"sweep point {index} {canonical(overrides)}")
        # independent seeding still leaves the hardware out: the same numerics on every device
        numerics = {k: v for k, v in config.items() if k not in workload.hardware} \
            if spec.seeding == "independent" else None
        for repeat in spec.replicas():
            seed = repeat if spec.seeds is not None else _derive_seed(spec.seed, spec.workload, repeat, numerics)
            points.append(Point(spec.name, index, spec.workload, workload.module, config, repeat, seed,
                                config_hash(spec.workload, config, repeat, seed, version), spec.timeout_s))
    if not points:
        raise SpecError(f"{spec.name}: the sweep has no points")
    return points


@contextlib.contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    """Raise TimeoutError after ``seconds``, and every 0.25 s after until it gets out (main thread
    only; Dask points are timed by the client)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _fire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"point timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)   # fire again if a library swallows the first
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _record(point: Point, status: str, rows: list[dict[str, Any]], error: str | None, wall_s: float) -> dict[str, Any]:
    return {"sweep": point.sweep, "workload": point.workload, "point": point.index, "hash": point.hash,
            "repeat": point.repeat, "seed": point.seed, "config": point.config, "status": status, "error": error,
            "wall_s": wall_s, "rows": rows}


def run_point(point: Point) -> dict[str, Any]:
    """Run one point; a failure becomes ``status="error"`` with its message. Torch uses one thread,
    so the numbers do not depend on how many threads the process running the point has."""
    import torch  # noqa: PLC0415

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        with _alarm(point.timeout_s):
            out = get_workload(point.workload, point.module).run(dict(point.config), point.seed)
        rows = [flatten_breakdown(r) for r in (out if isinstance(out, list) else [out])]
        bad = first_nonfinite(rows)
        if bad is not None:   # numbers that are not numbers: say where, never report them as ok
            row, key = bad
            where = f"step {rows[row]['step']}" if "step" in rows[row] else f"row {row}"
            return _record(point, "diverged", rows, f"{key} is not finite from {where}", time.perf_counter() - t0)
        stopped = next((r for r in rows if r.get("run_status", "ok") != "ok"), None)
        if stopped is not None:   # the run's own verdict (a federated run that stopped on non-finite updates)
            return _record(point, stopped["run_status"], rows,
                           stopped.get("run_note") or f"the run reported {stopped['run_status']}", time.perf_counter() - t0)
        return _record(point, "ok", rows, None, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001  (a point's failure is data, not a crash)
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SpecError) else str(exc)
        logging.getLogger(__name__).debug("point %s failed:\n%s", point.hash, traceback.format_exc())
        from simulator.memory import DoesNotFit  # noqa: PLC0415  (torch is loaded by now)

        status = "infeasible" if isinstance(exc, DoesNotFit) else "error"
        return _record(point, status, [], message, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)


def check_workers(workers: int | None) -> None:
    """SpecError for a worker count no cluster can have (a negative one would wait forever for workers)."""
    if workers is not None and (not is_int(workers) or workers < 0):
        raise SpecError(f"--workers must be 0 (run in this process) or a number of worker processes, got {workers!r}")


def default_workers() -> int:
    """Local worker processes by default: the machine's cores."""
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: the remote ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), else a LocalCluster
    of ``workers`` single-threaded processes; ``None`` (run in process) when ``workers == 0`` and no
    scheduler is given. An unreachable scheduler is a SpecError within ``CONNECT_TIMEOUT_S``."""
    check_workers(workers)
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None and workers == 0:
        yield None
        return
    from dask.distributed import Client, LocalCluster  # noqa: PLC0415

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SpecError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    # no dashboard; the scheduler's HTTP server on a free port (not 8787, which another cluster may hold)
    cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                           dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                           silence_logs=logging.ERROR)
    with _quiet_close(cluster), Client(cluster) as client:
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.run(_silence_dask)


def _silence_dask() -> None:
    """Only critical Dask logs from here on (a closing cluster's workers may log a heartbeat that
    met a closed scheduler as an error, with tracebacks, after every point has finished)."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _quiet_close(cluster: Any) -> Iterator[Any]:
    """Close ``cluster`` at the end with its (in-process) scheduler's logs silenced, then restore them."""
    try:
        yield cluster
    finally:
        logger = logging.getLogger("distributed")
        level = logger.level
        _silence_dask()
        try:
            cluster.close()
        finally:
            logger.setLevel(level)


@dataclass
class SweepResult:
    """What a sweep left: its directory, its table, how many points ran, were skipped or failed."""

    root: Path
    table: pd.DataFrame
    total: int
    ran: int
    skipped: int
    errors: int
    files: list[Path] = field(default_factory=list)


Progress = Callable[[int, int, dict[str, Any]], None]


def _run_sequential(todo: list[Point], store: ResultStore, on_point: Progress | None, offset: int, total: int) -> None:
    for i, point in enumerate(todo):
        record = run_point(point)
        store.write(record)
        if on_point is not None:
            on_point(offset + i + 1, total, record)


def _warm(modules: list[str]) -> None:
    import importlib  # noqa: PLC0415

    for module in modules:
        importlib.import_module(module)


def _abandon(client: Any, future: Any) -> None:
    """Cancel a timed-out point and restart the worker running it (when its nanny allows), so the
    slot is free again; a worker that cannot be restarted finishes the point and discards it."""
    busy = [addr for addr, keys in client.processing().items() if future.key in keys]
    future.cancel()
    if busy:
        with contextlib.suppress(Exception):
            client.restart_workers(busy, timeout=30)


def _run_dask(client: Any, todo: list[Point], store: ResultStore, on_point: Progress | None, offset: int,
              total: int) -> None:
    """Keep one point per worker thread in flight, so a point's timeout counts from its start."""
    from dask.distributed import wait  # noqa: PLC0415

    slots = max(1, sum(client.nthreads().values()))
    modules = sorted({p.module for p in todo} | {__name__})
    with contextlib.suppress(Exception):   # import before timing: a point's clock starts warm
        client.run(_warm, modules)
    queue = list(reversed(todo))
    running: dict[Any, tuple[Point, float]] = {}
    done = offset
    try:
        while queue or running:
            while queue and len(running) < slots:
                point = queue.pop()
                future = client.submit(run_point, point, key=f"ddlsim-point-{point.hash}", pure=False)
                running[future] = (point, time.monotonic())
            deadlines = [t + p.timeout_s for p, t in running.values() if p.timeout_s]
            wait_s = max(0.05, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                finished, _ = wait(list(running), timeout=wait_s, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = set()
            now = time.monotonic()
            for future in list(running):
                point, started = running[future]
                if future in finished:
                    try:
                        record = future.result()
                    except Exception as exc:  # noqa: BLE001  (a lost worker: the point failed)
                        record = _record(point, "error", [], f"{type(exc).__name__}: {exc}", now - started)
                elif point.timeout_s and now - started >= point.timeout_s:
                    _abandon(client, future)
                    record = _record(point, "error", [], f"TimeoutError: point timed out after {point.timeout_s:g} s",
                                     now - started)
                else:
                    continue
                del running[future]
                store.write(record)
                done += 1
                if on_point is not None:
                    on_point(done, total, record)
    finally:
        for future in running:
            future.cancel()


def run_sweep(spec: ExperimentSpec, out: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              fresh: bool = False, csv: bool = False, plots: bool = True, client: Any = None,
              on_point: Progress | None = None) -> SweepResult:
    """Run every point of ``spec`` not yet stored under ``out``; write the table and the plots.

    ``client``: an open Dask client to reuse (else one is opened from ``workers`` and
    ``scheduler`` for this sweep; ``workers=0`` runs in this process).
    """
    check_workers(workers)
    points = expand(spec)                       # validates everything before anything is written
    with ResultStore(out).open(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), fresh=fresh) as store:
        return _run_locked(spec, points, store, workers=workers, scheduler=scheduler, csv=csv, plots=plots,
                           client=client, on_point=on_point)


def _run_locked(spec: ExperimentSpec, points: list[Point], store: ResultStore, *, workers: int | None,
                scheduler: str | None, csv: bool, plots: bool, client: Any, on_point: Progress | None) -> SweepResult:
    """:func:`run_sweep`'s work while it holds the directory's lock."""
    finished = store.done()
    todo = [p for p in points if p.hash not in finished]
    skipped = len(points) - len(todo)
    if on_point is not None:
        on_point(skipped, len(points), {})
    if todo:
        if client is not None:
            _run_dask(client, todo, store, on_point, skipped, len(points))
        else:
            with open_client(workers, scheduler) as opened:
                if opened is None:
                    _run_sequential(todo, store, on_point, skipped, len(points))
                else:
                    _run_dask(opened, todo, store, on_point, skipped, len(points))
    table = store.table(dict.fromkeys(p.hash for p in points))
    files = store.consolidate(table, csv=csv)
    if plots and spec.plots:
        from .plots import render_recipes  # noqa: PLC0415

        files += render_recipes(spec.plots, table, store.root / "plots")
    errors = int((table.drop_duplicates("hash")["status"] == "error").sum()) if len(table) else 0
    return SweepResult(store.root, table, len(points), len(todo), skipped, errors, files)
