"""The task-graph IR: building, Chakra-like kinds, validation."""

import pytest

from hwmodels import SpecError
from simulator.taskgraph import KINDS, Collective, Compute, Delay, Recv, Send, TaskGraph

W = ["h0", "h1", "h2", "h3"]


def small_graph():
    g = TaskGraph("step", workers=W)
    fwd = [g.compute(w, flops=1e9, bytes=1e6, name=f"fwd{w}") for w in W]
    s = g.send("h0", "h1", 4e6, deps=[fwd[0]], name="act")
    r = g.recv(s, deps=[fwd[1]])
    ar = g.collective("allreduce", W, 1e8, algorithm="ring", deps=fwd + [r], name="grads")
    d = g.delay(1e-3, worker="h0", deps=[ar])
    return g, fwd, s, r, ar, d


def test_builder_assigns_ids_kinds_and_deps():
    g, fwd, s, r, ar, d = small_graph()
    assert len(g) == 8 and [n.id for n in g] == list(range(8))
    assert isinstance(fwd[0], Compute) and fwd[0].kind == "COMP"
    assert isinstance(s, Send) and s.kind == "COMM_SEND" and s.deps == (fwd[0].id,)
    assert isinstance(r, Recv) and r.kind == "COMM_RECV" and (r.send, r.src, r.dst, r.bytes) == (s.id, "h0", "h1", 4e6)
    assert isinstance(ar, Collective) and ar.kind == "COMM_COLL" and ar.group == tuple(W)
    assert isinstance(d, Delay) and d.kind == "DELAY"
    assert {n.kind for n in g} == {k for k in KINDS if not k.startswith("AIR_")}
    assert g.workers == tuple(W)
    g.validate(W)
    assert [n.id for n in g.topological_order()][-1] == d.id
    nx_graph = g.to_networkx()
    assert nx_graph.number_of_edges() == sum(len(n.deps) for n in g)


def test_records_are_chakra_like():
    g, *_ = small_graph()
    recs = g.to_records()
    coll = [r for r in recs if r["kind"] == "COMM_COLL"][0]
    assert coll["chakra_type"] == "ALL_REDUCE" and coll["group"] == W and coll["algorithm"] == "ring"
    assert all({"id", "name", "kind", "deps"} <= set(r) for r in recs)
    assert "COMP=4" in repr(g)


def test_nodes_are_frozen():
    g, fwd, *_ = small_graph()
    with pytest.raises(AttributeError):
        fwd[0].flops = 2.0


@pytest.mark.parametrize("build,match", [
    (lambda g: g.compute("h9", flops=1.0), "unknown worker 'h9'"),
    (lambda g: g.compute("h0", flops=-1.0), "flops must be a finite non-negative"),
    (lambda g: g.compute("h0", bytes=float("nan")), "bytes must be"),
    (lambda g: g.compute("h0", dtype="fp7"), "unknown dtype"),
    (lambda g: g.send("h0", "h0", 1.0), "both 'h0'"),
    (lambda g: g.send("h0", "h1", -5.0), "bytes must be"),
    (lambda g: g.compute("h0", deps=[42]), "dependency 42 is not a node"),
    (lambda g: g.recv(0), "is not a Send node"),
    (lambda g: g.collective("allreduce", ["h0", "h0"], 1.0), "appears twice"),
    (lambda g: g.collective("allreduce", [], 1.0), "empty"),
    (lambda g: g.collective("allreduce", W, 1.0, algorithm="halving-doubling", name="x") and
     g.collective("allreduce", W[:3], 1.0, algorithm="halving-doubling"), "power-of-two"),
    (lambda g: g.collective("allreduce", W, 1.0, algorithm="warp"), "unknown collective algorithm"),
    (lambda g: g.collective("allreduce", W[:2], 1.0, algorithm="parameter-server"), "servers"),
    (lambda g: g.collective("allreduce", W[:2], 1.0, algorithm="parameter-server", servers=["h1"]), "also a group member"),
    (lambda g: g.collective("allreduce", W[:2], 1.0, servers=["h3"]), "only for the parameter-server"),
    (lambda g: g.delay(-1.0), "duration_s"),
])
def test_bad_nodes_raise_spec_errors(build, match):
    g = TaskGraph("bad", workers=W)
    g.compute("h0", flops=1.0)
    with pytest.raises(SpecError, match=match):
        build(g)


def test_parameter_server_collective_keeps_its_servers():
    g = TaskGraph(workers=W)
    node = g.collective("allreduce", W[:2], 1e6, algorithm="parameter-server", shards=2, servers=["h2", "h3"])
    assert node.servers == ("h2", "h3") and node.workers == tuple(W)
    assert node.algorithm_params == {"shards": 2}


def test_cycle_and_unknown_workers_found_by_validate():
    g = TaskGraph("loop")
    a = g.compute("h0", flops=1.0, name="a")
    b = g.compute("h1", flops=1.0, deps=[a], name="b")
    g.validate(["h0", "h1"])
    with pytest.raises(SpecError, match="unknown worker 'h1'"):
        g.validate(["h0"])
    g.depend(a, b)
    with pytest.raises(SpecError, match="cycle: a -> b -> a|cycle: b -> a -> b"):
        g.validate()
    with pytest.raises(SpecError, match="no node 99"):
        g[99]


def test_wireless_nodes_carry_their_fields_and_phase():
    g = TaskGraph("air", workers=W)
    up = g.upload({"h0": 800.0, "h1": 0.0}, round=3, phase="L0")
    mc = g.multicast("", ["h1", "h2"], 96.0, round=3, deps=[up], phase="L0")
    d2d = g.multicast("h3", ["h0"], 8.0, band_split=2, phase="L1")
    air = g.airtime(["h0", "h2"], [1e-3, 2e-3], [0.1, 0.2], 3e-3, offsets_s=[0.0, 1e-3], bits=[8.0, 16.0])
    assert (up.kind, up.bits, up.round, up.phase) == ("AIR_UPLOAD", (("h0", 800.0), ("h1", 0.0)), 3, "L0")
    assert (mc.src, mc.dsts, mc.workers) == ("", ("h1", "h2"), ("h1", "h2"))
    assert d2d.band_split == 2 and d2d.workers == ("h3", "h0")
    assert air.kind == "AIR_TX" and air.workers == ("h0", "h2")
    assert {r["phase"] for r in g.to_records()} == {"L0", "L1", ""}
    with pytest.raises(SpecError, match="bits > 0"):
        g.upload({"h0": 0.0})
    with pytest.raises(SpecError, match="distinct workers other than the sender"):
        g.multicast("h0", ["h0"], 1.0)
    with pytest.raises(SpecError, match="band_split"):
        g.multicast("h0", ["h1"], 1.0, band_split=0)
    with pytest.raises(SpecError, match="beyond airtime_s"):
        g.airtime(["h0"], [2e-3], [0.1], 1e-3)
    with pytest.raises(SpecError, match="phase must be a string"):
        g.compute("h0", flops=1.0, phase=3)
