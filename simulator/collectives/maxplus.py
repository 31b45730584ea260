"""Contention-free step programs: the DES as a max-plus recurrence over ranks.

A program placed on a topology is *contention-free* when

(a) within each step, no two messages cross the same capacity resource, and
(b) any two messages (of any steps) that cross a common resource share an endpoint rank.

Then no two of its flows are ever active on one resource at the same time: a rank starts a
message of a later step only after all its messages of earlier steps have finished (the
program semantics), so (b) orders the messages of different steps on a resource, and (a)
covers one step. If nothing else uses those resources (the runner reserves them, see
:meth:`~simulator.network.FlowNetwork.reserve`), every flow runs alone at its path's
bottleneck rate, and the event simulation reduces to, per step and for all ranks at once::

    start_m  = max(ready[src_m], ready[dst_m])
    finish_m = start_m + latency_m + nbytes_m / bottleneck_m
    ready[r] = max(finish_m over r's messages) + gamma_r * reduce_bytes_r   (ranks in the step)

with the flow network's own arithmetic for a lone flow. That is O(ranks) numpy work per
step whatever the ranks' reduction speeds, start offsets or link speeds: no event per
message. (a) and (b) hold for ring, halving-doubling, recursive-doubling and binomial-tree
programs on a switch or with neighbour placement on a ring, for direct all-to-all on a
switch, and for every program on a fully-connected topology whose steps send at most one
message per rank pair; not for the double binary tree (two messages per port and step) or
multi-hop sharing (a leaf-spine's uplinks, non-neighbour algorithms on a ring).

:class:`MaxPlusSchedule` checks (a) and (b), replays the recurrence to the end (the
runner's normal case) or up to a time ``t`` (:meth:`MaxPlusSchedule.snapshot`: the state
of every rank and flow at ``t``, to hand over to the event-driven runner when another flow
needs a reserved link, or for statistics read mid-run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .schedule import LazyPatterns, Pattern, StepProgram

__all__ = ["MaxPlusSchedule", "Snapshot"]

# Distinct messages a program may have to be checked (beyond: the event-driven runner).
MESSAGE_BUDGET = 1 << 21


class _Step:
    """One distinct pattern placed on the hosts: what the recurrence needs."""

    __slots__ = ("pattern", "flows", "src", "dst", "lat", "q", "part", "full", "delay", "identity", "src_unique",
                 "dst_unique", "shift", "lat_add", "q_add")

    def __init__(self, pattern: Pattern, flows: Any, gamma: np.ndarray) -> None:
        self.pattern = pattern
        self.flows = flows
        self.src = pattern.src
        self.dst = pattern.dst
        self.lat = flows.latency_s
        self.q = pattern.nbytes / flows.bottleneck_Bps   # the engine's rem / rate for a lone flow
        p = pattern.ranks
        self.part = pattern.participants
        self.full = self.part.size == p
        delay = gamma[self.part] * pattern.recv_reduce_bytes[self.part]
        self.delay = delay if np.any(delay > 0) else None
        m = len(pattern)
        self.identity = m == p and bool(np.array_equal(self.src, np.arange(p)))
        self.src_unique = np.unique(self.src).size == m
        self.dst_unique = np.unique(self.dst).size == m
        # rank r sends to r + shift (a ring): gathers and scatters become two slice copies
        self.shift = int(self.dst[0]) if self.identity and np.array_equal(self.dst, np.roll(np.arange(p), -int(
            self.dst[0]))) else 0
        # a number when equal for every message (the same sums, cheaper)
        self.lat_add = float(self.lat[0]) if m and np.all(self.lat == self.lat[0]) else self.lat
        self.q_add = float(self.q[0]) if m and np.all(self.q == self.q[0]) else self.q

    def advance(self, ready: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step from ``ready`` (per rank): (start and finish per message, finish of each
        participant's last message)."""
        if self.shift:
            return self.advance_shift(ready, np.empty(p), np.empty(p), np.empty(p))
        if self.identity:
            start = np.maximum(ready, ready[self.dst])
        else:
            start = np.maximum(ready[self.src], ready[self.dst])
        fin = start + self.lat_add
        fin += self.q_add
        if self.identity and self.dst_unique:
            last = fin.copy()
            last[self.dst] = np.maximum(fin[self.dst], fin)
        else:
            last = np.full(p, -np.inf)
            if self.src_unique:
                last[self.src] = fin
            else:
                np.maximum.at(last, self.src, fin)
            if self.dst_unique:
                last[self.dst] = np.maximum(last[self.dst], fin)
            else:
                np.maximum.at(last, self.dst, fin)
        return start, fin, last if self.full else last[self.part]

    def advance_shift(self, ready: np.ndarray, start: np.ndarray, fin: np.ndarray, last: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`advance` for a ring (rank r sends to r + shift), into the given arrays:
        the gathers and scatters become slice copies."""
        k = self.shift
        n = ready.size - k
        start[:n] = ready[k:]                            # ready[dst]
        start[n:] = ready[:k]
        np.maximum(start, ready, out=start)
        np.add(start, self.lat_add, out=fin)
        fin += self.q_add
        last[k:] = fin[:n]                               # the finish of the message each rank receives
        last[:k] = fin[n:]
        np.maximum(last, fin, out=last)
        return start, fin, last


@dataclass
class Snapshot:
    """Every rank and flow of a contention-free run at time ``t`` (events at ``t`` or later
    have not happened yet).

    ``step[r]``: the step rank r is in (-1: not started, ``num_steps``: finished);
    ``remaining[r]``: its messages of that step not finished; ``reduce_end[r]``: when its
    reduction ends if it is reducing (else nan); ``finish[r]``: when it finished (else nan).
    ``flights``: flows started and not finished, per step: (step, message indices, start
    times, activation times). Finished flows: bytes and busy seconds per directed link,
    count, last finish time; ``partial_bytes``/``partial_busy_s``: the flows in flight so
    far. ``reduce_busy_s`` per rank, ``messages_started``, ``bytes_started``.
    """

    t: float
    step: np.ndarray
    remaining: np.ndarray
    reduce_end: np.ndarray
    finish: np.ndarray
    reduce_busy_s: np.ndarray
    link_bytes: np.ndarray
    link_busy_s: np.ndarray
    partial_bytes: np.ndarray
    partial_busy_s: np.ndarray
    flows_finished: int = 0
    last_finish_s: float = 0.0
    messages_started: int = 0
    bytes_started: float = 0.0
    flights: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)


class MaxPlusSchedule:
    """The recurrence for ``program`` on ``network``'s topology, ranks on ``hosts``.

    Build with :meth:`plan`, which returns ``None`` when the program is not contention-free
    on that placement (or too big to check); :attr:`resources` are the capacity resources
    it uses (to reserve). :meth:`run` gives the per-rank finish times and totals.
    """

    def __init__(self, network: Any, program: StepProgram, hosts: np.ndarray, gamma: np.ndarray,
                 steps: dict[int, _Step], resources: np.ndarray) -> None:
        self.network = network
        self.program = program
        self.hosts = hosts
        self.gamma = gamma
        self._steps = steps
        self.resources = resources

    @classmethod
    def plan(cls, network: Any, program: StepProgram, hosts: np.ndarray, gamma: np.ndarray) -> MaxPlusSchedule | None:
        """The schedule, or ``None`` when (a) or (b) of the module docstring fails."""
        uses = np.bincount(program.order, minlength=len(program.patterns)) if program.num_steps else np.zeros(0, int)
        used = np.flatnonzero(uses).tolist()
        if isinstance(program.patterns, LazyPatterns) and len(used) * program.ranks > MESSAGE_BUDGET:
            return None                                    # before making them all
        if sum(len(program.patterns[i]) for i in used) > MESSAGE_BUDGET:
            return None
        n_res = network.topology.num_links
        first = np.full(n_res, -1, dtype=np.int64)       # one message's endpoints per resource
        second = np.full(n_res, -1, dtype=np.int64)
        ok_first = np.ones(n_res, dtype=bool)             # every message on it has that endpoint
        ok_second = np.ones(n_res, dtype=bool)
        steps: dict[int, _Step] = {}
        for i in used:
            pat = program.patterns[i]
            if not len(pat):
                continue
            flows = network.pattern(hosts[pat.src], hosts[pat.dst])
            res = flows.res
            if np.unique(res).size != res.size:
                return None                                # (a): two messages of a step share a resource
            src = pat.src[flows.entry_flow]
            dst = pat.dst[flows.entry_flow]
            new = first[res] < 0
            first[res[new]] = src[new]
            second[res[new]] = dst[new]
            ok_first[res[(src != first[res]) & (dst != first[res])]] = False
            ok_second[res[(src != second[res]) & (dst != second[res])]] = False
            steps[i] = _Step(pat, flows, gamma)
        touched = first >= 0
        if np.any(touched & ~ok_first & ~ok_second):
            return None                                    # (b): messages without a common rank share a resource
        return cls(network, program, hosts, gamma, steps, np.flatnonzero(touched))

    # ------------------------------------------------------------------ full replay
    def run(self, ready: np.ndarray, on_step: Callable[[int, int], Any] | None = None
            ) -> tuple[np.ndarray, float]:
        """Replay every step from ``ready`` (each rank's start time): (each rank's finish
        time, the last flow's finish time)."""
        ready = np.array(ready, dtype=float)
        p = ready.size
        order = self.program.order.tolist()
        total = len(order)
        last_flow = -np.inf
        every = max(1, total // 200)
        start, fin, spare = np.empty(p), np.empty(p), np.empty(p)
        for k, i in enumerate(order):
            st = self._steps.get(i)
            if st is None:
                continue
            if st.shift:   # the common case, without allocations: the new ready times go to spare
                st.advance_shift(ready, start, fin, spare)
                last_flow = max(last_flow, float(fin.max()))
                if st.delay is not None:
                    spare += st.delay
                ready, spare = spare, ready
            else:
                _start, fin_k, done = st.advance(ready, p)
                if fin_k.size:
                    last_flow = max(last_flow, float(fin_k.max()))
                if st.delay is not None:
                    done = done + st.delay
                if st.full:
                    ready = done
                else:
                    ready[st.part] = done
            if on_step is not None and (k % every == 0 or k == total - 1):
                on_step(k, total)
        return ready, last_flow

    def totals(self) -> tuple[np.ndarray, np.ndarray, int, float, np.ndarray]:
        """(bytes and busy seconds per directed link, messages, bytes sent, reduction
        seconds per rank) of the whole run: sums over patterns, times their uses."""
        n_links = self.network.topology.num_links
        link_bytes = np.zeros(n_links)
        link_busy = np.zeros(n_links)
        reduce_s = np.zeros(self.program.ranks)
        messages = 0
        sent = 0.0
        uses = np.bincount(self.program.order, minlength=len(self.program.patterns))
        for i, st in self._steps.items():
            u = int(uses[i])
            fp = st.flows
            link_bytes += u * np.bincount(fp.links, weights=st.pattern.nbytes[fp.entry_flow], minlength=n_links)
            link_busy += u * np.bincount(fp.links, weights=st.q[fp.entry_flow], minlength=n_links)
            messages += u * len(st.pattern)
            sent += u * st.pattern.total_bytes()
            if st.delay is not None:
                reduce_s[st.part] += u * st.delay
        return link_bytes, link_busy, messages, sent, reduce_s

    # ------------------------------------------------------------------ state at a time
    def snapshot(self, ready: np.ndarray, t: float, spans: Callable[..., Any] | None = None) -> Snapshot:
        """Every rank and flow at time ``t`` when the run started with ``ready``.

        ``spans(kind, ranks_or_steps...)``, if given, receives what finished before ``t``
        for the trace: ``spans("flow", step, msgs, start, finish)`` and
        ``spans("reduce", ranks, start, end, nbytes)``.
        """
        program = self.program
        p = program.ranks
        n_links = self.network.topology.num_links
        ready = np.array(ready, dtype=float)
        snap = Snapshot(t, np.where(ready < t, program.num_steps, -1), np.zeros(p, dtype=np.int64),
                        np.full(p, np.nan), np.where(ready < t, ready, np.nan), np.zeros(p), np.zeros(n_links),
                        np.zeros(n_links), np.zeros(n_links), np.zeros(n_links))
        for k, i in enumerate(program.order.tolist()):
            if ready.min() >= t:
                break              # every later message starts at t or after
            st = self._steps.get(i)
            if st is None:
                continue
            pat, fp = st.pattern, st.flows
            arrive = ready[st.part]
            start, fin, last = st.advance(ready, p)
            done = last + st.delay if st.delay is not None else last
            # messages: started before t; finished before t; the rest started are in flight
            started = start < t
            finished = fin < t
            flying = started & ~finished
            if started.any():
                snap.messages_started += int(started.sum())
                snap.bytes_started += float(pat.nbytes[started].sum())
            if finished.any():
                emask = finished[fp.entry_flow]
                links = fp.links[emask]
                snap.link_bytes += np.bincount(links, weights=pat.nbytes[fp.entry_flow][emask], minlength=n_links)
                snap.link_busy_s += np.bincount(links, weights=st.q[fp.entry_flow][emask], minlength=n_links)
                snap.flows_finished += int(finished.sum())
                snap.last_finish_s = max(snap.last_finish_s, float(fin[finished].max()))
                if spans is not None:
                    spans("flow", k, np.flatnonzero(finished), start[finished], fin[finished])
            if flying.any():
                act = start + st.lat
                msgs = np.flatnonzero(flying)
                snap.flights.append((k, msgs, start[msgs], act[msgs]))
                on = flying & (act < t)
                if on.any():
                    emask = on[fp.entry_flow]
                    sent = np.minimum(pat.nbytes, fp.bottleneck_Bps * (t - act))
                    links = fp.links[emask]
                    snap.partial_bytes += np.bincount(links, weights=sent[fp.entry_flow][emask], minlength=n_links)
                    since = (t - act)[fp.entry_flow][emask]
                    snap.partial_busy_s += np.bincount(links, weights=since, minlength=n_links)
            # ranks of this step: in it at t when they arrived before t and complete at t or later
            part = st.part
            here = (arrive < t) & (done >= t)
            if here.any():
                ranks = part[here]
                snap.step[ranks] = k
                snap.finish[ranks] = np.nan
                fin_count = np.bincount(pat.src[finished], minlength=p) + np.bincount(pat.dst[finished], minlength=p)
                snap.remaining[ranks] = pat.degree[ranks] - fin_count[ranks]
                reducing = here & (last < t)
                snap.reduce_end[part[reducing]] = done[reducing]
            gone = (arrive < t) & (done < t)
            if gone.any():
                ranks = part[gone]
                snap.step[ranks] = program.num_steps      # until a later step says otherwise
                snap.finish[ranks] = done[gone]
            if st.delay is not None:
                began = (arrive < t) & (last < t) & (st.delay > 0)
                if began.any():
                    snap.reduce_busy_s[part[began]] += st.delay[began]
                    if spans is not None:
                        spans("reduce", part[began], last[began], done[began], pat.recv_reduce_bytes[part[began]])
            if st.full:
                ready = done
            else:
                ready[part] = done
        return snap
