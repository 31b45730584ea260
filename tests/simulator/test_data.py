"""Data sets that need no download, and IID / Dirichlet splits."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from hwmodels import SpecError
from simulator.data import load, mnist1d, split


def test_digits_shapes_and_split_sizes():
    d = load("digits")
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert len(d.y_train) + len(d.y_test) == 1797 and len(d.y_test) == 359
    assert float(d.x_train.max()) == 1.0 and float(d.x_train.min()) == 0.0


def test_mnist1d_is_deterministic_and_learnable_but_not_linearly_trivial():
    a, b, c = (mnist1d(2500, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])
    x, y = a
    assert x.shape == (2500, 40) and set(np.unique(y)) == set(range(10))
    # Published: logistic regression about 32 %: well above chance (10 %), far from separable.
    clf = LogisticRegression(max_iter=2000).fit(x[:2000], y[:2000])
    acc = clf.score(x[2000:], y[2000:])
    assert 0.15 < acc < 0.5, acc
    d = load("mnist1d", samples=500)
    assert d.input_shape == (1, 40) and len(d.y_test) == 100


def test_synthetic_and_errors():
    d = load("synthetic", samples=100, features=6, classes=3, informative=4)
    assert d.input_shape == (6,) and d.num_classes == 3
    with pytest.raises(SpecError, match="unknown data set 'cifar'"):
        load("cifar")
    with pytest.raises(SpecError, match="samples"):
        load("synthetic", samples=1)
    with pytest.raises(SpecError, match="digits"):
        load("digits", colour=True)


def test_iid_split_is_an_equal_partition():
    y = np.arange(103) % 10
    parts = split(y, 4, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(103))
    assert {len(p) for p in parts} == {25, 26}
    assert [p.tolist() for p in parts] == [p.tolist() for p in split(y, 4, seed=1)]


def test_dirichlet_split_is_a_partition_and_skews_labels():
    y = torch.as_tensor(np.repeat(np.arange(10), 100))
    iid = split(y, 5, seed=0)
    skewed = split(y, 5, alpha=0.1, seed=0)
    assert sorted(np.concatenate(skewed).tolist()) == list(range(1000))

    def top_class_share(parts):
        return np.mean([np.bincount(y.numpy()[p], minlength=10).max() / len(p) for p in parts])

    assert top_class_share(iid) < 0.2 < 0.5 < top_class_share(skewed)
    assert top_class_share(split(y, 5, alpha=1000.0, seed=0)) < 0.2


def test_split_errors():
    with pytest.raises(SpecError, match="3 workers but only 2"):
        split(np.array([0, 1]), 3)
    with pytest.raises(SpecError, match="alpha"):
        split(np.arange(10), 2, alpha=0.0)
    with pytest.raises(SpecError, match="workers"):
        split(np.arange(10), 0)
