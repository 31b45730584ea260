"""Encode and decode seconds per gradient element of a compressor, measured once per scheme.

:func:`codec_seconds` times ``compress`` and ``decompress`` of a 1024 x 1024 Gaussian
matrix (a 1024 x 1024 layer's factors at batch 64 for ISGQ) on this host, after a warm-up, best of
three, and stores the
result in ``codec.json`` in the user cache (:func:`simulator.models.cache_dir`) keyed by
scheme and parameters, so later runs, and reruns with the same seed, reuse the same numbers.
The host's speed stands in for every device's: give the numbers in the spec to model a
device's codec speed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import torch

from simulator.compression import State, create, get
from simulator.models import cache_dir

__all__ = ["codec_seconds"]

_ELEMENTS = 1 << 20
_REPEATS = 3


def _measure(name: str, params: dict[str, Any]) -> tuple[float, float]:
    comp = create(name, **params)
    gen = torch.Generator().manual_seed(0)
    factors = get(name).kind == "factors"
    x, delta = torch.relu(torch.randn(64, 1024, generator=gen)), torch.randn(64, 1024, generator=gen)
    g = torch.randn(1024, _ELEMENTS // 1024, generator=gen)   # a matrix: PowerSGD, 1-bit SGD factor it
    best_enc = best_dec = float("inf")
    for rep in range(_REPEATS + 1):   # the first is a warm-up
        state = State(seed=0, worker=0, step=rep)
        t0 = time.perf_counter()
        payload = comp.compress(x, delta, state) if factors else comp.compress(g, state)
        t1 = time.perf_counter()
        comp.decompress(payload, state)
        t2 = time.perf_counter()
        if rep:
            best_enc, best_dec = min(best_enc, t1 - t0), min(best_dec, t2 - t1)
    return best_enc / _ELEMENTS, best_dec / _ELEMENTS


def codec_seconds(name: str, params: dict[str, Any]) -> tuple[float, float]:
    """(encode, decode) seconds per element of scheme ``name`` with ``params``; cached on disk."""
    key = f"{name}:{json.dumps(get(name).resolve(params), sort_keys=True)}"
    path = cache_dir() / "codec.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    if key not in table:
        table[key] = list(_measure(name, params))
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
        tmp.replace(path)
    enc, dec = table[key]
    return float(enc), float(dec)
