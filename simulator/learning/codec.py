"""The codec work of one training step: what encoding and decoding a model's gradients cost.

:func:`codec_work` sums each compressor's declared work (:meth:`Compressor.work`, counted from
its kernels) over the model's gradient tensors; the trainer prices it on each worker's device
(:meth:`hwmodels.Device.codec_time`). Nothing is timed on this host, so a spec gives the same
numbers on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwmodels import SpecError
from simulator.compression import CodecWork, create

__all__ = ["codec_work"]


def codec_work(name: str, params: dict[str, Any], shapes: Sequence[tuple[int, ...]],
               factors: Sequence[tuple[int, int, int]] = ()) -> CodecWork:
    """Work to encode one worker's gradients and to decode one worker's payloads with scheme
    ``name`` and ``params``: the sum over the tensors of ``shapes``. For a "factors" scheme
    (ISGQ), ``factors`` lists the linear layers compressed in factor form as
    ``(B, d_in, d_out)``, and ``shapes`` the tensors its direct compressor takes."""
    compressor = create(name, **params)
    if factors and not compressor.takes_factors:
        raise SpecError(f"codec work: {name!r} compresses tensors, not factors; give shapes only")
    total = CodecWork()
    for shape in shapes:
        total = total + compressor.direct.work(tuple(shape))
    for shape in factors:
        total = total + compressor.work(tuple(shape))
    return total
