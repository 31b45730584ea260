"""The registry of collective algorithms: (op, algorithm) -> program builder + closed form.

Each algorithm family module registers its pairs with :func:`register` into
:data:`ALGORITHMS` (keyed ``"op/algorithm"``); nothing else lists them. An unknown op, an
unknown algorithm or an unsupported pair is a :class:`~hwmodels.SpecError` that lists what
exists.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hwmodels import SpecError
from hwmodels.checks import is_int
from hwmodels.registry import Registry

from .schedule import StepProgram

__all__ = ["OPS", "ALGORITHMS", "Algorithm", "register", "get", "algorithms", "pairs", "check_power_of_two",
           "ceil_log2"]

OPS = ("allreduce", "reducescatter", "allgather", "broadcast", "reduce", "gather", "alltoall")

ALGORITHMS: Registry[Algorithm] = Registry("collective")   # "op/algorithm" -> Algorithm


@dataclass(frozen=True)
class Algorithm:
    """One (op, algorithm) pair: how to build its step program and its closed form.

    ``build(p, n, **params) -> StepProgram`` and ``time(p, n, net, **params) -> seconds``
    take the worker count, the size in bytes and the algorithm's parameters (defaults
    in ``params``). ``extra_ranks(p, params)`` is the number of ranks beyond the workers
    (a parameter server's servers). ``check(p, params)`` raises SpecError for counts the
    algorithm cannot take. ``totals(p, n, **params) -> (steps, messages, bytes)``, where
    given, counts without building the program (for programs quadratic in p).
    """

    op: str
    name: str
    build: Callable[..., StepProgram]
    time: Callable[..., float]
    params: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[int, dict[str, Any]], None] | None = None
    extra_ranks: Callable[[int, dict[str, Any]], int] | None = None
    summary: str = ""
    totals: Callable[..., tuple[int, int, float]] | None = None

    def resolve(self, p: int, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``params`` (None means default); unknown names and bad
        counts raise SpecError."""
        unknown = sorted(k for k, v in params.items() if k not in self.params and v is not None)
        if unknown:
            known = ", ".join(self.params) or "none"
            raise SpecError(f"{self.op}/{self.name} takes no parameter {unknown[0]!r}; its parameters: {known}")
        out = dict(self.params)
        out.update({k: v for k, v in params.items() if v is not None})
        for key in ("chunks", "shards"):
            if key in out:
                value = out[key]
                if not is_int(value) or value < 1:
                    raise SpecError(f"{self.op}/{self.name}: {key} must be a positive integer, got {value!r}")
        if "root" in out:
            root = out["root"]
            if not is_int(root) or not 0 <= root < p:
                raise SpecError(f"{self.op}/{self.name}: root must be a worker rank in 0..{p - 1}, got {root!r}")
        if self.check is not None:
            self.check(p, out)
        return out

    def ranks(self, p: int, params: Mapping[str, Any]) -> int:
        """Program ranks: workers plus any extra (server) ranks."""
        return p + (self.extra_ranks(p, dict(params)) if self.extra_ranks else 0)


def register(op: str, name: str, *, time: Callable[..., float],
             check: Callable[[int, dict[str, Any]], None] | None = None,
             extra_ranks: Callable[[int, dict[str, Any]], int] | None = None,
             summary: str = "", totals: Callable[..., tuple[int, int, float]] | None = None) -> Callable[[Callable[..., StepProgram]], Callable[..., StepProgram]]:
    """Decorator registering a program builder for ``(op, name)`` with its closed form; the
    algorithm's parameters and their defaults are the builder's after ``(p, n)``."""
    if op not in OPS:
        raise ValueError(f"unknown collective op {op!r}")

    def deco(build: Callable[..., StepProgram]) -> Callable[..., StepProgram]:
        params = {k: v.default for k, v in list(inspect.signature(build).parameters.items())[2:]}
        ALGORITHMS.add(f"{op}/{name}", Algorithm(op, name, build, time, params, check, extra_ranks, summary, totals))
        return build

    return deco


def algorithms(op: str | None = None) -> list[str]:
    """Registered algorithm names (for one op, or all), sorted."""
    return sorted({alg.name for _, alg in ALGORITHMS.items() if op is None or alg.op == op})


def pairs() -> list[tuple[str, str]]:
    """Every registered (op, algorithm) pair, sorted."""
    return sorted((alg.op, alg.name) for _, alg in ALGORITHMS.items())


def get(op: str, name: str) -> Algorithm:
    """The registered algorithm, or a SpecError naming what exists."""
    if op not in OPS:
        raise SpecError(f"unknown collective op {op!r}; known ops: {', '.join(OPS)}")
    if name not in algorithms():
        raise SpecError(f"unknown collective algorithm {name!r}; known algorithms: {', '.join(algorithms())}")
    if f"{op}/{name}" not in ALGORITHMS:
        raise SpecError(f"algorithm {name!r} does not implement {op}; for {op} use one of: "
                        f"{', '.join(algorithms(op))}")
    return ALGORITHMS.get(f"{op}/{name}")


def check_power_of_two(p: int, params: dict[str, Any], *, who: str) -> None:
    """SpecError unless ``p`` is a power of two (with the nearest valid counts). The fix names
    the ``--workers`` flag because tests of the library and of the CLI both match it."""
    if p & (p - 1):
        lo = 1 << (p.bit_length() - 1)
        raise SpecError(f"algorithm {who} needs a power-of-two worker count, got {p}: use --workers {lo} or "
                        f"{lo * 2}, or another algorithm (ring works for any count)")


def ceil_log2(p: int) -> int:
    """ceil(log2 p) for p >= 1, exactly (integer arithmetic)."""
    return (int(p) - 1).bit_length()
