"""The flow-level network: transfers share directed links max-min fairly (SimGrid's model).

Semantics (spec: network.md, "Flow-level transfer semantics"): a flow of ``n`` bytes started at
``t0`` first waits the latency of its path, then becomes *active* and shares every directed
link it crosses max-min fairly with the other active flows (progressive filling; an optional
per-flow rate cap joins the same computation). Rates are recomputed whenever a flow becomes
active or finishes, so a flow's rate is piecewise constant and it finishes when its bytes are
through: ``finish = t0 + path latency + time to push n bytes``. Zero-byte flows finish after
the latency; a flow to itself finishes at once (at the same simulated instant).

Flows are started in batches (:meth:`FlowNetwork.start` takes arrays) and handled as arrays
by the engine (:mod:`simulator.network.flowcore`); a :class:`FlowBatch` is the caller's handle.
Routes come precomputed in :class:`~simulator.network.patterns.FlowPattern` objects, cached by
the content of the (src, dst) arrays, so a collective that repeats a pattern pays for routing
once.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, Union

import numpy as np
import simpy

from hwmodels import SpecError

from ..engine import Simulation
from ..timeline import Timeline
from .flowcore import _ACTIVE, _DEAD, _PENDING, TIME_RTOL, FlowCore
from .patterns import FlowPattern
from .topology import Topology

__all__ = ["FlowNetwork", "FlowBatch", "TIME_RTOL"]

_PATTERN_CACHE_SIZE = 128

OnFinish = Callable[["FlowBatch", np.ndarray, float], Any]
# host names or ranks: one, a sequence, or an array
Hosts = Union[str, int, Sequence[Union[str, int]], np.ndarray]
# one number for every flow, or one per flow
PerFlow = Union[float, Sequence[float], np.ndarray]


class ReservationHolder(Protocol):
    """What :meth:`FlowNetwork.reserve` needs of a holder (see there)."""

    def interrupt(self, now: float) -> None:
        """Hand the reservation back before another flow starts on it at ``now`` (s)."""

    def stats_at(self, now: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(bytes per link, busy seconds per link, last finish time in s) of its flows so far."""


class FlowBatch:
    """The flows of one :meth:`FlowNetwork.start` call.

    Attributes
    ----------
    ids: global flow ids (consecutive).
    src, dst: host ranks of the flows.
    nbytes: sizes.
    start_s: start times (all equal to the time of the call).
    finish_s: finish times, ``nan`` until each flow finishes.
    done: simpy event that fires, with this batch as value, when every flow has finished.
    """

    __slots__ = ("network", "id", "ids", "pattern", "nbytes", "start_s", "finish_s", "name", "on_finish", "done",
                 "_left")

    def __init__(self, network: FlowNetwork, batch_id: int, ids: np.ndarray, pattern: FlowPattern, nbytes: np.ndarray,
                 now: float, name: str, on_finish: OnFinish | None) -> None:
        self.network = network
        self.id = batch_id
        self.ids = ids
        self.pattern = pattern
        self.nbytes = nbytes
        self.start_s = np.full(pattern.n, now)
        self.finish_s = np.full(pattern.n, np.nan)
        self.name = name
        self.on_finish = on_finish
        self.done: simpy.Event = network.env.event()
        self._left = pattern.n

    @property
    def src(self) -> np.ndarray:
        """Source host ranks."""
        return self.pattern.src

    @property
    def dst(self) -> np.ndarray:
        """Destination host ranks."""
        return self.pattern.dst

    def mark_finished(self, local: np.ndarray, now: float) -> bool:
        """Record that flows ``local`` (indices in the batch) finished at ``now`` (s); True when
        that was the batch's last. The engine calls this; ``done`` is its to succeed."""
        self.finish_s[local] = now
        self._left -= local.size
        return self._left == 0

    @property
    def remaining(self) -> int:
        """Number of flows of the batch not finished yet."""
        return self._left

    @property
    def finished(self) -> bool:
        """True when every flow of the batch has finished."""
        return self._left == 0

    def __len__(self) -> int:
        return self.pattern.n

    def __repr__(self) -> str:
        return f"FlowBatch(id={self.id}, {self.pattern.n} flows, {self._left} left, name={self.name!r})"


class FlowNetwork(FlowCore):
    """Flow-level transfers on a :class:`Topology` inside a :class:`Simulation`.

    Parameters
    ----------
    sim: the simulation (its clock, and its trace recorder for per-flow spans).
    topology: hosts, switches, links.
    record_flows: record one span per flow (resource = source host, kind ``"flow"``) into
        ``sim.trace``. Per-link statistics are kept either way.

    Statistics: :attr:`bytes_per_link`, :attr:`busy_s_per_link` (by directed link id),
    :attr:`energy_J`, :attr:`flows_started`, :attr:`flows_finished`,
    :attr:`rate_recomputations` (max-min computations), :attr:`flows_rerated` (flows they
    covered, summed), :attr:`wakeups` (events processed), :attr:`last_finish_s`.
    """

    def __init__(self, sim: Simulation, topology: Topology, *, record_flows: bool = True) -> None:
        super().__init__(sim, topology, record_flows=record_flows)
        self._patterns: OrderedDict[tuple[bytes, bytes], FlowPattern] = OrderedDict()

    # ------------------------------------------------------------------ public API
    def pattern(self, src: Hosts, dst: Hosts) -> FlowPattern:
        """The routes of flows ``src[i] -> dst[i]`` (host names or ranks; one side may be a
        single host), cached by content: reuse it with ``start(pattern=...)``."""
        topo = self.topology
        s = topo.host_indices(src)
        d = topo.host_indices(dst)
        if s.size != d.size:
            if s.size == 1:
                s = np.full(d.size, s[0], dtype=np.int64)
            elif d.size == 1:
                d = np.full(s.size, d[0], dtype=np.int64)
            else:
                raise SpecError(f"{s.size} sources but {d.size} destinations")
        key = (s.tobytes(), d.tobytes())
        pat = self._patterns.get(key)
        if pat is None:
            pat = FlowPattern(topo, s, d)
            self._patterns[key] = pat
            if len(self._patterns) > _PATTERN_CACHE_SIZE:
                self._patterns.popitem(last=False)
        else:
            self._patterns.move_to_end(key)
        return pat

    def start(self, src: Hosts | FlowPattern | None = None, dst: Hosts | None = None, nbytes: PerFlow = 0.0, *,
              pattern: FlowPattern | None = None, rate_cap_Bps: PerFlow | None = None, name: str = "",
              on_finish: OnFinish | None = None) -> FlowBatch:
        """Start flows ``src[i] -> dst[i]`` of ``nbytes[i]`` bytes now; returns their batch.

        ``src``/``dst``: host names or ranks (sequences or numpy arrays; a scalar is one flow),
        or give a precomputed ``pattern`` (``src`` may also be the pattern). ``nbytes`` and
        ``rate_cap_Bps`` are scalars or per-flow arrays (``None``/``inf``: no cap).
        ``on_finish(batch, local_indices, now)`` is called whenever some of the batch's flows
        finish (flows finishing at one instant come in one call); ``batch.done`` fires when all
        have finished.
        """
        if pattern is None and isinstance(src, FlowPattern):
            pattern = src
        pat = pattern if pattern is not None else self.pattern(src, dst)
        if pat.topology is not self.topology:
            raise ValueError("the pattern was built for another topology")
        if self._holders:
            self._interrupt_holders(pat.res)
        m = pat.n
        size = _per_flow(nbytes, m, "nbytes")
        if size.size and not (np.all(np.isfinite(size)) and size.min() >= 0):
            bad = _first_bad(size, lambda x: np.isfinite(x) & (x >= 0))
            raise SpecError(f"flow sizes must be finite and non-negative bytes, got {bad}")
        if rate_cap_Bps is None:
            cap = None
        else:
            cap = _per_flow(rate_cap_Bps, m, "rate_cap_Bps")
            if cap.size and not np.all(cap > 0):
                raise SpecError(f"rate caps must be positive (inf for none), got {_first_bad(cap, lambda x: x > 0)}")
        now = self.env.now
        ids = np.arange(self._next_flow_id, self._next_flow_id + m, dtype=np.int64)
        self._next_flow_id += m
        batch = FlowBatch(self, self._next_batch_id, ids, pat, size, now, str(name), on_finish)
        self._next_batch_id += 1
        self.flows_started += m
        if m == 0:
            batch.done.succeed(batch)
            return batch
        self._batches[batch.id] = batch
        s0, e0 = self._alloc(m, pat.nentries)
        sl = slice(s0, s0 + m)
        self._flow.state[sl] = _PENDING
        self._flow.batch[sl] = batch.id
        self._flow.local[sl] = np.arange(m)
        self._flow.src[sl] = pat.src
        self._flow.dst[sl] = pat.dst
        self._flow.t0[sl] = now
        self._flow.nbytes[sl] = size  # remaining bytes, rate and their time are set on activation
        self._flow.cap[sl] = np.inf if cap is None else cap
        self._flow.fin[sl] = np.inf
        self._flow.e0[sl] = e0 + pat.ptr[:-1]
        self._flow.ne[sl] = pat.hops
        el = slice(e0, e0 + pat.nentries)
        self._entry.slot[el] = s0 + pat.entry_flow
        self._entry.link[el] = pat.links
        self._entry.res[el] = pat.res
        self._n_pending += m
        for latency, idx in pat.latency_groups:
            slots = np.arange(s0, s0 + m, dtype=np.int64) if idx is None else s0 + idx
            heapq.heappush(self._pending, (now + latency, self._seq, slots))
            self._seq += 1
        self._schedule(now + pat.min_latency_s)
        return batch

    def transfer(self, src: str | int, dst: str | int, nbytes: float, *, rate_cap_Bps: float | None = None,
                 name: str = "") -> simpy.Event:
        """One flow; the returned event fires with the finish time (s) as value."""
        event = self.env.event()

        def finished(_batch: FlowBatch, _local: np.ndarray, now: float) -> None:
            event.succeed(now)

        self.start([src], [dst], nbytes, rate_cap_Bps=rate_cap_Bps, name=name, on_finish=finished)
        return event

    # ------------------------------------------------------------------ reservations
    def reserve(self, resources: np.ndarray, holder: ReservationHolder) -> int | None:
        """Reserve capacity resources for ``holder``, which moves its own flows over them itself.

        For callers that can predict their flows exactly because each will be alone on its
        links (a contention-free collective, see :mod:`simulator.collectives.maxplus`): no
        other flow may share a reserved resource, so each of the holder's flows runs at its
        path's bottleneck rate and needs no event here. Returns the reservation id, or
        ``None`` (nothing reserved) when a resource is reserved already or carries a flow.

        The holder must provide ``interrupt(now)``, called before any other flow starts on
        a reserved resource: it must :meth:`release` the reservation, :meth:`account` for
        its finished flows and :meth:`adopt` those still under way, so the engine shares
        links fairly from then on; and ``stats_at(now)`` -> (bytes per link, busy seconds per
        link, last finish time) of its flows so far, for statistics read mid-run.
        """
        res = np.unique(np.asarray(resources, dtype=np.int64))
        if res.size and (self._holder_of[res] >= 0).any():
            return None
        ne = self._n_entries
        if ne and res.size:
            live = self._flow.state[self._entry.slot[:ne]] != _DEAD
            used = np.zeros(self._n_links, dtype=bool)
            used[self._entry.res[:ne][live]] = True
            if used[res].any():
                return None
        rid = self._next_holder
        self._next_holder += 1
        self._holder_of[res] = rid
        self._holders[rid] = holder
        return rid

    def release(self, reservation: int) -> None:
        """End a reservation (the holder has accounted for or handed over all its flows)."""
        if self._holders.pop(reservation, None) is not None:
            self._holder_of[self._holder_of == reservation] = -1

    def account(self, link_bytes: np.ndarray | None, link_busy_s: np.ndarray | None, flows: int,
                last_finish_s: float) -> None:
        """Add a reservation holder's finished flows to the statistics: bytes and busy seconds
        per directed link, how many flows, and when the last one finished."""
        if link_bytes is not None:
            self._bytes_done += link_bytes
        if link_busy_s is not None:
            self._busy_done += link_busy_s
        self.flows_started += flows
        self.flows_finished += flows
        if flows and last_finish_s > self.last_finish_s:
            self.last_finish_s = float(last_finish_s)

    def adopt(self, src: Hosts, dst: Hosts, nbytes: PerFlow, start_s: PerFlow, active_s: PerFlow, *, name: str = "",
              on_finish: OnFinish | None = None) -> FlowBatch:
        """Take over flows a reservation holder started at ``start_s`` (s, in the past) and
        that became active at ``active_s`` (s): those active before now have been alone on
        their links since, at their path's bottleneck rate, and continue from that state;
        the others become active at ``active_s``. Returns their batch, like :meth:`start`."""
        pat = self.pattern(src, dst)
        m = pat.n
        size = _per_flow(nbytes, m, "nbytes")
        t0 = _per_flow(start_s, m, "start_s")
        act = _per_flow(active_s, m, "active_s")
        now = float(self.env.now)
        ids = np.arange(self._next_flow_id, self._next_flow_id + m, dtype=np.int64)
        self._next_flow_id += m
        batch = FlowBatch(self, self._next_batch_id, ids, pat, size, now, str(name), on_finish)
        batch.start_s[:] = t0
        self._next_batch_id += 1
        self.flows_started += m
        if m == 0:
            batch.done.succeed(batch)
            return batch
        self._batches[batch.id] = batch
        s0, e0 = self._alloc(m, pat.nentries)
        slots = np.arange(s0, s0 + m, dtype=np.int64)
        self._flow.batch[slots] = batch.id
        self._flow.local[slots] = np.arange(m)
        self._flow.src[slots] = pat.src
        self._flow.dst[slots] = pat.dst
        self._flow.t0[slots] = t0
        self._flow.nbytes[slots] = size
        self._flow.cap[slots] = np.inf
        self._flow.fin[slots] = np.inf
        self._flow.e0[slots] = e0 + pat.ptr[:-1]
        self._flow.ne[slots] = pat.hops
        el = slice(e0, e0 + pat.nentries)
        self._entry.slot[el] = s0 + pat.entry_flow
        self._entry.link[el] = pat.links
        self._entry.res[el] = pat.res
        running = (act < now) & (pat.hops > 0) & (size > 0)
        active = slots[running]
        if active.size:
            rate = pat.bottleneck_Bps[running]
            self._flow.state[active] = _ACTIVE
            self._flow.tref[active] = act[running]
            self._flow.rem[active] = size[running]
            self._flow.rate[active] = rate
            self._flow.fin[active] = act[running] + size[running] / rate
            self._n_active += active.size
            offs = self._entry_offsets(active)
            self._links_on(offs, now)
            # their links have been busy since each became active (alone on them until now)
            self._busy_since[self._entry.link[offs]] = np.repeat(act[running], pat.hops[running])
        waiting = slots[~running]
        if waiting.size:
            self._flow.state[waiting] = _PENDING
            self._n_pending += waiting.size
            when = np.maximum(act[~running], now)
            values, inverse = np.unique(when, return_inverse=True)
            for k, t in enumerate(values.tolist()):
                heapq.heappush(self._pending, (t, self._seq, waiting[inverse == k]))
                self._seq += 1
        t_next = min(float(self._flow.fin[active].min()) if active.size else np.inf,
                     float(np.maximum(act[~running], now).min()) if waiting.size else np.inf)
        self._schedule(t_next)
        return batch

    def _interrupt_holders(self, res: np.ndarray) -> None:
        hit = self._holder_of[res]
        for rid in np.unique(hit[hit >= 0]).tolist():
            holder = self._holders.get(rid)
            if holder is not None:
                holder.interrupt(float(self.env.now))
                self.release(rid)

    def _holder_stats(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Bytes and busy seconds per link, and last finish, of reservation holders' flows so far."""
        nbytes = np.zeros(self._n_links)
        busy = np.zeros(self._n_links)
        last = 0.0
        now = float(self.env.now)
        for holder in list(self._holders.values()):
            b, u, t = holder.stats_at(now)
            nbytes += b
            busy += u
            last = max(last, t)
        return nbytes, busy, last

    # ------------------------------------------------------------------ statistics
    @property
    def flows_active(self) -> int:
        """Flows past their latency and still sending."""
        return self._n_active

    @property
    def flows_pending(self) -> int:
        """Flows still waiting for their path latency."""
        return self._n_pending

    @property
    def bytes_per_link(self) -> np.ndarray:
        """Bytes moved over each directed link so far (finished flows plus the sent part of active ones)."""
        out = self._bytes_done.copy()
        if self._holders:
            out += self._holder_stats()[0]
        if self._n_active:
            now = self.env.now
            slots = np.flatnonzero(self._flow.state[:self._n] == _ACTIVE)
            sent = self._flow.nbytes[slots] - np.maximum(
                self._flow.rem[slots] - self._flow.rate[slots] * (now - self._flow.tref[slots]), 0.0)
            offs = self._entry_offsets(slots)
            out += np.bincount(self._entry.link[offs], weights=np.repeat(sent, self._flow.ne[slots]), minlength=self._n_links)
        return out

    @property
    def busy_s_per_link(self) -> np.ndarray:
        """Seconds each directed link has had at least one active flow."""
        busy = self._busy_done.copy()
        on = self._on_link > 0
        busy[on] += self.env.now - self._busy_since[on]
        if self._holders:
            busy += self._holder_stats()[1]
        return busy

    @property
    def energy_J(self) -> float:
        """Energy of the bits moved so far (bits times each link's energy per bit)."""
        return float(np.dot(self.bytes_per_link * 8.0, self.topology.energy_per_bit_J))

    def timeline(self) -> Timeline:
        """The simulation's spans with this network's per-link bytes, busy time and energy."""
        names = self.topology.link_names
        nbytes = self.bytes_per_link
        end = self.last_finish_s
        if self._n_active or self._n_pending:
            end = max(end, float(self.env.now))
        if self._holders:
            end = max(end, self._holder_stats()[2])
        return Timeline(self.sim.trace, link_bytes=dict(zip(names, nbytes.tolist())),
                        link_busy_s=dict(zip(names, self.busy_s_per_link.tolist())),
                        link_energy_J=dict(zip(names, (nbytes * 8.0 * self.topology.energy_per_bit_J).tolist())),
                        makespan_s=end)

    def rates(self) -> dict[int, float]:
        """Current rate (B/s) of every active flow, by flow id (for inspection and tests)."""
        slots = np.flatnonzero(self._flow.state[:self._n] == _ACTIVE)
        ids = [int(self._batches[b].ids[l]) for b, l in zip(self._flow.batch[slots].tolist(), self._flow.local[slots].tolist())]
        return dict(zip(ids, self._flow.rate[slots].tolist()))

    def __repr__(self) -> str:
        return (f"FlowNetwork({self.topology!r}, started={self.flows_started}, active={self._n_active}, "
                f"pending={self._n_pending})")


def _per_flow(value: PerFlow, m: int, field: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(m, float(arr))
    arr = arr.reshape(-1)
    if arr.size != m:
        raise SpecError(f"{field}: {arr.size} values for {m} flows")
    return arr.copy()


def _first_bad(values: np.ndarray, ok: Callable[[np.ndarray], np.ndarray]) -> float:
    bad = values[~ok(values)]
    return float(bad[0]) if bad.size else float("nan")
