"""Small real models, built from scratch, and a cache of trained weights.

``build(name, input_shape, num_classes, seed=0, **params) -> torch.nn.Module``:

=========== ================================================================ ================
name        architecture                                                     inputs
=========== ================================================================ ================
mlp         flatten, ``hidden`` ReLU layers (default [128]), linear           any
lenet5      conv5(6)-pool-conv5(16)-pool-fc120-fc84-fc (padding keeps size)   (C, H, W), (C, L)
resnet8     conv3(16), three basic blocks (16, 32/2, 64/2), BatchNorm, pool   (C, H, W), (C, L)
cnn1d       conv5(32)-conv3/2(32)-conv3/2(32), ReLU, linear                   (C, L)
transformer tokens (rows or patches), ``layers`` pre-norm attention blocks    (C, H, W), (C, L)
resnet50    ResNet-50 (price only: meta device, no weights)                   (C, H, W)
bert-base   BERT-base encoder, pooler and a linear head (price only)          (seq_len,)
gpt2-small  GPT-2 small, tied LM head; classes = vocabulary (price only)      (seq_len,)
=========== ================================================================ ================

Convolutional models are 1-D or 2-D after the input. Initial weights come from ``seed``
alone (a forked torch RNG: the global generator is left as it was). Every model traces with
``torch.fx`` (see :mod:`simulator.costs`).

``trained(model, data, seed, ...)`` trains a model centrally and caches its weights under
:func:`cache_dir` (``$DDLSIM_CACHE`` or ``~/.cache/ddlsim``), keyed by model, data, seed and
the training settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwmodels import SpecError
from hwmodels.registry import Registry, bind_params

__all__ = ["MODELS", "PRICE_ONLY", "build", "cache_dir", "trained", "accuracy"]

# builder(shape, classes, **params) -> model
MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
_register = MODELS.register


def build(name: str, input_shape: Sequence[int], num_classes: int, seed: int = 0, **params: Any) -> nn.Module:
    """The model ``name`` for inputs of ``input_shape`` (no batch dim) and ``num_classes``."""
    builder = MODELS.get(name)
    params = bind_params(builder, params, f"model {name!r}", given=("shape", "classes"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(tuple(int(s) for s in input_shape), int(num_classes), **params)


def _spatial(name: str, shape: tuple[int, ...]) -> int:
    if len(shape) not in (2, 3):
        raise SpecError(f"model {name!r} needs (channels, length) or (channels, height, width) inputs, got shape {shape}")
    return len(shape) - 1


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv1d if dims == 1 else nn.Conv2d


@_register("mlp")
def mlp(shape: tuple[int, ...], classes: int, hidden: Sequence[int] = (128,)) -> nn.Module:
    """Flatten, one Linear + ReLU per width in ``hidden``, then a Linear to ``classes`` logits."""
    sizes = [math.prod(shape), *[int(h) for h in hidden]]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], classes))


@_register("lenet5")
def lenet5(shape: tuple[int, ...], classes: int) -> nn.Module:
    """LeNet-5 for (C, L) or (C, H, W) inputs: conv5(6)-pool-conv5(16)-pool-fc120-fc84-fc (padding keeps size)."""
    dims = _spatial("lenet5", shape)
    conv, pool = _conv(dims), (nn.MaxPool1d if dims == 1 else nn.MaxPool2d)
    feats = nn.Sequential(conv(shape[0], 6, 5, padding=2), nn.ReLU(), pool(2), conv(6, 16, 5, padding=2), nn.ReLU(), pool(2))
    with torch.no_grad():
        flat = feats(torch.zeros(1, *shape)).numel()
    return nn.Sequential(feats, nn.Flatten(), nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, classes))


class _Block(nn.Module):
    def __init__(self, dims: int, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        conv, norm = _conv(dims), (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)
        self.conv1, self.bn1 = conv(cin, cout, 3, stride=stride, padding=1, bias=False), norm(cout)
        self.conv2, self.bn2 = conv(cout, cout, 3, padding=1, bias=False), norm(cout)
        self.short = (nn.Sequential(conv(cin, cout, 1, stride=stride, bias=False), norm(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


@_register("resnet8")
def resnet8(shape: tuple[int, ...], classes: int, width: int = 16) -> nn.Module:
    """A small ResNet for (C, L) or (C, H, W) inputs: conv3(``width``), three basic blocks (``width``,
    2 ``width`` /2, 4 ``width`` /2), BatchNorm, global average pool, Linear."""
    dims = _spatial("resnet8", shape)
    conv, norm = _conv(dims), (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)
    pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
    w = int(width)
    return nn.Sequential(conv(shape[0], w, 3, padding=1, bias=False), norm(w), nn.ReLU(),
                         _Block(dims, w, w, 1), _Block(dims, w, 2 * w, 2), _Block(dims, 2 * w, 4 * w, 2),
                         pool, nn.Flatten(), nn.Linear(4 * w, classes))


@_register("cnn1d")
def cnn1d(shape: tuple[int, ...], classes: int, channels: int = 32) -> nn.Module:
    """A 1-D CNN for (C, L) signals: conv5(``channels``)-conv3/2-conv3/2, ReLU each, then a Linear."""
    if len(shape) != 2:
        raise SpecError(f"model 'cnn1d' needs (channels, length) inputs, got shape {shape}")
    c = int(channels)
    feats = nn.Sequential(nn.Conv1d(shape[0], c, 5, padding=2), nn.ReLU(), nn.Conv1d(c, c, 3, stride=2, padding=1),
                          nn.ReLU(), nn.Conv1d(c, c, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
    with torch.no_grad():
        flat = feats(torch.zeros(1, *shape)).numel()
    return nn.Sequential(feats, nn.Linear(flat, classes))


class _Attention(nn.Module):
    """Multi-head self-attention written out (so torch.fx sees its matmuls)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise SpecError(f"model 'transformer': dim {dim} is not a multiple of heads {heads}")
        self.heads, self.dim = heads, dim
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape[0], x.shape[1], self.dim
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, t, d))


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.att = nn.LayerNorm(dim), _Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.att(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _Tokens(nn.Module):
    """(B, C, H, W) -> H tokens of C*W features; (B, C, L) -> L/patch tokens of C*patch."""

    def __init__(self, shape: tuple[int, ...], patch: int) -> None:
        super().__init__()
        self.image = len(shape) == 3
        if self.image:
            self.tokens, self.features = shape[1], shape[0] * shape[2]
        else:
            if shape[1] % patch:
                raise SpecError(f"model 'transformer': length {shape[1]} is not a multiple of patch {patch}")
            self.tokens, self.features = shape[1] // patch, shape[0] * patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image:
            return x.permute(0, 2, 1, 3).reshape(x.shape[0], self.tokens, self.features)
        return x.reshape(x.shape[0], x.shape[1], self.tokens, -1).permute(0, 2, 1, 3).reshape(x.shape[0], self.tokens, self.features)


class _Transformer(nn.Module):
    def __init__(self, shape: tuple[int, ...], classes: int, dim: int, heads: int, layers: int, patch: int) -> None:
        super().__init__()
        self.tok = _Tokens(shape, patch)
        self.embed = nn.Linear(self.tok.features, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, self.tok.tokens, dim))
        self.layers = nn.Sequential(*[_Layer(dim, heads) for _ in range(layers)])
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layers(self.embed(self.tok(x)) + self.pos)
        return self.head(self.norm(h).mean(1))


@_register("transformer")
def transformer(shape: tuple[int, ...], classes: int, dim: int = 32, heads: int = 4, layers: int = 2, patch: int = 4) -> nn.Module:
    """A small pre-norm transformer for (C, L) or (C, H, W) inputs: tokens are image rows (C*W
    features) or ``patch``-long pieces of a signal, embedded to ``dim`` with learned positions, then
    ``layers`` blocks of ``heads``-head attention, LayerNorm, the mean over tokens and a Linear."""
    _spatial("transformer", shape)
    return _Transformer(shape, classes, int(dim), int(heads), int(layers), int(patch))


# Price-only models on the meta device (no weights, no data): simulator/large_models.py.
from .large_models import bert_base, gpt2_small, resnet50  # noqa: E402

PRICE_ONLY = ("resnet50", "bert-base", "gpt2-small")
for _name, _builder in zip(PRICE_ONLY, (resnet50, bert_base, gpt2_small)):
    _register(_name)(_builder)


# ---------------------------------------------------------------------- trained weights
def cache_dir() -> Path:
    """``$DDLSIM_CACHE``, else ``$XDG_CACHE_HOME/ddlsim``, else ``~/.cache/ddlsim`` (created)."""
    root = os.environ.get("DDLSIM_CACHE")
    if root:
        path = Path(root)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ddlsim"
    path.mkdir(parents=True, exist_ok=True)
    return path


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    """Fraction of ``x`` that ``model`` (in eval mode) classifies as ``y``."""
    was = model.training
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(y), batch))
    model.train(was)
    return correct / max(len(y), 1)


def trained(model: str, data: str, seed: int = 0, *, epochs: int = 20, batch: int = 64, lr: float = 1e-3,
            model_params: dict[str, Any] | None = None, data_params: dict[str, Any] | None = None) -> nn.Module:
    """``model`` trained on ``data`` with Adam (central, one process); weights cached on disk.

    The cache key is a hash of every argument; a second call loads the file instead of training.
    """
    from .data import load  # noqa: PLC0415

    dataset = load(data, seed=seed, **(data_params or {}))
    net = build(model, dataset.input_shape, dataset.num_classes, seed=seed, **(model_params or {}))
    key = json.dumps({"model": model, "data": data, "seed": seed, "epochs": epochs, "batch": batch, "lr": lr,
                      "model_params": model_params or {}, "data_params": data_params or {}}, sort_keys=True)
    path = cache_dir() / "weights" / f"{model}-{data}-{seed}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(dataset.y_train)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(net(dataset.x_train[idx]), dataset.y_train[idx]).backward()
            opt.step()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(net.state_dict(), tmp)
    tmp.replace(path)
    return net
