"""Experiment specs: axis expansion, seeds, and errors that name the YAML path."""

import pytest

from experiments.spec import load_experiment, parse_experiment, set_path
from experiments.sweep import expand
from hwmodels import SpecError

BASE = {"name": "t", "workload": "collective",
        "base": {"op": "allreduce", "algorithm": "ring", "workers": 4, "size": "1MiB", "bandwidth": "10Gbps",
                 "mode": "analytic"}}


def spec(**sweep):
    return parse_experiment({**BASE, "sweep": sweep})


def test_grid_zip_points_random_multiply():
    s = spec(grid={"workers": [2, 4, 8], "topology": ["switch", "ring"]},
             zip={"size": ["1MiB", "2MiB"], "latency": ["1us", "2us"]},
             points=[{"mode": "analytic"}, {"mode": "des"}],
             random={"samples": 3, "seed": 1, "axes": {"bandwidth": {"choice": ["1Gbps", "10Gbps"]}}})
    overrides = s.overrides()
    assert len(overrides) == 3 * 2 * 2 * 2 * 3
    assert {(o["size"], o["latency"]) for o in overrides} == {("1MiB", "1us"), ("2MiB", "2us")}
    assert s.overrides() == overrides  # seeded random samples: the same every time


def test_random_draws_stay_in_range():
    s = spec(random={"samples": 50, "seed": 3, "axes": {"workers": {"int": [2, 6]}, "latency": {"log_uniform": [1e-6, 1e-3]}}})
    for o in s.overrides():
        assert 2 <= o["workers"] <= 6 and 1e-6 <= o["latency"] <= 1e-3


def test_repeats_get_distinct_seeds_from_the_spec():
    points = expand(parse_experiment({**BASE, "repeats": 3, "seed": 7}), version="x")
    assert len({p.seed for p in points}) == 3 and len({p.hash for p in points}) == 3
    again = expand(parse_experiment({**BASE, "repeats": 3, "seed": 7}), version="x")
    assert [p.seed for p in points] == [p.seed for p in again]
    other = expand(parse_experiment({**BASE, "repeats": 3, "seed": 8}), version="x")
    assert [p.seed for p in points] != [p.seed for p in other]
    explicit = expand(parse_experiment({**BASE, "seeds": [5, 6]}), version="x")
    assert [p.seed for p in explicit] == [5, 6]


def test_hardware_does_not_change_the_seed():
    grid = {"link": ["eth-1g", "eth-10g"], "workers": [2, 4]}
    points = expand(spec(grid=grid), version="x")        # common seeds: one for every point
    assert len({p.seed for p in points}) == 1 and len({p.hash for p in points}) == 4
    independent = parse_experiment({**BASE, "sweep": {"grid": grid}, "seeding": "independent"})
    seeds = {(p.config["link"], p.config["workers"]): p.seed for p in expand(independent, version="x")}
    assert seeds[("eth-1g", 2)] == seeds[("eth-10g", 2)] != seeds[("eth-1g", 4)]


def test_hash_changes_with_version_and_config():
    a = expand(spec(), version="1")[0]
    assert a.hash != expand(spec(), version="2")[0].hash
    assert a.hash != expand(spec(grid={"workers": [8]}), version="1")[0].hash


def test_set_path_nested():
    assert set_path({"a": {"b": 1, "c": 2}}, "a.b", 5) == {"a": {"b": 5, "c": 2}}
    assert set_path({}, "x.y", 1) == {"x": {"y": 1}}


@pytest.mark.parametrize(("data", "message"), [
    ({"sweep": {"grid": {"wrkers": [1, 2]}}}, "sweep.grid.wrkers: unknown axis path 'wrkers' for workload collective"),
    ({"sweep": {"grid": {"workers": []}}}, "sweep.grid: axis 'workers' has no values"),
    ({"sweep": {"zip": {"workers": [1, 2], "size": ["1B"]}}}, "sweep.zip"),
    ({"sweep": {"gird": {}}}, "sweep.gird: unknown field"),
    ({"repeats": 0}, "repeats:"),
    ({"seeds": []}, "seeds:"),
    ({"plots": [{"name": "p", "x": "a", "y": "b", "kind": "pie"}]}, "plots.0.kind:"),
    ({"workload": "nope"}, "unknown workload 'nope'"),
])
def test_errors_name_the_yaml_path(data, message):
    with pytest.raises(SpecError, match="^where: " + message.replace(".", r"\.").replace("(", r"\(")):
        parse_experiment({**BASE, **data}, "where")


def test_bad_point_config_names_the_point():
    with pytest.raises(SpecError, match="sweep point 1"):
        expand(spec(points=[{"size": "1MiB"}, {"bandwidth": "fast"}]))


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hacked']\nworkload: collective\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_experiment(path)


def test_every_preset_is_valid():
    from experiments.demo import PRESETS  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    names = sorted(p.stem for p in PRESETS.glob("*.yaml") if "workload" in (yaml.safe_load(p.read_text()) or {}))
    assert {"qcs-vs-qsgd-error", "qcs-vs-qsgd-training", "collective-scaling"} <= set(names)
    for name in names:
        assert expand(load_experiment(PRESETS / f"{name}.yaml"))
