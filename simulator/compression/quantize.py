"""Shared quantization kernels: bucketing, stochastic rounding and subtractive dither.

All work on a (buckets, size) float32 view with a few in-place vectorised passes; each
kernel's ``*_work(n)`` counts its passes over ``n`` elements (docs/compression.md, "Codec work").
"""

from __future__ import annotations

import torch

from hwmodels import Work

from .work import elementwise, random, reduction

__all__ = ["to_buckets", "row_absmax", "stochastic_levels", "dithered_quantize", "dithered_reconstruct", "symbol_dtype",
           "absmax_work", "stochastic_levels_work", "dithered_quantize_work", "dithered_reconstruct_work"]


def to_buckets(x: torch.Tensor, size: int) -> torch.Tensor:
    """The flat tensor as rows of ``size`` entries, the last row padded with zeros."""
    flat = x.reshape(-1)
    pad = (-flat.numel()) % size
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    return flat.view(-1, size)


def row_absmax(v: torch.Tensor) -> torch.Tensor:
    """max |v| of each row, shape (rows, 1), in one pass."""
    low, high = torch.aminmax(v, dim=-1, keepdim=True)
    return torch.maximum(high, -low)


def absmax_work(n: float) -> Work:
    """:func:`row_absmax`: one read pass, a min and a max per element."""
    return reduction(n, ops=2)


def symbol_dtype(levels: int) -> torch.dtype:
    """The smallest container for symbols -levels..levels+1 (the container is never counted)."""
    return torch.int8 if levels < 127 else torch.int16 if levels < 32767 else torch.int32


def stochastic_levels(v: torch.Tensor, factor: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """sign(v) floor(|v| factor + u), u ~ U[0, 1): |v| factor stochastically rounded to an
    integer level (unbiased), sign kept; float result."""
    levels = torch.rand(v.shape, generator=gen).add_(v.abs().mul_(factor)).floor_()
    return levels.copysign_(v)


def stochastic_levels_work(n: float) -> Work:
    """:func:`stochastic_levels`: rand, abs, scale, add, floor, copysign (six passes)."""
    one, two = elementwise(n), elementwise(n, read=8)
    return random(n) + one + one + two + one + two


def dithered_quantize(v: torch.Tensor, levels: int, dither: torch.Tensor, absmax: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row max scaling to {-levels..levels} with subtractive dither.

    Returns the integer symbols q = round(v / scale + u) (float) and the row scales
    ||row||_inf / levels (0 for an all-zero row), so that (q - u) scale is unbiased with
    uniform error of variance scale^2 / 12. ``absmax`` may pass precomputed row maxima.
    """
    scale = (row_absmax(v) if absmax is None else absmax) / levels
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = (v / safe).add_(dither).round_().clamp_(-levels, levels)
    return q, scale


def dithered_quantize_work(n: float, absmax: bool = True) -> Work:
    """:func:`dithered_quantize` (with the row maxima unless ``absmax`` is False): divide,
    add the dither, round, clamp."""
    passes = elementwise(n) + elementwise(n, read=8) + elementwise(n) + elementwise(n, ops=2)
    return passes + absmax_work(n) if absmax else passes


def dithered_reconstruct(q: torch.Tensor, dither: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(q - u) scale, the subtractive-dither reconstruction."""
    return (q - dither).mul_(scale)


def dithered_reconstruct_work(n: float) -> Work:
    """:func:`dithered_reconstruct`: subtract the dither, scale."""
    return elementwise(n, read=8) + elementwise(n)
