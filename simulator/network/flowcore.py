"""The engine inside :class:`~simulator.network.FlowNetwork`: slots, wakeups, recomputation.

How it stays fast (tens of millions of flows):

* flows live in struct-of-arrays *slots* (:class:`FlowSlots`: one element per array and flow;
  :class:`EntrySlots`: one *entry* per flow and link crossed), never one Python object or simpy
  process each; slots are appended
  and compacted in bulk once at least half are dead, or reused from the start whenever every
  flow has finished;
* the engine owns a single kind of simpy event, a :class:`Wakeup`, scheduled at the next instant
  something happens (an activation or the earliest completion) with a priority below simpy's
  normal one (:data:`~simulator.engine.LATE`), so every flow started at an instant is
  collected before one recomputation;
* flows whose predicted finish times agree to :data:`TIME_RTOL` complete in one wakeup;
* max-min rates come from :func:`~simulator.network.maxmin.max_min_rates`, restricted exactly
  to the flows the change can affect: the connected component(s) of the touched links when
  they are a minority, and the flows whose rate is not below the *floor* of the change (see
  :meth:`FlowCore._recompute`); each link's level at the previous recomputation is the order
  of saturation it tries first (one triangular solve, certified);
* remaining bytes are updated exactly (``remaining -= rate * dt``) only when a rate changes;
* a caller that can predict its own flows exactly (each alone on its links) may *reserve*
  those links and move its flows itself, with no event here (see
  :meth:`~simulator.network.FlowNetwork.reserve`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import simpy

from ..engine import LATE, Simulation
from .maxmin import max_min_rates
from .topology import Topology

if TYPE_CHECKING:
    from .flows import FlowBatch, ReservationHolder

__all__ = ["FlowCore", "FlowSlots", "EntrySlots", "Wakeup", "TIME_RTOL"]

# Events closer than this (relative to the current time) are simultaneous.
TIME_RTOL = 1e-12
_DEAD, _PENDING, _ACTIVE = 0, 1, 2
# Flows whose rate is below the recomputation floor by more than this keep their rate.
_FLOOR_MARGIN = 1e-9
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.setflags(write=False)



def _ints() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _floats() -> np.ndarray:
    return np.zeros(0)


@dataclass(slots=True)
class FlowSlots:
    """The per-flow arrays of the slot pool, one element per slot (a flow, live or dead)."""

    state: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))  # _DEAD, _PENDING or _ACTIVE
    batch: np.ndarray = field(default_factory=_ints)      # id of the flow's FlowBatch
    local: np.ndarray = field(default_factory=_ints)      # the flow's index in its batch
    src: np.ndarray = field(default_factory=_ints)        # source host rank
    dst: np.ndarray = field(default_factory=_ints)        # destination host rank
    t0: np.ndarray = field(default_factory=_floats)       # start time (s)
    nbytes: np.ndarray = field(default_factory=_floats)   # size (bytes)
    rem: np.ndarray = field(default_factory=_floats)      # bytes left at time tref
    tref: np.ndarray = field(default_factory=_floats)     # when rem was last brought up to date (s)
    rate: np.ndarray = field(default_factory=_floats)     # current rate (bytes/s)
    cap: np.ndarray = field(default_factory=_floats)      # rate cap (bytes/s; inf for none)
    fin: np.ndarray = field(default_factory=_floats)      # predicted finish time (s; inf unless active)
    e0: np.ndarray = field(default_factory=_ints)         # first entry of the flow in the entry pool
    ne: np.ndarray = field(default_factory=_ints)         # number of entries (links crossed)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Every array, in field order."""
        return (self.state, self.batch, self.local, self.src, self.dst, self.t0, self.nbytes, self.rem, self.tref,
                self.rate, self.cap, self.fin, self.e0, self.ne)

    def grown(self, size: int, used: int) -> FlowSlots:
        """A pool of ``size`` slots holding the first ``used`` of these."""
        return FlowSlots(*(_grow(arr, size, used) for arr in self.arrays()))


@dataclass(slots=True)
class EntrySlots:
    """The per-entry arrays of the slot pool: one entry per (flow, link crossed), in slot order."""

    slot: np.ndarray = field(default_factory=_ints)   # the flow's slot
    link: np.ndarray = field(default_factory=_ints)   # directed link id
    res: np.ndarray = field(default_factory=_ints)    # capacity resource of the link

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Every array, in field order."""
        return (self.slot, self.link, self.res)

    def grown(self, size: int, used: int) -> EntrySlots:
        """A pool of ``size`` entries holding the first ``used`` of these."""
        return EntrySlots(*(_grow(arr, size, used) for arr in self.arrays()))


class Wakeup(simpy.Event):
    """A simpy event that succeeds by itself, with value ``None``, ``delay`` seconds after its
    creation, processed at priority :data:`~simulator.engine.LATE` and handed to ``callback``.

    simpy has no public call for "succeed at a later time and another priority": its own
    :class:`simpy.Timeout` marks itself succeeded in its constructor and schedules itself, and so
    does this subclass (at ``LATE`` instead of ``NORMAL``). Nothing else may succeed or fail it.
    """

    def __init__(self, env: simpy.Environment, delay: float, callback: Callable[[simpy.Event], None]) -> None:
        super().__init__(env)
        self._ok = True       # succeeded from the start, as simpy.Timeout is
        self._value = None
        self.callbacks.append(callback)
        env.schedule(self, LATE, delay)


class FlowCore:
    """Flow storage, the wakeup loop and rate recomputation. :class:`FlowNetwork` adds the
    public API (starting flows, statistics); batches it registers in ``_batches`` are told
    when their flows finish."""

    def __init__(self, sim: Simulation, topology: Topology, *, record_flows: bool = True) -> None:
        self.sim = sim
        self.env = sim.env
        self.topology = topology
        self.record_flows = bool(record_flows)
        n_links = topology.num_links
        self._n_links = n_links
        self._capacity = np.asarray(topology.capacity_Bps, dtype=float)
        self._bytes_done = np.zeros(n_links)
        self._busy_done = np.zeros(n_links)
        self._on_link = np.zeros(n_links, dtype=np.int64)  # active flows per directed link
        self._duplex = bool(np.array_equal(topology.resource_of_link, np.arange(n_links)))
        # active flows per capacity resource (the same array when every link is full duplex)
        self._on_res = self._on_link if self._duplex else np.zeros(n_links, dtype=np.int64)
        self._busy_since = np.zeros(n_links)
        self.flows_started = 0
        self.flows_finished = 0
        self.rate_recomputations = 0
        self.flows_rerated = 0
        self.wakeups = 0
        self.last_finish_s = 0.0
        # slot pool
        self._slots = 0
        self._n = 0
        self._entries = 0
        self._n_entries = 0
        self._flow = FlowSlots()
        self._entry = EntrySlots()
        self._n_pending = 0
        self._n_active = 0
        self._n_dead = 0
        self._pending: list[tuple[float, int, np.ndarray]] = []  # (activation time, seq, slots)
        self._wake_times: list[float] = []
        self._seq = 0
        self._next_flow_id = 0
        self._next_batch_id = 0
        self._batches: dict[int, FlowBatch] = {}  # id -> FlowBatch of unfinished batches
        self._closure_skip = 0     # component searches to skip (backoff while they keep failing)
        self._closure_backoff = 1
        # reservations (see FlowNetwork.reserve): capacity resource -> holder id, and the holders
        self._level_hint = np.full(n_links, np.nan)  # each resource's last saturation level (max-min order hint)
        self._holder_of = np.full(n_links, -1, dtype=np.int64)
        self._holders: dict[int, ReservationHolder] = {}
        self._next_holder = 0

    # ------------------------------------------------------------------ slot pool
    def _alloc(self, m: int, e: int) -> tuple[int, int]:
        if self._n + m > self._slots:
            self._slots = max(2 * self._slots, self._n + m, 1024)
            self._flow = self._flow.grown(self._slots, self._n)
        if self._n_entries + e > self._entries:
            self._entries = max(2 * self._entries, self._n_entries + e, 2048)
            self._entry = self._entry.grown(self._entries, self._n_entries)
        s0, e0 = self._n, self._n_entries
        self._n += m
        self._n_entries += e
        return s0, e0

    def _compact(self) -> None:
        """Drop dead slots and their entries (amortised: runs when at least half are dead)."""
        n = self._n
        keep = self._flow.state[:n] != _DEAD
        alive = np.flatnonzero(keep)
        k = alive.size
        new_index = np.cumsum(keep) - 1
        for arr in self._flow.arrays():
            arr[:k] = arr[alive]
        epos = np.flatnonzero(keep[self._entry.slot[:self._n_entries]])
        e = epos.size
        for arr in self._entry.arrays():
            arr[:e] = arr[epos]
        self._entry.slot[:e] = new_index[self._entry.slot[:e]]
        ne = self._flow.ne[:k]
        self._flow.e0[:k] = np.cumsum(ne) - ne
        self._pending = [(t, seq, new_index[slots]) for t, seq, slots in self._pending]
        self._n, self._n_entries, self._n_dead = k, e, 0

    def _entry_offsets(self, slots: np.ndarray) -> np.ndarray:
        """Positions in the entry pool of every entry of ``slots`` (sorted, unique), in slot order."""
        if slots.size == self._n:  # every slot: the whole pool, in order
            return np.arange(self._n_entries, dtype=np.int64)
        counts = self._flow.ne[slots]
        total = int(counts.sum())
        if total == 0:
            return _EMPTY
        ends = np.cumsum(counts)
        return np.arange(total, dtype=np.int64) + np.repeat(self._flow.e0[slots] - (ends - counts), counts)

    # ------------------------------------------------------------------ event loop
    def _schedule(self, t: float) -> None:
        now = self.env.now
        if t < now:
            t = now
        if self._wake_times and self._wake_times[0] <= t:
            return  # an earlier wakeup will look again
        Wakeup(self.env, t - now, self._on_wakeup)
        heapq.heappush(self._wake_times, t)

    def _on_wakeup(self, _event: simpy.Event) -> None:
        heapq.heappop(self._wake_times)
        self.wakeups += 1
        now = float(self.env.now)
        horizon = now + TIME_RTOL * abs(now)
        if self._n_dead >= 1024 and 2 * self._n_dead >= self._n:
            self._compact()
        done, done_res, done_floor = self._complete_due(horizon, now)
        activated, instant, act_res = self._activate_due(horizon, now)
        if done.size or activated.size:
            self._recompute(now, done.size, done_res, done_floor, activated, act_res)
        finished = done if not instant.size else np.concatenate((done, instant))
        if finished.size:
            self._finish(finished, now)
        if self._n_active or self._pending:
            t_next = np.inf
            if self._n_active:
                t_next = float(self._flow.fin[:self._n].min())
            if self._pending:
                t_next = min(t_next, self._pending[0][0])
            if t_next < np.inf:
                self._schedule(t_next)

    def _complete_due(self, horizon: float, now: float) -> tuple[np.ndarray, np.ndarray, float]:
        """Retire the active flows whose finish time has come; returns (slots, their resources,
        their smallest rate)."""
        if not self._n_active:
            return _EMPTY, _EMPTY, np.inf
        due = np.flatnonzero(self._flow.fin[:self._n] <= horizon)
        if not due.size:
            return _EMPTY, _EMPTY, np.inf
        floor = float(self._flow.rate[due].min())
        offs = self._entry_offsets(due)
        links = self._entry.link[offs]
        self._links_off(offs, now)
        weights = np.repeat(self._flow.nbytes[due], self._flow.ne[due])
        if links.size * 8 < self._n_links:
            np.add.at(self._bytes_done, links, weights)
        else:
            self._bytes_done += np.bincount(links, weights=weights, minlength=self._n_links)
        self._flow.state[due] = _DEAD
        self._flow.fin[due] = np.inf
        self._flow.rate[due] = 0.0
        self._flow.rem[due] = 0.0
        self._n_active -= due.size
        return due, self._entry.res[offs], floor

    def _activate_due(self, horizon: float, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pending = self._pending
        if not pending or pending[0][0] > horizon:
            return _EMPTY, _EMPTY, _EMPTY
        groups = []
        while pending and pending[0][0] <= horizon:
            groups.append(heapq.heappop(pending)[2])
        slots = groups[0] if len(groups) == 1 else np.sort(np.concatenate(groups))
        self._n_pending -= slots.size
        instant_mask = (self._flow.nbytes[slots] == 0) | (self._flow.ne[slots] == 0)
        instant = _EMPTY
        if instant_mask.any():
            instant = slots[instant_mask]
            slots = slots[~instant_mask]
            self._flow.state[instant] = _DEAD
            self._flow.rem[instant] = 0.0
        if not slots.size:
            return _EMPTY, instant, _EMPTY
        self._flow.state[slots] = _ACTIVE
        self._flow.tref[slots] = now
        self._flow.rem[slots] = self._flow.nbytes[slots]
        self._flow.rate[slots] = 0.0
        self._n_active += slots.size
        offs = self._entry_offsets(slots)
        self._links_on(offs, now)
        return slots, instant, self._entry.res[offs]

    def _recompute(self, now: float, n_done: int, done_res: np.ndarray, floor: float, arrived: np.ndarray,
                   arrived_res: np.ndarray) -> None:
        """New max-min rates for the active flows that the change can affect.

        ``n_done`` flows left (crossing ``done_res``, the smallest of their rates is ``floor``)
        and the flows ``arrived`` became active (crossing ``arrived_res``). Exact restrictions:

        * when every flow that arrived is alone on its links and every flow that left leaves its
          links empty, nothing else changes and an arriving flow gets its path's bottleneck
          (or its cap);
        * otherwise, the connected component(s) of the touched resources when that is a minority
          of the flows;
        * and the flows whose rate is not below the *floor*: progressive filling below the
          smallest rate of a flow that left, or below the smallest initial fair share of a flow
          that arrived, happens exactly as before (those flows' links saturate no earlier), so
          flows frozen below it keep their rates.
        """
        if not self._n_active:
            return
        if (not done_res.size or not self._on_res[done_res].any()) and bool(np.all(self._on_res[arrived_res] == 1)):
            if arrived.size:
                self._rate_alone(now, arrived, arrived_res)
            return
        touched_res = np.concatenate((done_res, arrived_res))
        n_changed = n_done + arrived.size
        new_flows = arrived.size > 0
        flows = np.flatnonzero(self._flow.state[:self._n] == _ACTIVE)
        offs = self._entry_offsets(flows)
        res = self._entry.res[offs]
        local = np.repeat(np.arange(flows.size, dtype=np.int64), self._flow.ne[flows])
        if 4 * n_changed < flows.size:
            if self._closure_skip:  # recent closures spanned most flows: do not look for a while
                self._closure_skip -= 1
            else:
                subset = _component(local, res, flows.size, touched_res, self._n_links)
                if subset is None:
                    self._closure_backoff = min(2 * self._closure_backoff, 64)
                    self._closure_skip = self._closure_backoff
                else:
                    self._closure_backoff = 1
                    if not subset.any():
                        return
                    flows, local, res = _restrict(subset, flows, local, res)
        old_rate = self._flow.rate[flows]
        capacity = self._capacity
        arriving = None
        if new_flows:
            arriving = old_rate == 0.0
            if arriving.all():
                floor = 0.0  # nothing to keep
        if floor > 0.0 and arriving is not None and arriving.any():
            # an arriving flow's rate is at least its smallest fair share with everyone present
            fresh = res[arriving[local]]
            first_share = capacity[fresh] / np.bincount(res, minlength=self._n_links)[fresh]
            floor = min(floor, float(first_share.min()))
        if 0.0 < floor < np.inf:
            keep_rate = old_rate < floor * (1.0 - _FLOOR_MARGIN)
            if arriving is not None:
                keep_rate &= ~arriving
            if keep_rate.any():
                held = keep_rate[local]
                capacity = capacity - np.bincount(res[held], weights=old_rate[local[held]], minlength=capacity.size)
                np.maximum(capacity, 0.0, out=capacity)
                flows, local, res = _restrict(~keep_rate, flows, local, res)
                old_rate = self._flow.rate[flows]
                if not flows.size:
                    return
        self.rate_recomputations += 1
        self.flows_rerated += flows.size
        self._level_hint[arrived_res] = np.nan  # their levels fall: start them from their share
        rate = max_min_rates(local, res, flows.size, capacity, self._flow.cap[flows], hint=self._level_hint)
        rem = self._flow.rem[flows] - old_rate * (now - self._flow.tref[flows])
        np.maximum(rem, 0.0, out=rem)
        self._flow.rem[flows] = rem
        self._flow.tref[flows] = now
        self._flow.rate[flows] = rate
        self._flow.fin[flows] = now + rem / rate

    def _rate_alone(self, now: float, flows: np.ndarray, res: np.ndarray) -> None:
        """Rates of newly active flows that share no resource: bottleneck capacity or cap."""
        self.rate_recomputations += 1
        self.flows_rerated += flows.size
        share = self._capacity[res]
        hops = self._flow.ne[flows]
        k = int(hops[0])
        if k * flows.size == share.size and int(hops.min()) == k:  # every flow has k hops
            rate = share.reshape(flows.size, k).min(axis=1) if k > 1 else share.copy()
        else:
            starts = np.zeros(flows.size, dtype=np.int64)
            np.cumsum(hops[:-1], out=starts[1:])
            rate = np.minimum.reduceat(share, starts)
        np.minimum(rate, self._flow.cap[flows], out=rate)
        self._flow.rate[flows] = rate
        self._flow.fin[flows] = now + self._flow.rem[flows] / rate

    def _finish(self, slots: np.ndarray, now: float) -> None:
        """Bookkeeping and callbacks for flows that finished at ``now``."""
        self.flows_finished += slots.size
        self.last_finish_s = now
        self._n_dead += slots.size
        batch_ids = self._flow.batch[slots]
        local = self._flow.local[slots]
        record = self.record_flows and self.sim.trace.enabled
        if record:
            src, dst = self._flow.src[slots], self._flow.dst[slots]
            t0, nbytes = self._flow.t0[slots], self._flow.nbytes[slots]
        if not self._n_active and not self._n_pending:
            self._n = self._n_entries = self._n_dead = 0  # everything is finished: reuse the pool from the start
        if batch_ids.size == 1 or batch_ids.min() == batch_ids.max():
            groups = [(int(batch_ids[0]), slice(None))]
        else:
            order = np.argsort(batch_ids, kind="stable")
            sorted_ids = batch_ids[order]
            cuts = np.flatnonzero(np.diff(sorted_ids)) + 1
            groups = [(int(sorted_ids[a]), order[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, sorted_ids.size])]
        names = self.topology.host_names
        for batch_id, sel in groups:
            batch = self._batches[batch_id]
            idx = local[sel]
            all_done = batch.mark_finished(idx, now)
            if record:
                s, d = names[src[sel]], names[dst[sel]]
                labels = (batch.name + " " if batch.name else "") + s + "->" + d
                self.sim.trace.record_many(s, "flow", t0[sel], np.full(idx.size, now), nbytes[sel], labels)
            if all_done:
                del self._batches[batch_id]
            if batch.on_finish is not None:
                batch.on_finish(batch, idx, now)
            if all_done:
                batch.done.succeed(batch)

    def _links_on(self, offs: np.ndarray, now: float) -> None:
        """Count flows (entries ``offs``) becoming active on their links; start busy periods."""
        links = self._entry.link[offs]
        if links.size * 8 < self._n_links:
            idle = links[self._on_link[links] == 0]
            np.add.at(self._on_link, links, 1)
        else:
            count = np.bincount(links, minlength=self._n_links)
            idle = np.flatnonzero((self._on_link == 0) & (count > 0))
            self._on_link += count
        self._busy_since[idle] = now
        if not self._duplex:
            np.add.at(self._on_res, self._entry.res[offs], 1)

    def _links_off(self, offs: np.ndarray, now: float) -> None:
        """Count flows (entries ``offs``) leaving their links; close busy periods."""
        links = self._entry.link[offs]
        if links.size * 8 < self._n_links:
            np.subtract.at(self._on_link, links, 1)
            idle = links[self._on_link[links] == 0]  # may repeat a link: the += below applies once
        else:
            count = np.bincount(links, minlength=self._n_links)
            self._on_link -= count
            idle = np.flatnonzero((self._on_link == 0) & (count > 0))
        self._busy_done[idle] += now - self._busy_since[idle]
        if not self._duplex:
            np.subtract.at(self._on_res, self._entry.res[offs], 1)


def _restrict(subset: np.ndarray, flows: np.ndarray, local: np.ndarray, res: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the flows of a mask (and their entries), renumbering the local flow ids."""
    keep = subset[local]
    renumber = np.cumsum(subset) - 1
    return flows[subset], renumber[local[keep]], res[keep]


def _component(local: np.ndarray, res: np.ndarray, n_flows: int, touched: np.ndarray, n_res: int) -> np.ndarray | None:
    """Mask of the flows connected (through shared resources) to the touched resources, or
    ``None`` when that is most of the flows (then recomputing everything is cheaper)."""
    marked = np.zeros(n_res, dtype=bool)
    marked[touched] = True
    member = np.zeros(n_flows, dtype=bool)
    count = 0
    while True:
        member[local[marked[res]]] = True
        new_count = int(np.count_nonzero(member))
        if new_count == count:
            return member
        if 2 * new_count > n_flows:
            return None
        count = new_count
        marked[res[member[local]]] = True


def _grow(arr: np.ndarray, size: int, used: int) -> np.ndarray:
    out = np.zeros(size, dtype=arr.dtype)
    out[:used] = arr[:used]
    return out
