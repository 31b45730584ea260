"""Spans of simulated activity, their recorder, and the :class:`Timeline` built from them.

A :class:`Span` says that a resource (a worker, a host, a link) did something of a kind
("compute", "flow", ...) from ``start_s`` to ``end_s``, possibly moving ``bytes``. Components
record spans into the simulation's :class:`TraceRecorder`; :meth:`TraceRecorder.record_many`
takes whole columns at once, so recording a batch of thousands of flows costs a few array
copies, not thousands of objects. A :class:`Timeline` joins the spans with the network's
per-link statistics and exports them: Chrome-trace JSON (opens in Perfetto) and plain records
(for a pandas table).
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = ["Span", "TraceRecorder", "Timeline", "assign_lanes"]


@dataclass(frozen=True)
class Span:
    """``resource`` did ``kind`` from ``start_s`` to ``end_s`` (seconds), moving ``bytes``."""

    resource: str
    kind: str
    start_s: float
    end_s: float
    bytes: float = 0.0
    name: str = ""

    @property
    def duration_s(self) -> float:
        """Seconds from ``start_s`` to ``end_s``."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class _Columns:
    """A columnar chunk of spans (one ``record_many`` call)."""

    resources: Any  # sequence of str, or one str for all
    kind: str
    start_s: np.ndarray
    end_s: np.ndarray
    bytes: np.ndarray | None
    names: Any  # sequence of str, one str for all, or None

    def __len__(self) -> int:
        return len(self.start_s)

    def spans(self) -> list[Span]:
        n = len(self.start_s)
        res = [self.resources] * n if isinstance(self.resources, str) else self.resources
        names = [""] * n if self.names is None else ([self.names] * n if isinstance(self.names, str) else self.names)
        nbytes = np.zeros(n) if self.bytes is None else self.bytes
        kind = self.kind
        return [Span(str(r), kind, s, e, b, str(nm))
                for r, s, e, b, nm in zip(res, self.start_s.tolist(), self.end_s.tolist(), nbytes.tolist(), names)]


_Chunk = Union[Span, _Columns]


class TraceRecorder:
    """Collects spans; does nothing when ``enabled`` is false.

    Spans keep the order in which they were recorded.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)
        self._chunks: list[_Chunk] = []
        self._count = 0

    def record(self, resource: str, kind: str, start_s: float, end_s: float, bytes: float = 0.0, name: str = "") -> None:
        """Record one span."""
        if not self.enabled:
            return
        start_s, end_s = float(start_s), float(end_s)
        if not end_s >= start_s:
            raise ValueError(f"span {kind!r} on {resource!r} ends before it starts ({start_s} > {end_s})")
        self._chunks.append(Span(str(resource), str(kind), start_s, end_s, float(bytes), str(name)))
        self._count += 1

    def record_many(self, resources: Sequence[str] | str, kind: str, start_s: np.ndarray, end_s: np.ndarray,
                    bytes: np.ndarray | None = None, names: Sequence[str] | str | None = None) -> None:
        """Record ``len(start_s)`` spans given as columns (cheap: a few array copies).

        ``resources`` and ``names`` may also be one string shared by every span.
        """
        if not self.enabled:
            return
        start = np.array(start_s, dtype=float, copy=True).reshape(-1)
        end = np.array(end_s, dtype=float, copy=True).reshape(-1)
        n = start.size
        if end.size != n:
            raise ValueError(f"record_many: {n} starts but {end.size} ends")
        if n == 0:
            return
        if not np.all(end >= start):
            raise ValueError(f"record_many: a span of kind {kind!r} ends before it starts")
        if not isinstance(resources, str) and len(resources) != n:
            raise ValueError(f"record_many: {n} spans but {len(resources)} resources")
        if names is not None and not isinstance(names, str) and len(names) != n:
            raise ValueError(f"record_many: {n} spans but {len(names)} names")
        nbytes = None
        if bytes is not None:
            nbytes = np.broadcast_to(np.asarray(bytes, dtype=float), (n,)).copy()
        self._chunks.append(_Columns(resources, str(kind), start, end, nbytes, names))
        self._count += n

    def __len__(self) -> int:
        return self._count

    def spans(self) -> list[Span]:
        """Every recorded span as a :class:`Span`, in recording order."""
        return _expand(self._chunks)

    def max_end_s(self) -> float:
        """The latest end of any span (0 when empty)."""
        best = 0.0
        for chunk in self._chunks:
            best = max(best, chunk.end_s if isinstance(chunk, Span) else float(chunk.end_s.max()))
        return best

    def clear(self) -> None:
        """Forget every recorded span."""
        self._chunks.clear()
        self._count = 0


def _expand(chunks: Iterable[_Chunk]) -> list[Span]:
    """Single spans and columnar chunks as one list of spans, in recording order."""
    out: list[Span] = []
    for chunk in chunks:
        if isinstance(chunk, Span):
            out.append(chunk)
        else:
            out.extend(chunk.spans())
    return out


class Timeline:
    """What happened in a run: spans, makespan and per-link statistics.

    Parameters
    ----------
    spans:
        A :class:`TraceRecorder` (its spans are taken as they are now) or any iterable of spans.
    link_bytes, link_busy_s, link_energy_J:
        Per directed link ``"u->v"``: bytes moved, seconds with at least one active flow,
        joules spent (from the flow network's statistics).
    makespan_s:
        End of the run; by default the latest span end.
    """

    def __init__(self, spans: TraceRecorder | Iterable[Span] = (), *, link_bytes: Mapping[str, float] | None = None,
                 link_busy_s: Mapping[str, float] | None = None, link_energy_J: Mapping[str, float] | None = None,
                 makespan_s: float | None = None) -> None:
        if isinstance(spans, TraceRecorder):
            self._chunks: list[_Chunk] = list(spans._chunks)
            latest = spans.max_end_s()
        else:
            self._chunks = list(spans)
            latest = max((s.end_s for s in self._chunks), default=0.0)  # type: ignore[union-attr]
        self.makespan_s = float(latest if makespan_s is None else max(makespan_s, latest))
        self.link_bytes: dict[str, float] = dict(link_bytes or {})
        self.link_busy_s: dict[str, float] = dict(link_busy_s or {})
        self.link_energy_J: dict[str, float] = dict(link_energy_J or {})

    @cached_property
    def spans(self) -> list[Span]:
        """Every span, in recording order."""
        return _expand(self._chunks)

    def utilisation(self) -> dict[str, float]:
        """Per directed link: busy time over makespan, in [0, 1] (0 for an empty run)."""
        if self.makespan_s <= 0:
            return {name: 0.0 for name in self.link_busy_s}
        return {name: min(1.0, max(0.0, busy / self.makespan_s)) for name, busy in self.link_busy_s.items()}

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per span (resource, kind, name, start_s, end_s, duration_s, bytes)."""
        return [{"resource": s.resource, "kind": s.kind, "name": s.name, "start_s": s.start_s, "end_s": s.end_s,
                 "duration_s": s.end_s - s.start_s, "bytes": s.bytes} for s in self.spans]

    def to_chrome_trace(self, path: str | Path | None = None) -> dict[str, Any]:
        """The spans as Chrome-trace JSON (``traceEvents``, times in microseconds).

        One process ("ddlsim"); one thread (track) per resource in natural order ("h2" before
        "h10"), named with ``"M"``
        metadata events. Spans of one resource that overlap without nesting go to extra
        tracks ``"<resource> #2"``, ... so every track is a proper stack. Writes the JSON
        to ``path`` when given. Perfetto and chrome://tracing open it.
        """
        events: list[dict[str, Any]] = [{"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": "ddlsim"}}]
        by_resource: dict[str, list[Span]] = {}
        for span in self.spans:
            by_resource.setdefault(span.resource, []).append(span)
        tid = 0
        slices: list[dict[str, Any]] = []
        for resource in sorted(by_resource, key=_natural_key):
            spans = by_resource[resource]
            lanes = assign_lanes(spans)
            first = tid + 1
            for lane in range(max(lanes) + 1):
                tid += 1
                label = resource if lane == 0 else f"{resource} #{lane + 1}"
                events.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_name", "args": {"name": label}})
                events.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
            for span, lane in zip(spans, lanes):
                slices.append({"ph": "X", "pid": 1, "tid": first + lane, "name": span.name or span.kind, "cat": span.kind,
                               "ts": span.start_s * 1e6, "dur": (span.end_s - span.start_s) * 1e6,
                               "args": {"bytes": span.bytes, "kind": span.kind, "resource": span.resource}})
        trace = {"traceEvents": events + slices, "displayTimeUnit": "ns",
                 "otherData": {"makespan_s": self.makespan_s, "generator": "ddlsim"}}
        if path is not None:
            Path(path).write_text(json.dumps(trace))
        return trace

    def __repr__(self) -> str:
        return f"Timeline({len(self._chunks)} chunks, makespan {self.makespan_s:g} s, {len(self.link_bytes)} links)"


def _natural_key(text: str) -> list[Any]:
    """Sort key that puts "h2" before "h10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def assign_lanes(spans: Sequence[Span]) -> list[int]:
    """Greedy interval partitioning: a lane per span so that spans in one lane do not overlap."""
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start_s, -spans[i].end_s))
    lanes = [0] * len(spans)
    free: list[tuple[float, int]] = []  # (end of last span, lane), min-heap
    used = 0
    for i in order:
        span = spans[i]
        if free and free[0][0] <= span.start_s:
            _, lane = heapq.heappop(free)
        else:
            lane = used
            used += 1
        lanes[i] = lane
        heapq.heappush(free, (span.end_s, lane))
    return lanes
