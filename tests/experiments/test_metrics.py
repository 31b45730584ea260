"""The metric table names every column every workload emits, with a unit that matches its name."""

import re
from pathlib import Path

import pytest
import yaml

from experiments import metrics
from experiments.demo import PRESETS
from experiments.results import flatten
from experiments.spec import load_experiment
from experiments.workloads import get_workload, workloads

EXAMPLES = Path(__file__).resolve().parents[2] / "experiments" / "examples"


def _example(name, **changes):
    data = yaml.safe_load((EXAMPLES / name).read_text())
    data.pop("name", None)
    return {**data, **changes}


# One small run of every built-in kind (a few seconds together).
CASES = {
    "collective": {"op": "allreduce", "algorithm": "ring", "workers": 4, "size": "1MiB", "bandwidth": "10Gbps"},
    "netsim": {"file": str(EXAMPLES / "dumbbell.yaml")},
    "compress": {"scheme": "qsgd", "elements": 4096, "trials": 2},
    "train": _example("train_digits_mlp_qsgd.yaml", steps=3, epochs=None, eval_every=2),
    "fl": _example("fl_digits_baa.yaml", rounds=2, eval_every=1, clients=4),
    "infer": _example("infer_digits_wireless.yaml"),
    "restructure": _example("infer_digits_restructure.yaml", keeps=[0.5], baselines=["central", "direct"], refine=0),
}

# Unit a column's name promises (the project's naming rule: units in names).
SUFFIX_UNITS = (("_Bps", "B/s"), ("_B", "B"), ("_s", "s"), ("_j", "J"))


def test_every_builtin_kind_has_a_case():
    assert set(CASES) == {w.name for w in workloads()}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_emitted_column_has_a_label_unit_and_scope(kind):
    out = get_workload(kind).run(dict(CASES[kind]), 0)
    rows = [metrics.flatten_breakdown(r) for r in (out if isinstance(out, list) else [out])]
    columns = sorted({c for r in rows for c in flatten(r)})
    assert metrics.unlabelled(kind, columns) == [], f"{kind} emits columns the metric table does not name"
    for column in columns:
        entry = metrics.metric(column, kind)
        assert entry.label and entry.scope in metrics.SCOPES and kind in entry.workloads
        assert metrics.axis_label(column, kind).startswith(entry.label.split(" ")[0])


def test_units_match_the_names_and_labels_read_as_words():
    for m in metrics.METRICS:
        stem = m.name.removesuffix(".*")
        promised = next((unit for suffix, unit in SUFFIX_UNITS if stem.endswith(suffix)), None)
        if promised is not None:
            assert m.unit == promised, m
        if "bits" in stem:
            assert m.unit == "bit", m
        assert "_" not in m.label, m          # words, not identifiers
    assert metrics.axis_label("sim_time_s", "train") == "simulated time (s)"
    assert metrics.axis_label("energy_j", "infer") == "energy per batch (J)"
    assert metrics.axis_label("energy_j", "train") == "energy, all devices (J)"
    assert metrics.axis_label("finish_s.A", "netsim") == "finish time of flow A (s)"
    assert metrics.axis_label("workers") == "workers" and metrics.label("no_such_column") == "no such column"


def test_per_round_and_cumulative_are_named_apart():
    for name in ("airtime_round_s", "energy_round_j", "tx_energy_round_j"):
        assert metrics.metric(name, "fl").scope == "per round"
        assert metrics.metric(name.replace("_round", "_total"), "fl").scope == "cumulative"


def test_energy_breakdown_becomes_one_column_per_kind():
    row = metrics.flatten_breakdown({"energy_j": 3.0, "energy_breakdown_j": {"compute": 1.0, "idle": 2.0}})
    assert row == {"energy_j": 3.0, "energy_compute_j": 1.0, "energy_idle_j": 2.0}
    assert metrics.unlabelled("train", row) == [] and metrics.unlabelled("collective", {**row, "made_up": 1}) == ["made_up"]


def test_known_metric_lists_the_workloads_metrics():
    assert metrics.known_metric("collective", "time_s").unit == "s"
    with pytest.raises(Exception, match=r"no metric 'tme_s' in workload collective \(its metrics: .*time_s"):
        metrics.known_metric("collective", "tme_s")
    with pytest.raises(Exception, match="no metric"):
        metrics.known_metric("collective", "size_B")       # a config echo, not a metric to compare


@pytest.mark.parametrize("preset", sorted(p.stem for p in PRESETS.glob("*.yaml")))
def test_preset_plots_draw_named_metrics_and_no_per_round_totals(preset):
    spec = load_experiment(PRESETS / f"{preset}.yaml")
    for recipe in spec.plots:
        for axis in (recipe.x, recipe.y):
            entry = metrics.metric(axis, spec.workload)
            assert entry is not None or axis in metrics.AXES, (preset, recipe.name, axis)
            # a curve against a per-round quantity would pretend it is a total
            if recipe.kind == "tradeoff" and entry is not None and recipe.where.get("last") is not True:
                assert entry.scope != "per round", (preset, recipe.name, axis)
        assert re.fullmatch(r"[a-z0-9-]+", recipe.name)


def test_the_docs_table_matches_the_module():
    """docs/experiments.md lists every metric with the module's label, unit and scope."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "experiments.md").read_text()
    listed = set()
    for name, label, unit, scope, _ in re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", doc, re.M):
        braces = re.fullmatch(r"(.*)\{(.*)\}(.*)", name)
        for full in ([braces[1] + k + braces[3] for k in braces[2].split(",")] if braces else [name]):
            listed.add((full, unit.strip(), scope.strip()))
    expected = {(m.name, m.unit or "-", m.scope) for m in metrics.METRICS if m.scope != "config"}
    assert listed == expected
