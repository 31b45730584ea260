"""Network scenario files: a topology and timed flows in JSON or YAML (``ddlsim netsim``).

::

    {"nodes": [{"id": "h0"}, {"id": "sw", "kind": "switch"}, ...],
     "links": [{"a": "h0", "b": "sw", "bandwidth": "10Gbps", "latency": "5us"}, ...],
     "flows": [{"id": "A", "src": "h0", "dst": "h1", "bytes": "100MB", "start": 0.0}, ...]}

``kind`` is ``"host"`` (default) or ``"switch"``; links may add ``energy_per_bit`` and
``duplex`` (default true); flows may add ``rate_cap``. A ``default_link`` (``ddlsim netsim
--link NAME`` or ``--bandwidth/--latency``) gives the bandwidth, latency and energy per bit of
every link that leaves them out. Numbers without units are SI (B/s, s, B,
J/bit); strings carry units (``hwmodels.units.parse``). Every mistake raises one
:class:`~hwmodels.SpecError` line naming the field, e.g. ``flows[2].dst: unknown node 'h9'``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from hwmodels import LinkSpec, SpecError, units
from hwmodels.checks import is_int
from hwmodels.errors import parse_error_text

from ..engine import Simulation
from ..timeline import Timeline
from .flows import FlowNetwork
from .topology import HOST, SWITCH, Topology

__all__ = ["Scenario", "ScenarioFlow", "ScenarioResult", "load_scenario", "parse_scenario", "run_scenario"]

_TOP_KEYS = ("nodes", "links", "flows")
_NODE_KEYS = ("id", "kind")
_LINK_KEYS = ("a", "b", "bandwidth", "latency", "energy_per_bit", "duplex")
_FLOW_KEYS = ("id", "src", "dst", "bytes", "start", "rate_cap")


@dataclass(frozen=True)
class ScenarioFlow:
    """One flow of a scenario (SI units)."""

    id: str
    src: str
    dst: str
    bytes: float
    start_s: float = 0.0
    rate_cap_Bps: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the topology and the flows, in file order."""

    topology: Topology
    flows: tuple[ScenarioFlow, ...]
    source: str = "scenario"


@dataclass
class ScenarioResult:
    """Start and finish time of every flow, the makespan, and the run's timeline."""

    start_s: dict[str, float]
    finish_s: dict[str, float]
    makespan_s: float
    timeline: Timeline
    network: FlowNetwork = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """``{"flows": {id: {"start_s", "finish_s"}}, "makespan_s"}`` (the CLI's ``--json``)."""
        return {"flows": {fid: {"start_s": self.start_s[fid], "finish_s": self.finish_s[fid]} for fid in self.start_s},
                "makespan_s": self.makespan_s}


def load_scenario(path: str | Path, default_link: LinkSpec | None = None) -> Scenario:
    """Read and validate a JSON (``.json``) or YAML scenario file (``default_link``: see
    :func:`parse_scenario`)."""
    path = Path(path)
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{path.name}: cannot parse the file: {parse_error_text(exc)}") from None
    try:
        return parse_scenario(data, source=str(path), default_link=default_link)
    except SpecError as exc:
        raise SpecError(f"{path.name}: {exc}") from None


def parse_scenario(data: Any, source: str = "scenario", default_link: LinkSpec | None = None) -> Scenario:
    """Validate a scenario given as a mapping (the parsed file); links that leave out
    bandwidth, latency or energy per bit take them from ``default_link`` when given."""
    if not isinstance(data, Mapping):
        raise SpecError(f"expected a mapping with keys {', '.join(_TOP_KEYS)}, got {type(data).__name__}")
    _known_keys(data, _TOP_KEYS, "scenario")
    for key in ("nodes", "links"):
        if key not in data:
            raise SpecError(f"missing '{key}'")
    nodes = _list(data, "nodes")
    links = _list(data, "links")
    flows = _list(data, "flows") if "flows" in data else []
    if not nodes:
        raise SpecError("nodes: at least one node is needed")

    graph = nx.Graph()
    for i, entry in enumerate(nodes):
        where = f"nodes[{i}]"
        entry = _entry(entry, where, _NODE_KEYS)
        node_id = _ident(entry, "id", where)
        if node_id in graph:
            raise SpecError(f"{where}.id: duplicate node id {node_id!r}")
        kind = entry.get("kind", HOST)
        if kind not in (HOST, SWITCH):
            raise SpecError(f"{where}.kind: must be 'host' or 'switch', got {kind!r}")
        graph.add_node(node_id, kind=kind)

    for i, entry in enumerate(links):
        where = f"links[{i}]"
        entry = _entry(entry, where, _LINK_KEYS)
        a = _node_ref(entry, "a", where, graph)
        b = _node_ref(entry, "b", where, graph)
        if a == b:
            raise SpecError(f"{where}.b: a link needs two different nodes, got {a!r} twice")
        if graph.has_edge(a, b):
            raise SpecError(f"{where}: duplicate link between {a!r} and {b!r}")
        if default_link is None:
            if entry.get("bandwidth") is None:
                raise SpecError(f"{where}.bandwidth: missing (give it here, or a default link for every link)")
            bandwidth = _quantity(entry, "bandwidth", "rate", where, required=True, positive=True)
            latency = _quantity(entry, "latency", "time", where, default=0.0)
            energy = _quantity(entry, "energy_per_bit", "energy_per_bit", where, default=0.0)
        else:
            bandwidth = _quantity(entry, "bandwidth", "rate", where, positive=True, default=default_link.bandwidth_Bps)
            latency = _quantity(entry, "latency", "time", where, default=default_link.latency_s)
            energy = _quantity(entry, "energy_per_bit", "energy_per_bit", where, default=default_link.energy_per_bit_J)
        duplex = entry.get("duplex", True)
        if not isinstance(duplex, bool):
            raise SpecError(f"{where}.duplex: must be true or false, got {duplex!r}")
        spec = LinkSpec(name=f"{a}-{b}", bandwidth_Bps=bandwidth, latency_s=latency, energy_per_bit_J=energy, duplex=duplex)
        graph.add_edge(a, b, link=spec)
    topology = Topology(graph, name=Path(source).stem if source != "scenario" else "scenario")

    out: list[ScenarioFlow] = []
    seen: set[str] = set()
    for i, entry in enumerate(flows):
        where = f"flows[{i}]"
        entry = _entry(entry, where, _FLOW_KEYS)
        flow_id = _ident(entry, "id", where)
        if flow_id in seen:
            raise SpecError(f"{where}.id: duplicate flow id {flow_id!r}")
        seen.add(flow_id)
        ends = []
        for key in ("src", "dst"):
            node = _node_ref(entry, key, where, graph)
            if graph.nodes[node]["kind"] != HOST:
                raise SpecError(f"{where}.{key}: {node!r} is a switch; flows start and end at hosts")
            ends.append(node)
        if ends[0] == ends[1]:   # it would cross no link and finish at once: surely a typo
            raise SpecError(f"{where}.dst: {ends[1]!r} is the flow's own src; a flow goes from one host to another")
        try:
            topology.path(ends[0], ends[1])
        except SpecError as exc:
            raise SpecError(f"{where}.dst: {exc}") from None
        size = _quantity(entry, "bytes", "size", where, required=True)
        start = _quantity(entry, "start", "time", where, default=0.0)
        cap = _quantity(entry, "rate_cap", "rate", where, default=None, positive=True)
        out.append(ScenarioFlow(flow_id, ends[0], ends[1], size, start, cap))
    return Scenario(topology, tuple(out), source)


def run_scenario(scenario: Scenario, *, seed: int = 0, record_flows: bool = True) -> ScenarioResult:
    """Simulate the scenario's flows on its topology; every flow is started at its ``start``."""
    sim = Simulation(seed, trace=record_flows)
    net = FlowNetwork(sim, scenario.topology, record_flows=record_flows)
    batches = {}
    by_start: dict[float, list[ScenarioFlow]] = {}
    for flow in scenario.flows:
        by_start.setdefault(flow.start_s, []).append(flow)

    def starter(at: float, group: list[ScenarioFlow]):  # one process per start time: exact times
        if at > 0:
            yield sim.timeout(at)
        for flow in group:
            batches[flow.id] = net.start([flow.src], [flow.dst], flow.bytes, rate_cap_Bps=flow.rate_cap_Bps,
                                         name=flow.id)

    for at in sorted(by_start):
        sim.process(starter(at, by_start[at]))
    sim.run()
    start = {f.id: float(batches[f.id].start_s[0]) for f in scenario.flows}
    finish = {f.id: float(batches[f.id].finish_s[0]) for f in scenario.flows}
    makespan = max(finish.values(), default=0.0)
    return ScenarioResult(start, finish, makespan, net.timeline(), net)


# ---------------------------------------------------------------------- validation helpers
def _known_keys(entry: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in entry:
        if key not in known:
            raise SpecError(f"{where}: unknown field {key!r}; known fields: {', '.join(known)}")


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def _entry(entry: Any, where: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        raise SpecError(f"{where}: expected a mapping of fields, got {type(entry).__name__}")
    _known_keys(entry, known, where)
    return entry


def _ident(entry: Mapping[str, Any], key: str, where: str) -> str:
    if key not in entry:
        raise SpecError(f"{where}.{key}: missing")
    value = entry[key]
    if not (isinstance(value, str) or is_int(value)) or not str(value).strip():
        raise SpecError(f"{where}.{key}: must be a non-empty string, got {value!r}")
    return str(value).strip()


def _node_ref(entry: Mapping[str, Any], key: str, where: str, graph: nx.Graph) -> str:
    node = _ident(entry, key, where)
    if node not in graph:
        raise SpecError(f"{where}.{key}: unknown node {node!r}")
    return node


def _quantity(entry: Mapping[str, Any], key: str, dimension: str, where: str, *, required: bool = False,
              positive: bool = False, default: float | None = 0.0) -> float | None:
    if key not in entry or entry[key] is None:
        if required:
            raise SpecError(f"{where}.{key}: missing")
        return default
    try:
        value = units.parse(entry[key], dimension)
    except SpecError as exc:
        raise SpecError(f"{where}.{key}: {exc}") from None
    if not math.isfinite(value):
        raise SpecError(f"{where}.{key}: must be finite, got {entry[key]!r}")
    if positive and value <= 0:
        raise SpecError(f"{where}.{key}: must be positive, got {entry[key]!r}")
    if value < 0:
        raise SpecError(f"{where}.{key}: must not be negative, got {entry[key]!r}")
    return value
