"""The task-graph IR: one DAG per workload step, run by :mod:`simulator.executor`.

Node kinds mirror MLCommons Chakra's (so a Chakra adapter stays thin):

========== ============== ===========================================================
class      ``kind``       meaning
========== ============== ===========================================================
Compute    COMP           ``flops`` / ``bytes`` on ``worker``'s device (roofline), or a
                          given ``duration_s``; a device runs one compute at a time
Send       COMM_SEND      a transfer ``src -> dst`` of ``bytes``; starts when its deps
                          are done, completes when the bytes have arrived
Recv       COMM_RECV      on ``dst``: completes when its matching Send has arrived
                          and its own deps are done (optional: nodes may depend on
                          the Send directly)
Collective COMM_COLL      ``op`` over ``group`` by ``algorithm`` (see
                          :mod:`simulator.collectives`); starts when its deps are done
Delay      DELAY          wait ``duration_s`` (on ``worker``, if given, for the trace)
Upload     AIR_UPLOAD     senders put ``bits`` each on the cluster's shared wireless
                          medium at once (TDMA: in turn; OFDMA: band split), priced by
                          the medium's channel at fading block ``round``
Multicast  AIR_MULTICAST  one transmitter sends ``bits`` to every worker of ``dsts``
                          at the rate of the worst of them (the access point when
                          ``src`` is empty)
Airtime    AIR_TX         a transmission already computed on the real tensors (an
                          analog or digital federated round): per-sender transmit
                          seconds, offsets and powers; occupies the medium
========== ============== ===========================================================

Every node has a ``phase`` (a layer ``"L3"``, ``"gather"``, a bucket ``"b2"``, a round): the
trace and the per-phase reports group by it instead of parsing names.

Build a graph with :class:`TaskGraph`; each builder method returns the node (its ``id``
is what later nodes list in ``deps``)::

    g = TaskGraph(workers=["h0", "h1"])
    fwd = g.compute("h0", flops=2e9, name="fwd")
    s = g.send("h0", "h1", 4e6, deps=[fwd])
    ar = g.collective("allreduce", ["h0", "h1"], 1e8, algorithm="ring", deps=[s])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import networkx as nx

from hwmodels import DTYPES, SpecError
from hwmodels.checks import is_int, is_number
from hwmodels.registry import Registry

__all__ = ["Node", "Compute", "Send", "Recv", "Collective", "Delay", "Upload", "Multicast", "Airtime", "TaskGraph",
           "KINDS", "CHAKRA_COLLECTIVES", "WORK_KINDS"]

KINDS = ("COMP", "COMM_SEND", "COMM_RECV", "COMM_COLL", "DELAY", "AIR_UPLOAD", "AIR_MULTICAST", "AIR_TX")
# What a Compute does: "model" work runs at the device's compute efficiency, "codec" work
# (compression kernels: memory-bound, branchy) at its codec efficiency.
WORK_KINDS: Registry[str] = Registry("work")
WORK_KINDS.add("model", "the device's compute efficiency")
WORK_KINDS.add("codec", "the device's codec efficiency")
# Our op names -> Chakra's collective types.
CHAKRA_COLLECTIVES = {"allreduce": "ALL_REDUCE", "reducescatter": "REDUCE_SCATTER", "allgather": "ALL_GATHER",
                      "broadcast": "BROADCAST", "reduce": "REDUCE", "gather": "GATHER", "alltoall": "ALL_TO_ALL"}


@dataclass(frozen=True, kw_only=True)
class Node:
    """A node of a task graph: ``id`` (unique in its graph), ``name``, ``deps`` (ids), ``phase``."""

    id: int
    name: str = ""
    deps: tuple[int, ...] = ()
    phase: str = ""
    kind: ClassVar[str] = ""

    @property
    def workers(self) -> tuple[str, ...]:
        """The workers (hosts) this node occupies."""
        return ()


@dataclass(frozen=True, kw_only=True)
class Compute(Node):
    """Work on one worker: roofline time of ``flops`` and ``bytes`` in ``dtype``, or
    ``duration_s`` when given (time on an unslowed device; stragglers scale it). ``work``
    (:data:`WORK_KINDS`) says which efficiency of the device applies. ``parts`` (pairs of FLOPs
    and bytes, e.g. the layers of a backward pass) are priced one roofline each and summed;
    ``flops`` and ``bytes`` are then their totals. ``calls`` kernel launches (operator
    dispatches) add the device's per-call overhead (:meth:`hwmodels.Device.call_time`)."""

    worker: str
    flops: float = 0.0
    bytes: float = 0.0
    dtype: str = "fp32"
    duration_s: float | None = None
    work: str = "model"
    parts: tuple[tuple[float, float], ...] = ()
    calls: float = 0.0
    kind: ClassVar[str] = "COMP"

    @property
    def workers(self) -> tuple[str, ...]:
        """The one worker the compute runs on."""
        return (self.worker,)


@dataclass(frozen=True, kw_only=True)
class Send(Node):
    """A point-to-point transfer of ``bytes`` from ``src`` to ``dst``."""

    src: str
    dst: str
    bytes: float
    kind: ClassVar[str] = "COMM_SEND"

    @property
    def workers(self) -> tuple[str, ...]:
        """The sender and the receiver."""
        return (self.src, self.dst)


@dataclass(frozen=True, kw_only=True)
class Recv(Node):
    """The receive side of Send ``send`` (id): done when that transfer has arrived."""

    send: int
    src: str
    dst: str
    bytes: float
    kind: ClassVar[str] = "COMM_RECV"

    @property
    def workers(self) -> tuple[str, ...]:
        """The receiver."""
        return (self.dst,)


@dataclass(frozen=True, kw_only=True)
class Collective(Node):
    """A collective ``op`` over ``group`` (worker names, rank order) of ``bytes`` by
    ``algorithm`` with its ``params`` (``chunks``, ``shards``, ``root``; a parameter
    server also needs ``servers``: the hosts of its shards)."""

    op: str
    group: tuple[str, ...]
    bytes: float
    algorithm: str = "ring"
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "COMM_COLL"

    @property
    def servers(self) -> tuple[str, ...]:
        """The parameter-server hosts of the shards (``params['servers']``; empty for other algorithms)."""
        return tuple(self.params.get("servers", ()))

    @property
    def workers(self) -> tuple[str, ...]:
        """The group's workers, then the servers."""
        return tuple(self.group) + self.servers

    @property
    def algorithm_params(self) -> dict[str, Any]:
        """Parameters for the collective's program (everything but ``servers``)."""
        return {k: v for k, v in self.params.items() if k != "servers"}


@dataclass(frozen=True, kw_only=True)
class Delay(Node):
    """Wait ``duration_s`` (e.g. a fixed overhead); shown on ``worker`` if given."""

    duration_s: float
    worker: str | None = None
    kind: ClassVar[str] = "DELAY"

    @property
    def workers(self) -> tuple[str, ...]:
        """The worker the delay is shown on, if any."""
        return (self.worker,) if self.worker is not None else ()


@dataclass(frozen=True, kw_only=True)
class Upload(Node):
    """Senders transmit ``bits`` (pairs ``(worker, bits)``) at once over the cluster's shared
    wireless medium in fading block ``round``; the medium's access shares the band."""

    bits: tuple[tuple[str, float], ...]
    round: int = 0
    kind: ClassVar[str] = "AIR_UPLOAD"

    @property
    def workers(self) -> tuple[str, ...]:
        """Every sender of the upload."""
        return tuple(w for w, _ in self.bits)


@dataclass(frozen=True, kw_only=True)
class Multicast(Node):
    """``src`` (a worker, or "" for the medium's access point) sends ``bits`` that every worker
    of ``dsts`` must receive, in fading block ``round``, on 1/``band_split`` of the band."""

    src: str
    dsts: tuple[str, ...]
    bits: float
    round: int = 0
    band_split: int = 1
    kind: ClassVar[str] = "AIR_MULTICAST"

    @property
    def workers(self) -> tuple[str, ...]:
        """The sender (unless it is the access point), then the receivers."""
        return ((self.src,) if self.src else ()) + tuple(self.dsts)


@dataclass(frozen=True, kw_only=True)
class Airtime(Node):
    """A transmission computed elsewhere (on the real tensors): it holds the medium for
    ``airtime_s``; sender ``senders[i]`` transmits from ``offsets_s[i]`` for ``tx_s[i]``
    seconds at ``tx_power_W[i]`` (the radio's circuit power is added), sending ``bits[i]``."""

    senders: tuple[str, ...]
    tx_s: tuple[float, ...]
    offsets_s: tuple[float, ...]
    tx_power_W: tuple[float, ...]
    bits: tuple[float, ...]
    airtime_s: float
    kind: ClassVar[str] = "AIR_TX"

    @property
    def workers(self) -> tuple[str, ...]:
        """The senders of the transmission."""
        return tuple(self.senders)


AnyNode = Union[Compute, Send, Recv, Collective, Delay, Upload, Multicast, Airtime]
DepsLike = Union[None, int, Node, Iterable[Union[int, Node]]]


def _size(value: Any, what: str) -> float:
    if not is_number(value) or value < 0:
        raise SpecError(f"{what} must be a finite non-negative number, got {value!r}")
    return float(value)


def _round(value: Any, who: str) -> int:
    if not is_int(value) or value < 0:
        raise SpecError(f"{who}: round must be an integer >= 0, got {value!r}")
    return value


class TaskGraph:
    """A DAG of nodes, built with :meth:`compute`, :meth:`send`, :meth:`recv`,
    :meth:`collective` and :meth:`delay`.

    ``workers`` (optional) fixes the worker names a node may use; otherwise they are
    checked when the graph is run on a cluster (:meth:`validate`). Bad sizes, unknown
    deps, unknown workers and cycles are SpecErrors that name the node.
    """

    def __init__(self, name: str = "", workers: Sequence[str] | None = None) -> None:
        self.name = name
        self._workers = None if workers is None else tuple(str(w) for w in workers)
        self._nodes: dict[int, AnyNode] = {}
        # Builders only let a node depend on earlier ones, so the graph is acyclic unless depend()
        # added a dependency on a later node.
        self._forward_deps = False

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[AnyNode]:
        return iter(self._nodes.values())

    def __getitem__(self, node_id: int) -> AnyNode:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise SpecError(f"task graph {self.name!r} has no node {node_id!r}") from None

    @property
    def nodes(self) -> list[AnyNode]:
        """Every node, in order of creation."""
        return list(self._nodes.values())

    def of_kind(self, kind: str) -> list[AnyNode]:
        """The nodes of ``kind`` (``COMP``, ``COMM_SEND``, ...), in order of creation."""
        return [n for n in self._nodes.values() if n.kind == kind]

    @property
    def workers(self) -> tuple[str, ...]:
        """Every worker a node names, in order of first use."""
        seen: dict[str, None] = {}
        for node in self._nodes.values():
            for w in node.workers:
                seen.setdefault(w, None)
        return tuple(seen)

    # ------------------------------------------------------------------ building
    def _deps(self, deps: DepsLike, who: str) -> tuple[int, ...]:
        if deps is None:
            return ()
        if isinstance(deps, (int, Node)):
            deps = [deps]
        out = []
        for d in deps:
            did = d.id if isinstance(d, Node) else d
            if not is_int(did) or did not in self._nodes:
                raise SpecError(f"{who}: dependency {did!r} is not a node of this graph")
            out.append(did)
        return tuple(dict.fromkeys(out))

    def _worker(self, name: Any, who: str) -> str:
        if not isinstance(name, str) or not name:
            raise SpecError(f"{who}: worker must be a host name, got {name!r}")
        if self._workers is not None and name not in self._workers:
            raise SpecError(f"{who}: unknown worker {name!r}; workers: {', '.join(self._workers)}")
        return name

    def _add(self, cls: type, name: str, deps: DepsLike, phase: str = "", **fields: Any) -> Any:
        node_id = len(self._nodes)
        label = name or f"{cls.kind.lower()}{node_id}"
        if not isinstance(phase, str):
            raise SpecError(f"node {label!r}: phase must be a string, got {phase!r}")
        node = cls(id=node_id, name=label, deps=self._deps(deps, f"node {label!r}"), phase=phase, **fields)
        self._nodes[node_id] = node
        return node

    def compute(self, worker: str, flops: float = 0.0, bytes: float = 0.0, *, dtype: str = "fp32",
                duration_s: float | None = None, work: str = "model", parts: Sequence[tuple[float, float]] = (),
                calls: float = 0.0, deps: DepsLike = None, name: str = "", phase: str = "") -> Compute:
        """Add a :class:`Compute` on ``worker``: ``flops`` (FLOP) and ``bytes`` (memory traffic) in
        ``dtype``, or a fixed ``duration_s`` (seconds); ``work`` picks the device's efficiency, ``parts``
        are (FLOP, bytes) pairs priced one roofline each, ``calls`` kernel launches. Returns the node."""
        who = f"compute {name!r}" if name else "compute"
        worker = self._worker(worker, who)
        if parts:
            parts = tuple((_size(f, f"{who}: part flops"), _size(b, f"{who}: part bytes")) for f, b in parts)
            flops, bytes = sum(f for f, _ in parts), sum(b for _, b in parts)
        if dtype not in DTYPES:
            raise SpecError(f"{who}: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        WORK_KINDS.get(work, where=who)
        dur = None if duration_s is None else _size(duration_s, f"{who}: duration_s")
        return self._add(Compute, name, deps, phase, worker=worker, flops=_size(flops, f"{who}: flops"),
                         bytes=_size(bytes, f"{who}: bytes"), dtype=dtype, duration_s=dur, work=work,
                         parts=tuple(parts), calls=_size(calls, f"{who}: calls"))

    def send(self, src: str, dst: str, bytes: float, *, deps: DepsLike = None, name: str = "",
             phase: str = "") -> Send:
        """Add a :class:`Send` of ``bytes`` from ``src`` to ``dst`` (two different workers); returns the node."""
        who = f"send {name!r}" if name else "send"
        src, dst = self._worker(src, who), self._worker(dst, who)
        if src == dst:
            raise SpecError(f"{who}: source and destination are both {src!r}")
        return self._add(Send, name, deps, phase, src=src, dst=dst, bytes=_size(bytes, f"{who}: bytes"))

    def recv(self, send: Send | int, *, deps: DepsLike = None, name: str = "", phase: str = "") -> Recv:
        """Add the :class:`Recv` of Send ``send`` (node or id): done when the transfer has arrived."""
        sid = send.id if isinstance(send, Node) else send
        snode = self._nodes.get(sid) if isinstance(sid, int) else None
        if not isinstance(snode, Send):
            raise SpecError(f"recv {name!r}: {sid!r} is not a Send node of this graph")
        return self._add(Recv, name, deps, phase, send=snode.id, src=snode.src, dst=snode.dst, bytes=snode.bytes)

    def collective(self, op: str, group: Sequence[str], bytes: float, *, algorithm: str = "ring",
                   deps: DepsLike = None, name: str = "", phase: str = "", **params: Any) -> Collective:
        """Add a :class:`Collective` ``op`` of ``bytes`` per worker over ``group`` by ``algorithm``
        (a registered one; ``params`` are its options, checked here); returns the node."""
        from .collectives import get  # noqa: PLC0415  (collectives do not import the IR)

        who = f"collective {name!r}" if name else f"collective {op}"
        members = tuple(self._worker(w, who) for w in group)
        if not members:
            raise SpecError(f"{who}: the group is empty")
        if len(set(members)) != len(members):
            raise SpecError(f"{who}: a worker appears twice in the group")
        alg = get(op, algorithm)
        servers = tuple(self._worker(w, who) for w in params.pop("servers", ()) or ())
        if alg.extra_ranks is not None:
            alg_params = alg.resolve(len(members), params)
            need = alg.ranks(len(members), alg_params) - len(members)
            if len(servers) != need:
                raise SpecError(f"{who}: {algorithm} with these parameters needs servers= {need} host(s) besides "
                                f"the group, got {len(servers)}")
            if set(servers) & set(members):
                raise SpecError(f"{who}: a server is also a group member; servers must be other hosts")
        elif servers:
            raise SpecError(f"{who}: servers= is only for the parameter-server algorithm")
        else:
            alg.resolve(len(members), params)
        if servers:
            params["servers"] = servers
        return self._add(Collective, name, deps, phase, op=op, group=members, bytes=_size(bytes, f"{who}: bytes"),
                         algorithm=algorithm, params=dict(params))

    def delay(self, duration_s: float, *, worker: str | None = None, deps: DepsLike = None, name: str = "",
              phase: str = "") -> Delay:
        """Add a :class:`Delay` of ``duration_s`` seconds (shown on ``worker`` if given); returns the node."""
        who = f"delay {name!r}" if name else "delay"
        if worker is not None:
            worker = self._worker(worker, who)
        return self._add(Delay, name, deps, phase, duration_s=_size(duration_s, f"{who}: duration_s"), worker=worker)

    def upload(self, bits: Mapping[str, float], *, round: int = 0, deps: DepsLike = None, name: str = "",
               phase: str = "") -> Upload:
        """Every worker of ``bits`` (worker -> bits > 0) transmits at once on the shared medium."""
        who = f"upload {name!r}" if name else "upload"
        pairs = tuple((self._worker(w, who), _size(b, f"{who}: bits of {w!r}")) for w, b in bits.items())
        if not pairs or not any(b > 0 for _, b in pairs):
            raise SpecError(f"{who}: give at least one sender with bits > 0")
        return self._add(Upload, name, deps, phase, bits=pairs, round=_round(round, who))

    def multicast(self, src: str, dsts: Sequence[str], bits: float, *, round: int = 0, band_split: int = 1,
                  deps: DepsLike = None, name: str = "", phase: str = "") -> Multicast:
        """``src`` ("" for the medium's access point) sends ``bits`` to every worker of ``dsts``
        on 1/``band_split`` of the band (an OFDMA share)."""
        who = f"multicast {name!r}" if name else "multicast"
        source = self._worker(src, who) if src else ""
        dests = tuple(self._worker(d, who) for d in dsts)
        if not dests or len(set(dests)) != len(dests) or source in dests:
            raise SpecError(f"{who}: destinations must be distinct workers other than the sender, got {list(dsts)!r}")
        if not is_int(band_split) or band_split < 1:
            raise SpecError(f"{who}: band_split must be an integer >= 1, got {band_split!r}")
        return self._add(Multicast, name, deps, phase, src=source, dsts=dests, bits=_size(bits, f"{who}: bits"),
                         round=_round(round, who), band_split=band_split)

    def airtime(self, senders: Sequence[str], tx_s: Sequence[float], tx_power_W: Sequence[float], airtime_s: float,
                *, offsets_s: Sequence[float] | None = None, bits: Sequence[float] | None = None,
                deps: DepsLike = None, name: str = "", phase: str = "") -> Airtime:
        """A transmission computed on the real tensors: it holds the medium for ``airtime_s``."""
        who = f"airtime {name!r}" if name else "airtime"
        names = tuple(self._worker(w, who) for w in senders)
        n = len(names)
        offsets = [0.0] * n if offsets_s is None else list(offsets_s)
        sent = [0.0] * n if bits is None else list(bits)
        if not (len(tx_s) == len(tx_power_W) == len(offsets) == len(sent) == n):
            raise SpecError(f"{who}: senders, tx_s, tx_power_W, offsets_s and bits must have one entry per sender")
        air = _size(airtime_s, f"{who}: airtime_s")
        ends = [_size(o, f"{who}: offset") + _size(t, f"{who}: tx_s") for o, t in zip(offsets, tx_s)]
        if any(e > air * (1 + 1e-9) + 1e-15 for e in ends):
            raise SpecError(f"{who}: a sender transmits beyond airtime_s ({max(ends)!r} > {air!r} s)")
        return self._add(Airtime, name, deps, phase, senders=names, tx_s=tuple(float(t) for t in tx_s),
                         offsets_s=tuple(float(o) for o in offsets),
                         tx_power_W=tuple(_size(p, f"{who}: tx_power_W") for p in tx_power_W),
                         bits=tuple(_size(b, f"{who}: bits") for b in sent), airtime_s=air)

    def depend(self, node: Node | int, on: DepsLike) -> AnyNode:
        """Add dependencies to an existing node (may close a cycle: :meth:`validate` finds it)."""
        nid = node.id if isinstance(node, Node) else node
        current = self[nid]
        extra = self._deps(on, f"node {current.name!r}")
        updated = dataclasses.replace(current, deps=tuple(dict.fromkeys(current.deps + extra)))
        self._nodes[nid] = updated
        if any(d >= nid for d in extra):   # a dependency on a later node: the graph may now have a cycle
            self._forward_deps = True
        return updated

    # ------------------------------------------------------------------ checks and views
    def to_networkx(self) -> nx.DiGraph:
        """Edges dep -> node; node attributes ``node`` (the object) and ``kind``."""
        g = nx.DiGraph()
        for node in self._nodes.values():
            g.add_node(node.id, node=node, kind=node.kind)
        for node in self._nodes.values():
            for d in node.deps:
                g.add_edge(d, node.id)
        return g

    def validate(self, workers: Iterable[str] | None = None) -> None:
        """SpecError if a node names a worker outside ``workers``, or the graph has a cycle."""
        if workers is not None:
            known = set(workers)
            for w in self.workers:
                if w not in known:
                    node = next(n for n in self._nodes.values() if w in n.workers)
                    shown = ", ".join(sorted(known)[:8]) + (" ..." if len(known) > 8 else "")
                    raise SpecError(f"node {node.name!r} ({node.kind}) uses unknown worker {w!r}; hosts: {shown}")
        if not self._forward_deps:
            return
        g = self.to_networkx()
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return
        names = " -> ".join(self._nodes[u].name for u, _ in cycle)
        raise SpecError(f"task graph {self.name!r} has a cycle: {names} -> {self._nodes[cycle[0][0]].name}")

    def topological_order(self) -> list[AnyNode]:
        """The nodes in an order where every node follows its dependencies (validates the graph first)."""
        self.validate()
        return [self._nodes[i] for i in nx.topological_sort(self.to_networkx())]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per node (id, name, kind, deps and its fields), Chakra-like."""
        out = []
        for node in self._nodes.values():
            rec = {"id": node.id, "name": node.name, "kind": node.kind, "deps": list(node.deps)}
            for f in dataclasses.fields(node):
                if f.name not in rec:
                    value = getattr(node, f.name)
                    rec[f.name] = list(value) if isinstance(value, tuple) else value
            if isinstance(node, Collective):
                rec["chakra_type"] = CHAKRA_COLLECTIVES[node.op]
            out.append(rec)
        return out

    def __repr__(self) -> str:
        counts = {k: 0 for k in KINDS}
        for node in self._nodes.values():
            counts[node.kind] += 1
        shown = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
        return f"TaskGraph({self.name!r}, {len(self)} nodes: {shown})"
