"""Real multi-process jobs: a gloo process group of ``world`` processes on 127.0.0.1.

``run_world(job, world, arg)`` spawns the processes, joins them into one gloo group over
the loopback interface on a free TCP port, runs ``job(rank, world, arg)`` in each and returns
their results in rank order. ``job`` must be a module-level function (spawned processes
import it by name); results travel pickled. ``timed(fn, repeats, warmup)`` inside a job times
``fn`` after warm-up, each repeat opened by a barrier, and keeps the slowest rank's time.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Callable
from typing import Any

from hwmodels import SpecError
from hwmodels.checks import is_int

__all__ = ["run_world", "free_port", "host_cpus", "timed", "MAX_WORLD"]

MAX_WORLD = 64
_POLL_S = 0.2


def host_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity), in order; all of them where the OS has no
    affinity call (macOS). The ranks of a measured run are pinned to these."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _entry(rank: int, job: Callable[[int, int, Any], Any], world: int, port: int, arg: Any, threads: int,
           results: Any) -> None:
    import torch  # noqa: PLC0415  (spawned processes import torch themselves)
    import torch.distributed as dist  # noqa: PLC0415

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")   # keep gloo on the loopback interface
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    if hasattr(os, "sched_setaffinity"):
        # Only this (the calling) thread: gloo's I/O and worker threads, started above, stay free
        # to run on any core; pinned with the rank they would queue behind it.
        cpus = host_cpus()
        os.sched_setaffinity(0, {cpus[rank % len(cpus)]})
    try:
        out = job(rank, world, arg)
        results.put((rank, pickle.dumps(out)))
    finally:
        dist.destroy_process_group()


def run_world(job: Callable[[int, int, Any], Any], world: int, arg: Any = None, *, threads: int = 1,
              timeout_s: float = 300.0, start_method: str = "spawn") -> list[Any]:
    """``job(rank, world, arg)`` in ``world`` spawned processes joined by a gloo group on
    127.0.0.1 (``threads`` torch threads each); the results in rank order. A job that raises
    re-raises here; one that runs past ``timeout_s`` seconds is terminated (SpecError)."""
    import torch.multiprocessing as mp  # noqa: PLC0415

    if not is_int(world) or not 1 <= world <= MAX_WORLD:
        raise SpecError(f"world must be an integer in [1, {MAX_WORLD}] processes, got {world!r}")
    results = mp.get_context(start_method).SimpleQueue()
    context = mp.start_processes(_entry, args=(job, world, free_port(), arg, threads, results), nprocs=world,
                                 join=False, start_method=start_method)
    deadline = time.monotonic() + timeout_s
    out: dict[int, Any] = {}

    def drain() -> None:   # read while the children run: a large result must not fill the pipe
        while not results.empty():
            rank, blob = results.get()
            out[rank] = pickle.loads(blob)

    while not context.join(_POLL_S):
        drain()
        if time.monotonic() > deadline:
            for proc in context.processes:
                if proc.is_alive():
                    proc.terminate()
            raise SpecError(f"a {world}-process job ran past {timeout_s:g} s and was stopped")
    drain()
    return [out[r] for r in range(world)]


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1, group: Any = None) -> list[float]:
    """Seconds of ``fn()`` over ``repeats`` runs after ``warmup`` untimed ones, each run started
    together on every rank (barrier) and scored by the slowest rank (one all-reduce at the end)."""
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415

    for _ in range(warmup):
        fn()
    times = torch.zeros(repeats, dtype=torch.float64)
    for i in range(repeats):
        dist.barrier(group)
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    dist.all_reduce(times, op=dist.ReduceOp.MAX, group=group)
    return times.tolist()
