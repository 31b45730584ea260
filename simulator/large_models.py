"""Price-only definitions of large published models, built on the meta device (no weights).

They exist to be priced (:func:`simulator.costs.model_cost` traces them with torch.fx and
propagates shapes on the meta device), not trained: this machine cannot hold or run them.
Each reproduces its published architecture and parameter count exactly:

============ ============================================ ================= ===============
name         architecture                                  inputs            parameters
============ ============================================ ================= ===============
resnet50     He et al. 2016, torchvision's v1.5 bottleneck (C, H, W) images   25,557,032 (1000 classes)
bert-base    Devlin et al. 2019, BertModel with pooler,    (seq_len,) tokens 109,482,240 + head
             post-LN, plus a linear classifier head
gpt2-small   Radford et al. 2019, pre-LN, causal, LM head  (seq_len,) tokens 124,439,808 (tied)
             tied to the token embedding
============ ============================================ ================= ===============

``bert-base`` counts 109,482,240 for the encoder with its pooler (HuggingFace ``BertModel``)
plus ``768 C + C`` for a C-class head; ``gpt2-small`` predicts the next token, so its classes
are the vocabulary (50,257 for GPT-2's byte-pair code). Token models take int64 token ids
(``input_dtype``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hwmodels import SpecError

__all__ = ["ResNet50", "BertBase", "GPT2Small", "resnet50", "bert_base", "gpt2_small"]


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class ResNet50(nn.Module):
    """ResNet-50: conv7/2, maxpool, bottleneck stages of 3, 4, 6, 3 blocks (stride in the 3x3)."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        blocks, cin = [], 64
        for width, depth, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(depth):
                blocks.append(_Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * _Bottleneck.expansion
        self.blocks = nn.Sequential(*blocks)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (batch x classes) of images ``x`` (batch x C x H x W)."""
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class _SelfAttention(nn.Module):
    """Multi-head attention with the matmuls written out (torch.fx prices them)."""

    def __init__(self, dim: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.heads, self.dim = heads, dim
        if fused:   # GPT-2's c_attn
            self.qkv = nn.Linear(dim, 3 * dim)
        else:       # BERT's query, key, value
            self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.fused = fused

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[1]
        return x.reshape(b, t, self.heads, self.dim // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.fused:
            q, k, v = self.qkv(x).split(self.dim, dim=2)
        else:
            q, k, v = self.query(x), self.key(x), self.value(x)
        q, k, v = self._split(q), self._split(k), self._split(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dim // self.heads)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return out.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.dim)


class _BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attention, self.attention_out = _SelfAttention(dim, heads, fused=False), nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.intermediate, self.act, self.output = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention_out(self.attention(x)))
        return self.norm2(x + self.output(self.act(self.intermediate(x))))


class BertBase(nn.Module):
    """BERT-base: token, position and segment embeddings, 12 post-LN layers of 768 with 12
    heads and 3072 hidden, the tanh pooler on [CLS], and a linear head."""

    input_dtype = torch.int64

    def __init__(self, classes: int, vocab: int = 30522, positions: int = 512, dim: int = 768, layers: int = 12,
                 heads: int = 12, hidden: int = 3072) -> None:
        super().__init__()
        self.words, self.positions, self.segments = nn.Embedding(vocab, dim), nn.Embedding(positions, dim), nn.Embedding(2, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.Sequential(*[_BertLayer(dim, heads, hidden) for _ in range(layers)])
        self.pooler, self.head = nn.Linear(dim, dim), nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Class logits (batch x classes) of token ids ``tokens`` (batch x seq_len), from the pooled first token."""
        # every token in segment 0: the position and segment rows are added, not looked up
        embedded = self.words(tokens) + self.positions.weight[: tokens.shape[1]] + self.segments.weight[0]
        h = self.layers(self.norm(embedded))
        return self.head(torch.tanh(self.pooler(h[:, 0])))


class _GPT2Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.attn, self.proj = nn.LayerNorm(dim), _SelfAttention(dim, heads, fused=True), nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(self.attn(self.ln_1(x), mask))
        return x + self.mlp(self.ln_2(x))


class GPT2Small(nn.Module):
    """GPT-2 small: 12 pre-LN causal layers of 768 with 12 heads, a final LayerNorm, and logits
    over the vocabulary from the token embedding (tied weights)."""

    input_dtype = torch.int64

    def __init__(self, vocab: int = 50257, context: int = 1024, dim: int = 768, layers: int = 12, heads: int = 12) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(context, dim)
        self.blocks = nn.ModuleList([_GPT2Block(dim, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        # True above the diagonal: a token does not attend to later ones
        self.register_buffer("future", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (batch x seq_len x vocabulary) of token ids ``tokens`` (batch x seq_len)."""
        t = tokens.shape[1]
        weight = self.wte.weight   # one get_attr: looked up and reused as the LM head, counted once
        x = nn.functional.embedding(tokens, weight) + self.wpe.weight[:t]
        mask = self.future.narrow(0, 0, t).narrow(1, 0, t)   # a buffer is not traced: slice with a torch call
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x) @ weight.transpose(0, 1)


def _tokens(name: str, shape: tuple[int, ...], limit: int) -> int:
    if len(shape) != 1 or not 1 <= shape[0] <= limit:
        raise SpecError(f"model {name!r} takes (seq_len,) token inputs with 1 <= seq_len <= {limit}, got shape {shape}")
    return shape[0]


def resnet50(shape: tuple[int, ...], classes: int) -> nn.Module:
    """ResNet-50 for (C, H, W) images, on the meta device."""
    if len(shape) != 3:
        raise SpecError(f"model 'resnet50' needs (channels, height, width) inputs, got shape {shape}")
    with torch.device("meta"):
        return ResNet50(shape[0], classes)


def bert_base(shape: tuple[int, ...], classes: int) -> nn.Module:
    """BERT-base with a ``classes``-way head for (seq_len,) token ids, on the meta device."""
    _tokens("bert-base", shape, 512)
    with torch.device("meta"):
        return BertBase(classes)


def gpt2_small(shape: tuple[int, ...], classes: int = 50257) -> nn.Module:
    """GPT-2 small for (seq_len,) token ids; ``classes`` is the vocabulary. On the meta device."""
    _tokens("gpt2-small", shape, 1024)
    with torch.device("meta"):
        return GPT2Small(vocab=classes)
