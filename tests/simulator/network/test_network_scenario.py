"""Scenario files: the shipped examples, hand-computed results, and field-naming errors."""

from importlib import resources

import pytest

from hwmodels import SpecError
from simulator.network import load_scenario, parse_scenario, run_scenario

EXAMPLES = resources.files("experiments") / "examples"


def base():
    return {
        "nodes": [{"id": "h0"}, {"id": "h1"}, {"id": "sw", "kind": "switch"}],
        "links": [{"a": "h0", "b": "sw", "bandwidth": "8Gbps", "latency": "1us"},
                  {"a": "h1", "b": "sw", "bandwidth": 1e9, "latency": 1e-6}],
        "flows": [{"id": "A", "src": "h0", "dst": "h1", "bytes": "1GB", "start": 0}],
    }


def test_dumbbell_example_matches_the_hand_computation():
    result = run_scenario(load_scenario(EXAMPLES / "dumbbell.yaml"))
    # See the comment in dumbbell.yaml: A 120.007 ms, B 90.007 ms, C 180.007 ms.
    assert result.finish_s["A"] == pytest.approx(0.120007, rel=1e-12)
    assert result.finish_s["B"] == pytest.approx(0.090007, rel=1e-12)
    assert result.finish_s["C"] == pytest.approx(0.180007, rel=1e-12)
    assert result.start_s == {"A": 0.0, "B": 0.01, "C": 0.02}
    assert result.makespan_s == pytest.approx(0.180007, rel=1e-12)
    # the bottleneck's 5 pJ/bit: 150 MB crossed s0->s1, 20 MB crossed s1->s0
    assert sum(result.timeline.link_energy_J.values()) == pytest.approx(170e6 * 8 * 5e-12)


def test_leafspine_example_runs_and_conserves_bytes():
    scenario = load_scenario(EXAMPLES / "leafspine.json")
    result = run_scenario(scenario)
    assert set(result.finish_s) == {"a", "b", "c", "d", "e", "f"}
    for flow in scenario.flows:
        assert result.finish_s[flow.id] > flow.start_s
    topo = scenario.topology
    h0_up = sum(f.bytes for f in scenario.flows if f.src == "h0")
    assert result.timeline.link_bytes["h0->leaf0"] == pytest.approx(h0_up)
    # f is capped at 10 Gbps and shares nothing at that rate: 2 GB at 1.25 GB/s plus latency
    assert result.finish_s["f"] == pytest.approx(2e9 / 1.25e9 + topo.path_latency_s("h7", "h0"), rel=1e-12)


def test_units_and_si_numbers_are_equivalent():
    scenario = parse_scenario(base())
    link = scenario.topology.graph.edges["h0", "sw"]["link"]
    assert link.bandwidth_Bps == 1e9 and link.latency_s == 1e-6
    assert scenario.flows[0].bytes == 1e9
    result = run_scenario(scenario)
    assert result.finish_s["A"] == pytest.approx(2e-6 + 1.0, rel=1e-12)
    assert result.to_json() == {"flows": {"A": {"start_s": 0.0, "finish_s": result.finish_s["A"]}},
                                "makespan_s": result.finish_s["A"]}


def mutate(fn):
    data = base()
    fn(data)
    return data


@pytest.mark.parametrize("change,message", [
    (lambda d: d["flows"].append({"id": "B", "src": "h0", "dst": "h9", "bytes": 1}), r"flows\[1\]\.dst: unknown node 'h9'"),
    (lambda d: d["links"].append({"a": "h0", "b": "zz", "bandwidth": 1}), r"links\[2\]\.b: unknown node 'zz'"),
    (lambda d: d["links"][0].update(bandwidth=0), r"links\[0\]\.bandwidth: must be positive"),
    (lambda d: d["links"][0].update(bandwidth="-5Gbps"), r"links\[0\]\.bandwidth: must be positive"),
    (lambda d: d["links"][1].update(latency=-1e-6), r"links\[1\]\.latency: must not be negative"),
    (lambda d: d["flows"][0].update(bytes=-3), r"flows\[0\]\.bytes: must not be negative"),
    (lambda d: d["flows"][0].update(bytes="3 parsecs"), r"flows\[0\]\.bytes: unknown size unit"),
    (lambda d: d["flows"][0].update(start="-1ms"), r"flows\[0\]\.start: must not be negative"),
    (lambda d: d["flows"][0].update(rate_cap=0), r"flows\[0\]\.rate_cap: must be positive"),
    (lambda d: d["flows"].append(dict(d["flows"][0])), r"flows\[1\]\.id: duplicate flow id 'A'"),
    (lambda d: d["nodes"].append({"id": "h1"}), r"nodes\[3\]\.id: duplicate node id 'h1'"),
    (lambda d: d["nodes"][0].update(kind="router"), r"nodes\[0\]\.kind: must be 'host' or 'switch'"),
    (lambda d: d["links"].append({"a": "sw", "b": "h0", "bandwidth": 1}), r"links\[2\]: duplicate link between"),
    (lambda d: d["flows"][0].update(src="sw"), r"flows\[0\]\.src: 'sw' is a switch"),
    (lambda d: d["flows"][0].update(colour="red"), r"flows\[0\]: unknown field 'colour'"),
    (lambda d: d["flows"][0].pop("bytes"), r"flows\[0\]\.bytes: missing"),
    (lambda d: d.pop("links"), r"missing 'links'"),
    (lambda d: d.update(extra=1), r"unknown field 'extra'"),
    (lambda d: d.update(flows={"A": 1}), r"flows: expected a list"),
    (lambda d: (d["nodes"].append({"id": "h2"}), d["flows"].append({"id": "B", "src": "h0", "dst": "h2", "bytes": 1})),
     r"flows\[1\]\.dst: no route from 'h0' to 'h2'"),
])
def test_errors_name_the_field(change, message):
    with pytest.raises(SpecError, match=message):
        parse_scenario(mutate(change))


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n")
    with pytest.raises(SpecError, match="bad.yaml: cannot parse"):
        load_scenario(bad)
    worse = tmp_path / "worse.json"
    worse.write_text('{"nodes": [{"id": "a"}], "links": [], "flows": [{"id": "x", "src": "a", "dst": "b", "bytes": 1}]}')
    with pytest.raises(SpecError, match=r"worse.json: flows\[0\]\.dst: unknown node 'b'"):
        load_scenario(worse)
    with pytest.raises(SpecError, match="expected a mapping"):
        parse_scenario([1, 2])
