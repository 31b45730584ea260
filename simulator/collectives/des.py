"""DES mode: run a step program on a :class:`~simulator.network.FlowNetwork`.

Per-rank progress: a message of step k starts as soon as both its endpoints have
completed all their messages of earlier steps; a rank completes a step when all its
messages of that step have finished and it has reduced what it received (``gamma``
seconds per byte, per rank, so slow or straggling ranks are just larger gammas); a rank
joins at its own start offset. Ranks run ahead or fall behind independently, and their
flows share links max-min fairly.

Two ways to run it, with the same results:

* **Contention-free programs** (no two messages can ever share a link; see
  :mod:`~simulator.collectives.maxplus`): when the network carries nothing else on the
  program's links, the runner reserves them and replays the max-plus recurrence for all
  ranks at once, O(ranks) numpy work per step whatever the ranks' speeds, offsets or link
  speeds; one simpy event at the end. If another flow needs a reserved link before that,
  the runner hands every rank and flow in progress over to the event-driven path at that
  instant (:meth:`CollectiveRun.interrupt`).
* **Event-driven**, vectorised: no simpy process per rank or message. Each start is one
  ``FlowNetwork.start`` batch (the whole pattern of a step when every participant arrives
  at once, using a cached route pattern); each ``on_finish`` callback decrements per-rank
  counters with numpy, finds the ranks that completed their step and starts the messages
  that became ready.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from hwmodels import SpecError

from .maxplus import MaxPlusSchedule
from .schedule import Pattern, StepProgram

__all__ = ["CollectiveRun", "CollectiveResult"]

_FP_CACHE = 64


@dataclass
class CollectiveResult:
    """Outcome of one collective: ``time_s`` from start to the last rank's finish."""

    op: str
    algorithm: str
    workers: int
    ranks: int
    size_B: float
    mode: str
    time_s: float
    messages: int
    bytes_sent_total: float
    steps: int
    params: dict[str, Any] = field(default_factory=dict)
    start_s: float = 0.0
    rank_finish_s: np.ndarray | None = None
    analytic_time_s: float | None = None
    timeline: Any = None
    reduce_busy_s: np.ndarray | None = None   # per rank: seconds spent reducing
    link_energy_J: float | None = None        # bits on every link crossed x its energy per bit

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no timeline, no per-rank arrays)."""
        out = {"op": self.op, "algorithm": self.algorithm, "workers": self.workers, "ranks": self.ranks,
               "size_B": self.size_B, "mode": self.mode, "time_s": self.time_s, "messages": self.messages,
               "bytes_sent_total": self.bytes_sent_total, "steps": self.steps}
        out.update({k: v for k, v in self.params.items()})
        if self.analytic_time_s is not None:
            out["analytic_time_s"] = self.analytic_time_s
        return out


class CollectiveRun:
    """One run of ``program`` on ``network`` (vectorised per-rank-progress DES).

    Parameters
    ----------
    network: the :class:`~simulator.network.FlowNetwork` (its simulation gives the clock).
    program: the step program.
    hosts: host (name or index) of each program rank; default the first ``program.ranks``.
    gamma_s_per_B: reduction seconds per byte, one number or one per rank.
    start_offset_s: seconds after :meth:`start` at which each rank joins (one number or one
        per rank, non-negative; default 0).
    name: label of the flows and of the per-rank ``collective`` spans.
    on_progress: called as ``on_progress(steps_reached, steps_total)`` as ranks advance.
    fast: replay contention-free programs as a max-plus recurrence (module docstring);
        ``False`` forces the event-driven path (same results, for checking).

    Call :meth:`start` (now, inside the simulation); its event fires with this run
    when every rank is done. Then :attr:`rank_finish_s`, :attr:`time_s`,
    :attr:`messages_started`, :attr:`bytes_started` and :attr:`reduce_busy_s` (seconds
    each rank spent reducing) are set; :attr:`replayed` says whether the max-plus
    replay ran it to the end.
    """

    def __init__(self, network: Any, program: StepProgram, hosts: Sequence[Any] | np.ndarray | None = None, *,
                 gamma_s_per_B: float | Sequence[float] | np.ndarray = 0.0,
                 start_offset_s: float | Sequence[float] | np.ndarray = 0.0, name: str = "",
                 on_progress: Callable[[int, int], Any] | None = None, fast: bool = True) -> None:
        self.network = network
        self.env: simpy.Environment = network.env
        self.sim = network.sim
        self.program = program
        topology = network.topology
        P = program.ranks
        if hosts is None:
            if topology.num_hosts < P:
                raise SpecError(f"{program.op}/{program.algorithm} needs {P} hosts, the topology has {topology.num_hosts}")
            hosts = np.arange(P)
        self.hosts = topology.host_indices(hosts)
        if self.hosts.size != P:
            raise SpecError(f"{program.op}/{program.algorithm}: {self.hosts.size} hosts given for {P} ranks")
        if np.unique(self.hosts).size != P:
            raise SpecError(f"{program.op}/{program.algorithm}: a host appears twice among the collective's ranks")
        self.gamma = _per_rank(gamma_s_per_B, P, "gamma_s_per_B")
        self.start_offset_s = _per_rank(start_offset_s, P, "start_offset_s")
        self._has_gamma = bool(np.any(self.gamma > 0))
        self.name = name or f"{program.op}/{program.algorithm}"
        self.on_progress = on_progress
        self.fast = bool(fast)
        self._step = np.full(P, -1, dtype=np.int64)
        self._remaining = np.zeros(P, dtype=np.int64)
        self.rank_finish_s = np.full(P, np.nan)
        self.reduce_busy_s = np.zeros(P)
        self._left = P
        self._fp: OrderedDict[int, tuple[Pattern, Any]] = OrderedDict()
        self._batches: dict[int, tuple[int, Pattern, np.ndarray | None]] = {}
        self._reached = -1
        self.start_s = float("nan")
        self.messages_started = 0
        self.bytes_started = 0.0
        self.replayed = False
        self._replay: MaxPlusSchedule | None = None    # set while the max-plus replay holds the run
        self._reservation: int | None = None
        self._ready0 = np.zeros(P)                      # each rank's start time (s)
        self._replayed_end: tuple[np.ndarray, float] = (np.zeros(P), 0.0)   # rank finishes, last flow finish
        self.done: simpy.Event = self.env.event()

    # ------------------------------------------------------------------ public
    def start(self) -> simpy.Event:
        """Start now; returns :attr:`done`."""
        if self.start_s == self.start_s:
            raise RuntimeError("a CollectiveRun starts once")
        self.start_s = float(self.env.now)
        if self.fast and self._start_replay():
            return self.done
        ranks = np.arange(self.program.ranks, dtype=np.int64)
        offsets = self.start_offset_s
        if not offsets.any():
            self._advance(ranks, -1, self.start_s)
        else:
            self._join_later(ranks, self.start_s + offsets)
        return self.done

    @property
    def time_s(self) -> float:
        """Duration from start to the last rank's finish (nan while running)."""
        if self._left:
            return float("nan")
        return float(np.max(self.rank_finish_s) - self.start_s) if self.rank_finish_s.size else 0.0

    def interrupt(self, now: float) -> None:
        """Another flow needs one of the reserved links: hand every rank and flow in progress
        at ``now`` to the event-driven path (called by the network, see
        :meth:`~simulator.network.FlowNetwork.reserve`)."""
        schedule = self._replay
        if schedule is None:
            return
        self._replay = None
        self._reservation = None   # the network ends it
        snap = schedule.snapshot(self._ready0, now, self._span_recorder(schedule))
        self.network.account(snap.link_bytes, snap.link_busy_s, snap.flows_finished, snap.last_finish_s)
        self.messages_started = snap.messages_started
        self.bytes_started = snap.bytes_started
        self.reduce_busy_s = snap.reduce_busy_s
        total = self.program.num_steps
        finished = np.flatnonzero(snap.step >= total)
        self.rank_finish_s[finished] = snap.finish[finished]
        self._left = self.program.ranks - finished.size
        self._step = snap.step.copy()
        self._remaining = snap.remaining.copy()
        live = snap.step[(snap.step >= 0) & (snap.step < total)]
        self._reached = int(live.max()) if live.size else -1
        for k, msgs, start, active in snap.flights:
            pat = self.program.step(k)
            batch = self.network.adopt(self.hosts[pat.src[msgs]], self.hosts[pat.dst[msgs]], pat.nbytes[msgs], start,
                                       active, name=self.name, on_finish=self._on_finish)
            self._batches[batch.id] = (k, pat, msgs)
        reducing = np.flatnonzero(~np.isnan(snap.reduce_end))
        if reducing.size:
            self._after(reducing, snap.step[reducing], snap.reduce_end[reducing] - now)
        waiting = np.flatnonzero(snap.step < 0)
        if waiting.size:
            self._join_later(waiting, self.start_s + self.start_offset_s[waiting])

    def stats_at(self, now: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(bytes and busy seconds per directed link, last flow finish) of the replayed
        flows so far (the network asks while the replay holds the run)."""
        schedule = self._replay
        n = self.network.topology.num_links
        if schedule is None:
            return np.zeros(n), np.zeros(n), 0.0
        snap = schedule.snapshot(self._ready0, now)
        return snap.link_bytes + snap.partial_bytes, snap.link_busy_s + snap.partial_busy_s, snap.last_finish_s

    # ------------------------------------------------------------------ max-plus replay
    def _start_replay(self) -> bool:
        """Reserve the program's links and replay it to the end, if it is contention-free."""
        schedule = MaxPlusSchedule.plan(self.network, self.program, self.hosts, self.gamma)
        if schedule is None:
            return False
        reservation = self.network.reserve(schedule.resources, self)
        if reservation is None:
            return False
        self._reservation = reservation
        self._replay = schedule
        self._ready0 = self.start_s + self.start_offset_s
        finish, last_flow = schedule.run(self._ready0, self.on_progress)
        self._replayed_end = (finish, last_flow)
        end = float(finish.max()) if finish.size else self.start_s
        self.env.timeout(max(end - self.start_s, 0.0)).callbacks.append(self._end_replay)
        return True

    def _end_replay(self, _event: simpy.Event) -> None:
        schedule = self._replay
        if schedule is None:  # handed over to the event-driven path meanwhile
            return
        self._replay = None
        self.network.release(self._reservation)
        finish, last_flow = self._replayed_end
        link_bytes, link_busy, messages, sent, reduce_s = schedule.totals()
        self.network.account(link_bytes, link_busy, messages, last_flow)
        if self.sim.trace.enabled:
            schedule.snapshot(self._ready0, np.inf, self._span_recorder(schedule))
        self.messages_started = messages
        self.bytes_started = sent
        self.reduce_busy_s = reduce_s
        self.rank_finish_s = finish
        self._step[:] = self.program.num_steps
        self._left = 0
        self.replayed = True
        self._finish_run()

    def _span_recorder(self, schedule: MaxPlusSchedule) -> Callable[..., Any] | None:
        """Records the replay's flows and reductions into the trace (when it is on)."""
        trace = self.sim.trace
        if not trace.enabled:
            return None
        names = self.network.topology.host_names
        record_flows = self.network.record_flows
        label = self.name + " " if self.name else ""

        def record(kind: str, *args: Any) -> None:
            if kind == "flow":
                if not record_flows:
                    return
                k, msgs, start, fin = args
                pat = self.program.step(k)
                src, dst = names[self.hosts[pat.src[msgs]]], names[self.hosts[pat.dst[msgs]]]
                trace.record_many(src, "flow", start, fin, pat.nbytes[msgs], label + src + "->" + dst)
            else:
                ranks, start, end, nbytes = args
                trace.record_many(list(names[self.hosts[ranks]]), "reduce", start, end, nbytes, self.name)

        return record

    # ------------------------------------------------------------------ event-driven path
    def _join_later(self, ranks: np.ndarray, when: np.ndarray) -> None:
        """Ranks join at absolute times ``when`` (step -1 completes then)."""
        self._after(ranks, np.full(ranks.size, -1, dtype=np.int64), when - float(self.env.now))

    def _after(self, ranks: np.ndarray, steps: np.ndarray, delay: np.ndarray) -> None:
        """``ranks`` complete ``steps`` after ``delay`` seconds (grouped by equal delay and step)."""
        if steps.min() == steps.max():
            values, inverse = np.unique(delay, return_inverse=True)
            groups = [(float(d), int(steps[0])) for d in values.tolist()]
        else:
            keys = np.stack([delay, steps.astype(float)])
            values, inverse = np.unique(keys, axis=1, return_inverse=True)
            groups = [(float(values[0, i]), int(values[1, i])) for i in range(values.shape[1])]
        inverse = inverse.reshape(-1)
        for i, (d, s) in enumerate(groups):
            group = ranks if len(groups) == 1 else ranks[inverse == i]
            timer = self.env.timeout(max(d, 0.0))
            timer.callbacks.append(lambda _ev, g=group, s=s: self._advance(g, s, float(self.env.now)))

    # ------------------------------------------------------------------ internals
    def _flow_pattern(self, pat: Pattern) -> Any:
        key = id(pat)
        hit = self._fp.get(key)
        if hit is not None and hit[0] is pat:
            self._fp.move_to_end(key)
            return hit[1]
        fp = self.network.pattern(self.hosts[pat.src], self.hosts[pat.dst])
        self._fp[key] = (pat, fp)
        if len(self._fp) > _FP_CACHE:
            self._fp.popitem(last=False)
        return fp

    def _next_steps(self, ranks: np.ndarray, k: int) -> np.ndarray:
        """For ranks that completed step k: the next step in which each has a message."""
        program = self.program
        total = program.num_steps
        out = np.full(ranks.size, total, dtype=np.int64)
        idx = np.arange(ranks.size)
        cand = k + 1
        while idx.size and cand < total:
            part = program.step(cand).degree[ranks[idx]] > 0
            out[idx[part]] = cand
            idx = idx[~part]
            cand += 1
        return out

    def _advance(self, ranks: np.ndarray, k: int, now: float) -> None:
        """``ranks`` (all at step k) completed it at ``now``: move them on, start what is ready."""
        steps = self._next_steps(ranks, k)
        self._step[ranks] = steps
        total = self.program.num_steps
        done = steps >= total
        if done.any():
            finished = ranks[done]
            self.rank_finish_s[finished] = now
            self._left -= finished.size
            ranks, steps = ranks[~done], steps[~done]
        if ranks.size:
            if self.on_progress is not None:
                top = int(steps.max())
                if top > self._reached:
                    self._reached = top
                    self.on_progress(top, total)
            if steps.min() == steps.max():
                self._enter(ranks, int(steps[0]))
            else:
                for s in np.unique(steps).tolist():
                    self._enter(ranks[steps == s], s)
        if self._left == 0 and not self.done.triggered:
            self._finish_run()

    def _enter(self, ranks: np.ndarray, s: int) -> None:
        """``ranks`` arrive at step s: start its messages whose endpoints are both there."""
        pat = self.program.step(s)
        self._remaining[ranks] = pat.degree[ranks]
        if ranks.size == pat.participants.size:
            self._start(s, pat, None)          # everyone arrived together: the whole step
            return
        msgs = pat.messages_of(ranks)
        ok = (self._step[pat.src[msgs]] == s) & (self._step[pat.dst[msgs]] == s)
        msgs = np.unique(msgs[ok])
        if msgs.size:
            self._start(s, pat, msgs)

    def _start(self, s: int, pat: Pattern, msgs: np.ndarray | None) -> None:
        constant = pat.nbytes.strides[0] == 0 and len(pat) > 0
        if msgs is None:
            nbytes: Any = float(pat.nbytes[0]) if constant else pat.nbytes
            batch = self.network.start(pattern=self._flow_pattern(pat), nbytes=nbytes, name=self.name,
                                       on_finish=self._on_finish)
            count = len(pat)
            self.bytes_started += pat.total_bytes()
        else:
            nbytes = float(pat.nbytes[0]) if constant else pat.nbytes[msgs]
            batch = self.network.start(self.hosts[pat.src[msgs]], self.hosts[pat.dst[msgs]], nbytes, name=self.name,
                                       on_finish=self._on_finish)
            count = msgs.size
            self.bytes_started += float(nbytes) * count if constant else float(np.sum(nbytes))
        self.messages_started += count
        if not batch.finished:
            self._batches[batch.id] = (s, pat, msgs)
        else:  # empty or instantaneous
            self._on_finish(batch, np.arange(count), float(self.env.now), (s, pat, msgs))

    def _on_finish(self, batch: Any, local: np.ndarray, now: float, info: tuple | None = None) -> None:
        if info is None:
            info = self._batches[batch.id] if batch.remaining else self._batches.pop(batch.id)
        s, pat, msgs = info
        if msgs is None and local.size == len(pat):
            ranks = pat.participants     # the whole step finished at once
            self._remaining[ranks] = 0
        else:
            m = local if msgs is None else msgs[local]
            src, dst = pat.src[m], pat.dst[m]
            np.subtract.at(self._remaining, src, 1)
            np.subtract.at(self._remaining, dst, 1)
            touched = np.unique(np.concatenate([src, dst]))
            ranks = touched[self._remaining[touched] == 0]
        if not ranks.size:
            return
        if not self._has_gamma:
            self._advance(ranks, s, now)
            return
        delay = self.gamma[ranks] * pat.recv_reduce_bytes[ranks]
        busy = delay > 0
        if busy.any():
            self.reduce_busy_s[ranks[busy]] += delay[busy]
        if self.sim.trace.enabled and busy.any():
            names = self.network.topology.host_names[self.hosts[ranks[busy]]]
            self.sim.trace.record_many(list(names), "reduce", np.full(int(busy.sum()), now), now + delay[busy],
                                       pat.recv_reduce_bytes[ranks[busy]], self.name)
        if not busy.all():
            self._advance(ranks[~busy], s, now)
        if busy.any():
            self._after(ranks[busy], np.full(int(busy.sum()), s, dtype=np.int64), delay[busy])

    def _finish_run(self) -> None:
        if self.sim.trace.enabled and self.program.ranks:
            names = self.network.topology.host_names[self.hosts]
            self.sim.trace.record_many(list(names), "collective", np.full(self.program.ranks, self.start_s),
                                       self.rank_finish_s, self.program.bytes_sent_per_rank(), self.name)
        self.done.succeed(self)


def _per_rank(value: Any, ranks: int, field: str) -> np.ndarray:
    """One non-negative finite number, or one per rank, as an array of ``ranks``."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(ranks, float(arr))
    if arr.shape != (ranks,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise SpecError(f"{field} must be one non-negative number or one per rank ({ranks}), got {value!r}")
    return arr
