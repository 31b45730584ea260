"""Spans, the recorder and the Timeline's exports (Chrome trace, records, utilisation)."""

import json

import numpy as np
import pytest

from simulator.timeline import Span, Timeline, TraceRecorder


def recorder():
    rec = TraceRecorder()
    rec.record("w1", "compute", 0.0, 2.0, 0, "fwd")
    rec.record_many(["h0", "h0", "h10", "h2"], "flow", np.array([0.5, 1.0, 0.0, 3.0]), np.array([1.5, 1.2, 1.0, 4.0]),
                    np.array([10.0, 20.0, 30.0, 40.0]), ["a", "b", "c", "d"])
    rec.record_many("w1", "compute", [2.0], [3.0])
    return rec


def test_recorder_keeps_order_and_broadcasts():
    rec = recorder()
    spans = rec.spans()
    assert len(rec) == len(spans) == 6
    assert spans[0] == Span("w1", "compute", 0.0, 2.0, 0.0, "fwd")
    assert spans[1] == Span("h0", "flow", 0.5, 1.5, 10.0, "a")
    assert spans[-1] == Span("w1", "compute", 2.0, 3.0, 0.0, "")
    assert rec.max_end_s() == 4.0


def test_disabled_recorder_records_nothing_and_bad_spans_are_refused():
    rec = TraceRecorder(enabled=False)
    rec.record("a", "x", 0, 1)
    rec.record_many(["a"], "x", [0.0], [1.0])
    assert len(rec) == 0 and rec.spans() == []
    on = TraceRecorder()
    with pytest.raises(ValueError, match="ends before"):
        on.record("a", "x", 2.0, 1.0)
    with pytest.raises(ValueError, match="ends before"):
        on.record_many(["a"], "x", [2.0], [1.0])
    with pytest.raises(ValueError, match="resources"):
        on.record_many(["a", "b"], "x", [0.0], [1.0])


def test_record_many_copies_its_inputs():
    rec = TraceRecorder()
    start = np.array([0.0, 1.0])
    rec.record_many(["a", "b"], "x", start, start + 1)
    start[:] = 99
    assert [s.start_s for s in rec.spans()] == [0.0, 1.0]


def test_timeline_makespan_records_and_utilisation():
    tl = Timeline(recorder(), link_bytes={"a->b": 5.0}, link_busy_s={"a->b": 2.0, "b->a": 9.0})
    assert tl.makespan_s == 4.0
    assert tl.utilisation() == {"a->b": 0.5, "b->a": 1.0}
    records = tl.to_records()
    assert records[1] == {"resource": "h0", "kind": "flow", "name": "a", "start_s": 0.5, "end_s": 1.5,
                          "duration_s": 1.0, "bytes": 10.0}
    assert Timeline(makespan_s=0.0, link_busy_s={"x": 1.0}).utilisation() == {"x": 0.0}
    assert Timeline([Span("a", "k", 0, 7)], makespan_s=3.0).makespan_s == 7.0


def test_chrome_trace_structure(tmp_path):
    out = tmp_path / "trace.json"
    trace = Timeline(recorder()).to_chrome_trace(out)
    assert json.loads(out.read_text()) == trace
    events = trace["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == 6
    for e in slices:
        assert {"ts", "dur", "pid", "tid", "name", "args"} <= set(e) and "bytes" in e["args"]
        assert e["tid"] in names
    # natural order of tracks: h0, h0 #2 (overlap), h2, h10, w1
    assert list(names.values()) == ["h0", "h0 #2", "h2", "h10", "w1"]
    flow_a = next(e for e in slices if e["name"] == "a")
    assert flow_a["ts"] == pytest.approx(0.5e6) and flow_a["dur"] == pytest.approx(1e6)
    assert flow_a["args"]["bytes"] == 10.0
    # spans in one track never overlap partially
    by_tid = {}
    for e in slices:
        by_tid.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_tid.values():
        spans.sort()
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s1 >= e0 or e1 <= e0
