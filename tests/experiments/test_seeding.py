"""Fair comparisons by default: repeat r of every point runs with one seed (common random numbers),
so compressors compared in one sweep start from the same weights and see the same batches."""

import pytest

from experiments.spec import parse_experiment
from experiments.sweep import expand, run_sweep
from hwmodels import SpecError

# One step, evaluated at once: train_loss is the loss of the initial weights on the first batches,
# computed before any compressor touches a gradient; it fingerprints (initial weights, data order).
BASE = {"model": "mlp", "data": "digits", "workers": 2, "batch_size": 16, "steps": 1, "eval_every": 1,
        "encode_s_per_element": 1e-9, "decode_s_per_element": 1e-9}


def spec(**extra):
    return parse_experiment({"name": "crn", "workload": "train", "base": BASE, "repeats": 2,
                             "sweep": {"grid": {"compressor": ["none", "qsgd", "topk"]}}, **extra})


def _first_losses(result):
    rows = result.table[result.table["status"] == "ok"]
    return {(r.compressor, r.repeat): r.train_loss for r in rows.itertuples()}


def test_common_random_numbers_give_identical_initial_weights_across_compressors(tmp_path):
    points = expand(spec())
    assert {p.seed for p in points if p.repeat == 0} != {p.seed for p in points if p.repeat == 1}
    assert len({p.seed for p in points if p.repeat == 0}) == 1
    loss = _first_losses(run_sweep(spec(), tmp_path / "crn", workers=0))
    for repeat in (0, 1):
        assert loss[("none", repeat)] == loss[("qsgd", repeat)] == loss[("topk", repeat)]
    assert loss[("none", 0)] != loss[("none", 1)]       # repeats still differ from each other


def test_independent_seeding_is_an_option(tmp_path):
    points = expand(spec(seeding="independent"))
    assert len({p.seed for p in points if p.repeat == 0}) == 3
    loss = _first_losses(run_sweep(spec(seeding="independent"), tmp_path / "ind", workers=0))
    assert len({loss[(c, 0)] for c in ("none", "qsgd", "topk")}) == 3


def test_seeding_is_validated():
    with pytest.raises(SpecError, match="seeding: Input should be 'common' or 'independent'"):
        spec(seeding="fresh")
    with pytest.raises(SpecError, match="contradict the explicit seeds"):
        spec(seeding="independent", seeds=[1, 2])
    assert [p.seed for p in expand(spec(seeds=[5, 9]))] == [5, 9] * 3
