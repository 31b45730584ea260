"""Step programs: a collective as a sequence of steps, each a set of messages.

A :class:`Pattern` is one step's messages as a struct of arrays (``src``, ``dst``,
``nbytes``, ``reduce_bytes``; ranks are program ranks ``0..ranks-1``). A
:class:`StepProgram` is a list of steps, each naming one pattern; identical steps
share one pattern object (a ring all-reduce of p ranks is 2(p-1) steps over two
patterns), so a program of 8,190 steps x 4,096 messages costs two arrays of 4,096.

Semantics (used by both the DES runner and the closed forms): a message of step k
starts as soon as *both* its endpoints have completed all their messages of earlier
steps; a rank completes a step when all its messages of that step have finished and it
has reduced what it received (``gamma * reduce_bytes`` of the messages it received).
A rank with no message in a step skips it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwmodels import SpecError

__all__ = ["Pattern", "LazyPatterns", "StepProgram", "const", "concat"]


def const(value: float, count: int) -> np.ndarray:
    """A read-only array of ``count`` copies of ``value`` that takes no memory (stride 0)."""
    return np.broadcast_to(np.float64(value), (int(count),))


def _readonly(a: np.ndarray, dtype: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != 1:
        raise SpecError(f"pattern arrays must be one-dimensional, got shape {arr.shape}")
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


class Pattern:
    """The messages of one step: ``src[i] -> dst[i]`` carries ``nbytes[i]`` bytes, of
    which the receiver reduces ``reduce_bytes[i]`` (0 for a plain copy).

    Arrays are read-only and may be shared by many steps and many programs. Derived
    per-rank tables (incidence, degree, received reduce bytes) are computed on first
    use and cached on the pattern.
    """

    __slots__ = ("src", "dst", "nbytes", "reduce_bytes", "_ranks", "_cache")

    def __init__(self, src: Any, dst: Any, nbytes: Any, reduce_bytes: Any = None, *, ranks: int) -> None:
        self.src = _readonly(src, np.int64)
        self.dst = _readonly(dst, np.int64)
        m = self.src.shape[0]
        if isinstance(nbytes, (int, float, np.floating, np.integer)):
            nbytes = const(float(nbytes), m)
        self.nbytes = _readonly(nbytes, np.float64)
        if reduce_bytes is None:
            reduce_bytes = const(0.0, m)
        elif isinstance(reduce_bytes, (int, float, np.floating, np.integer)):
            reduce_bytes = const(float(reduce_bytes), m)
        self.reduce_bytes = _readonly(reduce_bytes, np.float64)
        if not (self.dst.shape[0] == m and self.nbytes.shape[0] == m and self.reduce_bytes.shape[0] == m):
            raise SpecError(f"pattern arrays differ in length: src {m}, dst {self.dst.shape[0]}, "
                            f"nbytes {self.nbytes.shape[0]}, reduce_bytes {self.reduce_bytes.shape[0]}")
        self._ranks = int(ranks)
        self._cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return int(self.src.shape[0])

    @property
    def ranks(self) -> int:
        """Ranks of the program this pattern belongs to."""
        return self._ranks

    def validate(self) -> None:
        """Check ranks are in range, no rank sends to itself, sizes are non-negative."""
        if len(self) == 0:
            return
        lo = min(int(self.src.min()), int(self.dst.min()))
        hi = max(int(self.src.max()), int(self.dst.max()))
        if lo < 0 or hi >= self._ranks:
            raise SpecError(f"pattern names rank {lo if lo < 0 else hi}, outside 0..{self._ranks - 1}")
        if np.any(self.src == self.dst):
            raise SpecError("pattern has a message from a rank to itself")
        if np.any(self.nbytes < 0) or np.any(self.reduce_bytes < 0) or np.any(self.reduce_bytes > self.nbytes):
            raise SpecError("pattern sizes must satisfy 0 <= reduce_bytes <= nbytes")

    # ----- derived per-rank tables (cached) -----
    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        value = self._cache.get(key)
        if value is None:
            value = make()
            self._cache[key] = value
        return value

    @property
    def degree(self) -> np.ndarray:
        """Messages per rank (sent plus received), length ``ranks``."""
        return self._get("degree", lambda: np.bincount(self.src, minlength=self._ranks)
                         + np.bincount(self.dst, minlength=self._ranks))

    @property
    def participants(self) -> np.ndarray:
        """Ranks with at least one message in this step."""
        return self._get("participants", lambda: np.flatnonzero(self.degree > 0))

    @property
    def recv_reduce_bytes(self) -> np.ndarray:
        """Bytes each rank reduces after this step (sum of reduce_bytes it receives)."""
        return self._get("recv_reduce", lambda: np.bincount(self.dst, weights=self.reduce_bytes,
                                                            minlength=self._ranks).astype(np.float64))

    @property
    def incidence(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, message indices): the messages rank r sends or receives are
        ``indices[indptr[r]:indptr[r+1]]``."""
        def make() -> tuple[np.ndarray, np.ndarray]:
            m = len(self)
            ends = np.concatenate([self.src, self.dst])
            order = np.argsort(ends, kind="stable")
            indices = (order % m).astype(np.int64) if m else order.astype(np.int64)
            indptr = np.zeros(self._ranks + 1, dtype=np.int64)
            np.cumsum(np.bincount(ends, minlength=self._ranks), out=indptr[1:])
            return indptr, indices
        return self._get("incidence", make)

    def messages_of(self, ranks: np.ndarray) -> np.ndarray:
        """Indices of the messages that involve any of ``ranks`` (with repeats when both
        endpoints are listed)."""
        indptr, indices = self.incidence
        starts = indptr[ranks]
        counts = indptr[ranks + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        return indices[offsets + np.arange(total)]

    def bytes_sent(self) -> np.ndarray:
        """Bytes each rank sends in this pattern (array of length ``ranks``)."""
        return np.bincount(self.src, weights=self.nbytes, minlength=self._ranks)

    def bytes_received(self) -> np.ndarray:
        """Bytes each rank receives in this pattern (array of length ``ranks``)."""
        return np.bincount(self.dst, weights=self.nbytes, minlength=self._ranks)

    def total_bytes(self) -> float:
        """Bytes of all the pattern's messages."""
        if len(self) and self.nbytes.strides[0] == 0:
            return float(self.nbytes[0]) * len(self)
        return float(self.nbytes.sum())

    def __repr__(self) -> str:
        return f"Pattern({len(self)} messages, {self.total_bytes():g} B)"


class LazyPatterns(Sequence):
    """``count`` patterns made on demand by ``make(i)``, keeping the last ``cache`` made.

    For programs whose every step differs (direct all-to-all: p-1 shifts of p messages),
    so that p = 4,096 does not hold 16 million messages at once.
    """

    def __init__(self, count: int, make: Callable[[int], Pattern], *, cache: int = 32) -> None:
        self._count = int(count)
        self._make = make
        self._cache: OrderedDict[int, Pattern] = OrderedDict()
        self._size = int(cache)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> Pattern:  # type: ignore[override]
        i = int(i)
        if not 0 <= i < self._count:
            raise IndexError(i)
        pattern = self._cache.get(i)
        if pattern is None:
            pattern = self._make(i)
            self._cache[i] = pattern
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return pattern

    def __iter__(self) -> Iterator[Pattern]:
        for i in range(self._count):
            yield self[i]


@dataclass(frozen=True, eq=False)
class StepProgram:
    """A collective as steps over patterns: step k runs ``patterns[order[k]]``.

    ``ranks`` counts every participant of the program (workers plus, for a parameter
    server, its server ranks, numbered after the workers). ``size_B`` is the collective's
    size as the user gave it (see :mod:`simulator.collectives` for its meaning per op).
    """

    op: str
    algorithm: str
    workers: int
    size_B: float
    ranks: int
    patterns: Sequence[Pattern]
    order: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        order = np.asarray(self.order, dtype=np.int64)
        object.__setattr__(self, "order", order)
        if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= len(self.patterns))):
            raise SpecError("StepProgram.order must index its patterns")

    @property
    def num_steps(self) -> int:
        """Steps of the program (patterns may repeat)."""
        return int(self.order.shape[0])

    def step(self, k: int) -> Pattern:
        """The pattern of step ``k``."""
        return self.patterns[int(self.order[k])]

    def steps(self) -> Iterator[Pattern]:
        """The patterns of every step, in order."""
        for k in range(self.num_steps):
            yield self.step(k)

    def _uses(self) -> np.ndarray:
        return np.bincount(self.order, minlength=len(self.patterns))

    def _fold(self, fn: Callable[[Pattern], Any]) -> Any:
        total: Any = 0
        for i, uses in enumerate(self._uses()):
            if uses:
                total = total + fn(self.patterns[i]) * int(uses)
        return total

    @property
    def messages(self) -> int:
        """Number of messages over all steps."""
        return int(self._fold(len))

    @property
    def bytes_sent_total(self) -> float:
        """Bytes put on the network over all steps (each message counted once)."""
        return float(self._fold(Pattern.total_bytes))

    def bytes_sent_per_rank(self) -> np.ndarray:
        """Bytes each rank sends over all steps."""
        out = self._fold(Pattern.bytes_sent)
        return np.zeros(self.ranks) if isinstance(out, int) else out

    def bytes_received_per_rank(self) -> np.ndarray:
        """Bytes each rank receives over all steps."""
        out = self._fold(Pattern.bytes_received)
        return np.zeros(self.ranks) if isinstance(out, int) else out

    def reduce_bytes_per_rank(self) -> np.ndarray:
        """Bytes each rank reduces over all steps."""
        out = self._fold(lambda pat: pat.recv_reduce_bytes)
        return np.zeros(self.ranks) if isinstance(out, int) else out

    def validate(self) -> None:
        """Check every distinct pattern (ranks in range, no self-messages, sizes)."""
        for i in np.flatnonzero(self._uses()):
            pattern = self.patterns[int(i)]
            if pattern.ranks != self.ranks:
                raise SpecError(f"pattern {i} is for {pattern.ranks} ranks, the program has {self.ranks}")
            pattern.validate()

    def relabel(self, perm: np.ndarray) -> StepProgram:
        """The same program with rank r renamed ``perm[r]`` (e.g. to move a root)."""
        perm = np.asarray(perm, dtype=np.int64)
        pats = [Pattern(perm[p.src], perm[p.dst], p.nbytes, p.reduce_bytes, ranks=self.ranks) for p in self.patterns]
        return StepProgram(self.op, self.algorithm, self.workers, self.size_B, self.ranks, pats, self.order, dict(self.params))

    def __repr__(self) -> str:
        return (f"StepProgram({self.op}/{self.algorithm}, workers={self.workers}, ranks={self.ranks}, "
                f"steps={self.num_steps}, patterns={len(self.patterns)})")


def concat(op: str, algorithm: str, parts: Sequence[StepProgram], **params: Any) -> StepProgram:
    """Programs one after another (e.g. reduce-scatter then all-gather). Patterns are
    shared, not copied; all parts must have the same ranks."""
    if not parts:
        raise SpecError("concat needs at least one program")
    ranks = parts[0].ranks
    patterns: list[Pattern] = []
    orders = []
    for part in parts:
        if part.ranks != ranks:
            raise SpecError("concat: programs have different rank counts")
        if isinstance(part.patterns, LazyPatterns):
            raise SpecError("concat: lazy patterns cannot be concatenated")
        orders.append(part.order + len(patterns))
        patterns.extend(part.patterns)
    first = parts[0]
    order = np.concatenate(orders) if orders else np.empty(0, dtype=np.int64)
    return StepProgram(op, algorithm, first.workers, first.size_B, ranks, patterns, order, dict(params))
