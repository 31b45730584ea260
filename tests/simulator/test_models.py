"""Models build on their inputs from the seed alone; trained weights are cached."""

import time

import pytest
import torch

from hwmodels import SpecError
from simulator.models import MODELS, PRICE_ONLY, accuracy, build, cache_dir, trained

SHAPES = {"image": (1, 8, 8), "signal": (1, 40), "vector": (20,)}
WORKS = {"mlp": ("image", "signal", "vector"), "lenet5": ("image", "signal"), "resnet8": ("image", "signal"),
         "cnn1d": ("signal",), "transformer": ("image", "signal")}


@pytest.mark.parametrize("name", sorted(set(MODELS) - set(PRICE_ONLY)))
def test_models_build_train_and_reject_wrong_inputs(name):
    for kind, shape in SHAPES.items():
        if kind not in WORKS[name]:
            with pytest.raises(SpecError, match=name):
                build(name, shape, 10)
            continue
        net = build(name, shape, 7, seed=1)
        x = torch.randn(5, *shape)
        out = net(x)
        assert out.shape == (5, 7)
        torch.nn.functional.cross_entropy(out, torch.zeros(5, dtype=torch.long)).backward()
        assert all(p.grad is not None for p in net.parameters())


def test_seed_alone_sets_the_weights_and_the_global_rng_is_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build("lenet5", (1, 8, 8), 10, seed=4)
    assert torch.rand(1) == before
    b, c = build("lenet5", (1, 8, 8), 10, seed=4), build("lenet5", (1, 8, 8), 10, seed=5)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_unknown_model_and_parameter():
    with pytest.raises(SpecError, match="unknown model 'vgg'"):
        build("vgg", (1, 8, 8), 10)
    with pytest.raises(SpecError, match="mlp"):
        build("mlp", (1, 8, 8), 10, depth=3)


def test_trained_weights_are_cached_by_model_data_and_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("DDLSIM_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    first = trained("mlp", "digits", seed=0, epochs=3)
    files = list((tmp_path / "weights").glob("mlp-digits-0-*.pt"))
    assert len(files) == 1
    from simulator.data import load
    d = load("digits")
    assert accuracy(first, d.x_test, d.y_test) > 0.85
    t0 = time.perf_counter()
    again = trained("mlp", "digits", seed=0, epochs=3)
    assert time.perf_counter() - t0 < 5
    for p, q in zip(first.parameters(), again.parameters()):
        assert torch.equal(p, q)
    trained("mlp", "digits", seed=1, epochs=1)
    assert len(list((tmp_path / "weights").glob("*.pt"))) == 2
