"""Validation configurations: calibration and held-out disjoint, shapes those of the data sets,
and the measuring harness's records on a real 2-process gloo group."""

import pytest

from experiments.measure.cases import CollectiveCase, Cases, load_cases, measured_table
from experiments.measure.collectives import measure_collectives
from experiments.measure.records import measurement
from experiments.measure.training import DATA_SHAPES, TrainCase, measure_training
from hwmodels import SpecError


@pytest.mark.parametrize("quick", [True, False])
def test_calibration_and_held_out_are_disjoint_and_cover_the_issue(quick):
    cases = load_cases(quick)
    assert not set(cases.calibration) & set(cases.held_out)
    held = [c for c in cases.held_out if isinstance(c, TrainCase)]
    assert {c.overlap for c in held} == {False, True}
    assert {"none", "qsgd", "topk"} <= {c.compressor for c in held}
    ops = {c.op for c in cases.held_out if isinstance(c, CollectiveCase)}
    assert ops == {"allgather", "broadcast"}   # all-reduce and p2p fit the link: not held out
    if not quick:
        assert {c.model for c in held} == {"mlp", "lenet5", "resnet8", "cnn1d"}
        assert {c.compressor for c in held} == {"none", "fp16", "qsgd", "topk", "powersgd", "qcs"}
        sizes = {c.size_B for c in cases.all() if isinstance(c, CollectiveCase)}
        assert min(sizes) == 4096 and max(sizes) == 64 * 2**20
        assert {c.world for c in cases.all() if isinstance(c, CollectiveCase)} == {2, 3, 4}


def test_overlapping_sets_are_refused():
    case = CollectiveCase("allreduce", 2, 4096.0)
    with pytest.raises(SpecError, match="both calibration and held-out"):
        Cases((case,), (case,))


def test_data_shapes_are_those_of_the_data_sets():
    from simulator.data import load
    for name, (shape, classes) in DATA_SHAPES.items():
        data = load(name, seed=0)
        assert (data.input_shape, data.num_classes) == (shape, classes)


def test_measured_table_labels_each_row_with_its_split():
    cases = load_cases(quick=True)
    cal = next(c for c in cases.calibration if isinstance(c, CollectiveCase))
    held = next(c for c in cases.held_out if isinstance(c, TrainCase))
    rows = measured_table(cases, [
        measurement("p2p" if cal.op == "p2p" else "collective", {"op": cal.op, "world": cal.world, "size_B": cal.size_B},
                    [1e-3, 2e-3, 4e-3]),
        measurement("train-step", held.config(), [0.010, 0.012]),
    ])
    assert [r["split"] for r in rows] == ["calibration", "held-out"]
    assert rows[0]["measured_s"] == 2e-3 and rows[0]["spread_s"] == pytest.approx(1.5e-3) and rows[0]["repeats"] == 3
    with pytest.raises(SpecError, match="matches no validation case"):
        measured_table(cases, [measurement("collective", {"op": "allreduce", "world": 7, "size_B": 1.0}, [1.0])])


def test_harness_records_real_runs():
    import torch._dynamo  # noqa: F401  (DDP imports it when first built; forked ranks inherit it)

    case = TrainCase("mlp", "digits", 2, 16, "topk", {"ratio": 0.1}, overlap=True)
    step, compute = measure_training([case], budget_s=0.01, min_repeats=3, max_repeats=3, warmup=2, start_method="fork")
    assert (step.kind, compute.kind, step.repeats) == ("train-step", "train-compute", 3)
    # cap 9,610 x 4 B / 8 = 4,805 B; a bucket closes once it reaches the cap: [b2, W2], [b1, W1]
    assert step.config["bucket_sizes_B"] == (4 * (10 + 1280), 4 * (128 + 8192))
    assert step.config["bits_per_step"] > 0 and step.measured_s > 0
    points = measure_collectives(2, ("p2p", "allgather"), (4096, 8192 + 4), budget_s=0.01, min_repeats=2,
                                 start_method="fork")
    # 8,196 B is 2,049 floats for p2p; all-gather rounds each rank's share down to 1,024 floats
    assert [(m.kind, m.config["size_B"]) for m in points] == [("p2p", 4096), ("p2p", 8196), ("collective", 4096),
                                                              ("collective", 8192)]
