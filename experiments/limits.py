"""Size limits checked before work: a size a user gives must fit in this machine's memory.

A run that cannot fit would otherwise grow until the operating system kills it (minutes later, with
no message). :func:`check_fits` compares an estimate of the bytes a run will hold with the memory
available now and raises a :class:`~hwmodels.SpecError` saying both numbers and what to change.
The per-item figures below are measured upper bounds (tracemalloc peaks), not exact counts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from hwmodels import SpecError

__all__ = ["available_bytes", "check_fits", "check_compress_size", "COLLECTIVE_B_PER_RANK_STEP", "HOST_B", "TENSOR_COPIES"]

# A collective's step program and DES hold a few int64/float64 arrays per rank and step pattern:
# measured at most ~400 B per rank at p = 4096 (halving-doubling); 64 B x p x log2(p) bounds them all.
COLLECTIVE_B_PER_RANK_STEP = 64
# A simulated host (topology node, device record, sampler, data shard): measured 3-12 KB.
HOST_B = 16 * 1024
# compress holds the data, its estimate, the error and a payload: a few float32 copies of the tensor.
TENSOR_COPIES = 6


def available_bytes() -> float:
    """Memory this process may still use, in bytes: physical memory available now (Linux's
    MemAvailable through psutil, else free pages), capped by an address-space limit (ulimit -v)."""
    try:
        import psutil  # noqa: PLC0415  (a dask dependency)

        free = float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil ships with dask.distributed
        free = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    try:
        import resource  # noqa: PLC0415  (POSIX only)

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            free = min(free, float(soft))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass
    return free


def check_fits(what: str, nbytes: float, fix: str) -> None:
    """SpecError unless ``nbytes`` (an estimate of what ``what`` holds) fits in the available memory.

    ``what`` names the field and its value ("workers 1000000000"); ``fix`` says what to change.
    """
    free = available_bytes()
    if not math.isfinite(nbytes) or nbytes > free:
        need = "more than can be counted" if not math.isfinite(nbytes) else f"about {_gib(nbytes)}"
        raise SpecError(f"{what}: needs {need} of memory, more than the {_gib(free)} this machine has available; {fix}")


def check_compress_size(kind: str, *, elements: int = 4096, workers: int | None = None, batch: int = 8, d_in: int = 256,
                        d_out: int = 128, label: Callable[[str], str] = str) -> None:
    """SpecError before any work when the tensors of a compressor measurement cannot fit in memory
    (a few float32 copies of the tensor, one per worker with ``workers``; the factors and their
    product for a ``factors`` scheme). ``label(field)`` names a field in the message (the CLI's flags)."""
    if kind == "factors":
        values = {"batch": batch, "d_in": d_in, "d_out": d_out}
        floats = float(batch) * (d_in + d_out) + TENSOR_COPIES * float(d_in) * d_out
    else:
        values = {"elements": elements} | ({"workers": workers} if workers is not None else {})
        floats = TENSOR_COPIES * float(elements) * max(1, workers or 1)
    check_fits(" ".join(f"{label(k)} {v}" for k, v in values.items()), 4.0 * floats, "use a smaller tensor")


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"
