"""Single-process microbenchmarks of this host: GEMM per dtype, a STREAM-like triad, codecs,
and the dispatch of tiny operators.

Every function times one kernel after warm-up and returns :class:`~.records.Measurement`
records whose configuration says what was done (``flops`` or ``bytes`` for the fits). They
run in the calling process with its torch thread setting (``ddlsim calibrate`` uses one
thread: a device is what one single-threaded worker process gets).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .records import Measurement, measurement

__all__ = ["DTYPES", "gemm", "triad", "codec", "dispatch", "time_call"]

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp64": "float64"}


def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def gemm(dtype: str, n: int, repeats: int = 5, warmup: int = 1) -> Measurement:
    """C = A B of two n x n matrices of ``dtype`` (fp32, bf16, fp64): 2 n^3 FLOPs."""
    import torch  # noqa: PLC0415

    kind = getattr(torch, DTYPES[dtype])
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=gen).to(kind) for _ in range(2))
    c = torch.empty(n, n, dtype=kind)
    times = time_call(lambda: torch.mm(a, b, out=c), repeats, warmup)
    return measurement("gemm", {"dtype": dtype, "n": n, "flops": 2.0 * n**3}, times)


def triad(elements: int, repeats: int = 5, warmup: int = 1) -> Measurement:
    """STREAM triad a = b + s c on float32 arrays of ``elements``: 12 bytes per element moved
    (read b and c, write a; STREAM's count, without the write-allocate read)."""
    import torch  # noqa: PLC0415

    b, c = torch.rand(elements), torch.rand(elements)
    a = torch.empty(elements)
    times = time_call(lambda: torch.add(b, c, alpha=3.0, out=a), repeats, warmup)
    return measurement("triad", {"elements": elements, "bytes": 12.0 * elements}, times)


def dispatch(calls: int, repeats: int = 5, warmup: int = 1) -> Measurement:
    """``calls`` torch additions of two 1-element float32 tensors in a Python loop: each costs
    what eager PyTorch spends around any kernel (the Python binding, dispatch, output
    allocation), its arithmetic nothing; configuration ``calls`` for the fit."""
    import torch  # noqa: PLC0415

    a, b = torch.ones(1), torch.ones(1)

    def run() -> None:
        for _ in range(calls):
            torch.add(a, b)

    return measurement("dispatch", {"calls": calls}, time_call(run, repeats, warmup))


def codec(scheme: str, params: dict[str, Any] | None = None, shape: Sequence[int] = (1024, 1024), repeats: int = 5,
          warmup: int = 1) -> tuple[Measurement, Measurement]:
    """Encode and decode of one Gaussian tensor of ``shape`` by a registered tensor scheme
    (state steps on each call, as in training); configuration ``elements`` for per-element rates."""
    import math  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from simulator.compression import State, create  # noqa: PLC0415

    comp = create(scheme, **(params or {}))
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    state = State(seed=0, worker=0)
    enc, dec = [], []
    for rep in range(warmup + repeats):
        state.step = rep
        t0 = time.perf_counter()
        payload = comp.compress(g, state)
        t1 = time.perf_counter()
        comp.decompress(payload, state)
        t2 = time.perf_counter()
        if rep >= warmup:
            enc.append(t1 - t0)
            dec.append(t2 - t1)
    config = {"scheme": scheme, "params": dict(params or {}), "shape": tuple(shape), "elements": math.prod(shape)}
    return measurement("codec", {**config, "phase": "encode"}, enc), measurement("codec", {**config, "phase": "decode"}, dec)
