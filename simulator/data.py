"""Data that needs no download, and its split across workers.

``load(name, seed=0, **params) -> Dataset`` builds a registered data set:

=========== ======================================================== ===========
name        what                                                     input shape
=========== ======================================================== ===========
digits      scikit-learn's 1,797 8x8 digit images (pixels / 16)      (1, 8, 8)
mnist1d     MNIST-1D, generated here from its published recipe       (1, 40)
synthetic   ``sklearn.datasets.make_classification``                 (features,)
=========== ======================================================== ===========

``split(labels, workers, alpha=None, seed=0)`` gives each worker its indices: IID (a random
equal split) or non-IID (per class, proportions drawn from Dirichlet(alpha)).

MNIST-1D follows Greydanus (2020), "Scaling down deep learning": each of ten 12-point digit
templates is padded with zeros (which varies its width), scaled, shifted, given correlated noise
in the padding and i.i.d. noise everywhere, sheared, and resampled to 40 points. The templates
are our own shapes, so accuracies are near, not equal to, the published ones (5,000 samples,
seed 0: logistic regression 25 %, a 100-100 MLP 74 %, the 1-D CNN 93 %; published 32, 68, 94).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwmodels import SpecError
from hwmodels.checks import is_int, require_int
from hwmodels.registry import Registry, bind_params

from .streams import numpy_stream

__all__ = ["Dataset", "DATASETS", "load", "split", "mnist1d"]


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors (float32 inputs, int64 labels) and the number of classes."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (without the batch dimension)."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes})")


# builder(seed=..., **params) -> Dataset
DATASETS: Registry[Callable[..., Dataset]] = Registry("data set")
_register = DATASETS.register


def load(name: str, seed: int = 0, **params: Any) -> Dataset:
    """The data set ``name`` (see the module table); SpecError for unknown names or parameters."""
    builder = DATASETS.get(name)
    require_int(seed, f"data set {name!r}: seed", low=0)
    return builder(seed=seed, **bind_params(builder, params, f"data set {name!r}", given=("seed",)))


def _train_test(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, num_classes: int) -> Dataset:
    if not 0 < test_fraction < 1:
        raise SpecError(f"data set {name!r}: test_fraction must be in (0, 1), got {test_fraction!r}")
    order = numpy_stream(seed, "data.split").permutation(len(y))
    n_test = max(1, int(round(test_fraction * len(y))))
    test, train = order[:n_test], order[n_test:]
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return Dataset(name, as_x(x[train]), as_y(y[train]), as_x(x[test]), as_y(y[test]), num_classes)


@_register("digits")
def digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits, pixels scaled to [0, 1], shape (1, 8, 8)."""
    from sklearn.datasets import load_digits  # noqa: PLC0415

    x, y = load_digits(return_X_y=True)
    return _train_test("digits", (x / 16.0).reshape(-1, 1, 8, 8), y, test_fraction, seed, 10)


@_register("synthetic")
def synthetic(seed: int = 0, samples: int = 2000, features: int = 20, classes: int = 4, informative: int = 10,
              test_fraction: float = 0.2) -> Dataset:
    """``make_classification`` with ``samples`` points of ``features`` dimensions."""
    from sklearn.datasets import make_classification  # noqa: PLC0415

    for field, value, low in (("samples", samples, 2), ("features", features, 1), ("classes", classes, 2),
                              ("informative", informative, 1)):
        if not is_int(value) or value < low:
            raise SpecError(f"data set 'synthetic': {field} must be an integer >= {low}, got {value!r}")
    if informative > features or classes * 2 > 2**informative:
        raise SpecError(f"data set 'synthetic': informative must be <= features and 2^informative >= 2 classes")
    x, y = make_classification(n_samples=samples, n_features=features, n_informative=informative,
                               n_redundant=0, n_classes=classes, random_state=seed % 2**32)
    return _train_test("synthetic", x, y, test_fraction, seed, classes)


# ---------------------------------------------------------------------- MNIST-1D
# Ten 12-point templates, one per digit: our own shapes (rises, dips, steps, bumps), chosen
# so that each differs from the others in where its mass sits and how it changes sign.
_TEMPLATES = np.array([
    [5, 6, 6, 5, 3, 1, 1, 3, 5, 6, 6, 5],        # 0: high, dip, high
    [0, 0, 1, 3, 6, 6, 6, 6, 3, 1, 0, 0],        # 1: one wide bump
    [6, 5, 4, 3, 2, 1, 0, 0, 1, 2, 4, 6],        # 2: falling then rising
    [1, 4, 6, 4, 1, 1, 4, 6, 4, 1, 0, 0],        # 3: two bumps
    [0, 1, 2, 3, 4, 5, 6, 6, 0, 0, 0, 0],        # 4: ramp then drop
    [6, 6, 6, 6, 0, 0, 0, 0, 3, 3, 3, 3],        # 5: steps down then up
    [0, 0, 0, 0, 2, 4, 6, 4, 2, 4, 6, 6],        # 6: late bumps
    [6, 3, 0, 3, 6, 3, 0, 3, 6, 3, 0, 0],        # 7: zig-zag
    [0, 6, 0, 6, 0, 6, 0, 0, 0, 0, 0, 0],        # 8: early spikes
    [3, 3, 3, 3, 3, 3, 6, 0, 6, 0, 3, 3],        # 9: flat with a late spike pair
], dtype=float) / 7.5 - 0.4   # amplitude +-0.4: near the published accuracies


def _smooth(x: np.ndarray, width: float) -> np.ndarray:
    """Gaussian smoothing along the last axis (circular)."""
    n = x.shape[-1]
    k = np.exp(-0.5 * (np.minimum(np.arange(n), n - np.arange(n)) / width) ** 2)
    return np.real(np.fft.ifft(np.fft.fft(x, axis=-1) * np.fft.fft(k / k.sum()), axis=-1))


def mnist1d(samples: int = 5000, *, length: int = 40, pad: tuple[int, int] = (36, 60), max_shift: int = 48,
            shear: float = 0.75, scale: float = 0.4, corr_noise: float = 0.25, iid_noise: float = 0.02,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` MNIST-1D signals (samples x length) and labels, from ``seed``.

    Per sample, following the published recipe: the label's 12-point template, followed by a
    random number of zeros in ``pad``, resampled to 12 + ``pad[1]`` points (so the digit's
    width varies); its amplitude times 1 + ``scale`` (u - 1/2); a circular shift by up to
    ``max_shift``; the padding replaced by smooth noise (``corr_noise`` times white noise under
    a Gaussian filter of width 2); i.i.d. noise ``iid_noise``; a shear (minus a ramp from -c/2
    to c/2, c = ``shear`` (u - 1/2)); resampled to ``length`` points. u ~ U(0, 1) each time.
    """
    rng = numpy_stream(seed, "data.mnist1d")
    labels = rng.integers(0, 10, size=samples)
    width = _TEMPLATES.shape[1] + pad[1]
    out = np.empty((samples, length))
    for i, label in enumerate(labels):
        zeros = int(rng.integers(pad[0], pad[1] + 1))
        signal = np.concatenate([_TEMPLATES[label], np.zeros(zeros)])
        is_pad = np.concatenate([np.zeros(_TEMPLATES.shape[1]), np.ones(zeros)])
        signal, is_pad = _resample(signal, width), _resample(is_pad, width) > 0.5
        signal = signal * (1.0 + scale * (rng.random() - 0.5))
        k = int(rng.integers(0, max_shift))
        signal, is_pad = np.roll(signal, k), np.roll(is_pad, k)
        noise = _smooth(corr_noise * rng.standard_normal(width), width=2.0)
        signal = np.where(is_pad, noise, signal) + iid_noise * rng.standard_normal(width)
        signal = signal - shear * (rng.random() - 0.5) * np.linspace(-0.5, 0.5, width)
        out[i] = _resample(signal, length)
    return out, labels


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of ``x`` onto ``n`` evenly spaced points over the same span."""
    return np.interp(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, len(x)), x)


@_register("mnist1d")
def _mnist1d_dataset(seed: int = 0, samples: int = 5000, test_fraction: float = 0.2, **params: Any) -> Dataset:
    """:func:`mnist1d` signals as (1, length) inputs, ``test_fraction`` of them held out."""
    if not is_int(samples) or samples < 10:
        raise SpecError(f"data set 'mnist1d': samples must be an integer >= 10, got {samples!r}")
    x, y = mnist1d(samples, seed=seed, **bind_params(mnist1d, params, "data set 'mnist1d'", given=("samples", "seed")))
    return _train_test("mnist1d", x.reshape(samples, 1, -1), y, test_fraction, seed, 10)


# ---------------------------------------------------------------------- splits
def split(labels: torch.Tensor | np.ndarray, workers: int, *, alpha: float | None = None, seed: int = 0) -> list[np.ndarray]:
    """Indices of each worker's samples.

    ``alpha=None``: IID, a random permutation cut into ``workers`` near-equal parts.
    ``alpha > 0``: non-IID; for every class, the shares of the workers are drawn from
    Dirichlet(alpha) (small alpha: few classes per worker). Every worker gets at least one
    sample (redrawn up to 100 times, else SpecError).
    """
    y = np.asarray(labels)
    n = len(y)
    if not is_int(workers) or workers < 1:
        raise SpecError(f"split: workers must be an integer >= 1, got {workers!r}")
    if workers > n:
        raise SpecError(f"split: {workers} workers but only {n} training samples; use at most {n} workers")
    rng = numpy_stream(seed, "data.shards")
    if alpha is None:
        return [np.sort(part) for part in np.array_split(rng.permutation(n), workers)]
    if not alpha > 0:
        raise SpecError(f"split: alpha must be > 0 (Dirichlet concentration), got {alpha!r}")
    classes = np.unique(y)
    for _ in range(100):
        parts: list[list[np.ndarray]] = [[] for _ in range(workers)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            cuts = (np.cumsum(rng.dirichlet(np.full(workers, alpha)))[:-1] * len(idx)).astype(int)
            for w, chunk in enumerate(np.split(idx, cuts)):
                parts[w].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) > 0:
            return out
    raise SpecError(f"split: Dirichlet(alpha={alpha}) left a worker without samples 100 times; raise alpha or use fewer workers")
