"""No compression (32-bit floats) and half precision (16-bit floats)."""

from __future__ import annotations

import torch

from .base import Compressor, State
from .payload import FLOAT_BITS, Payload
from .registry import register
from .work import CodecWork, calls, elementwise, numel

__all__ = ["NoCompression", "Fp16"]


@register("none", summary="send float32 as is", bits="32")
class NoCompression(Compressor):
    """The identity: 32 bits per element, exact."""

    unbiased = True
    summable = True

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """A copy of the float32 values: 32 bits per element."""
        return Payload({"values": tensor.reshape(-1).clone()}, FLOAT_BITS * tensor.numel(), tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The values as sent."""
        return payload.data["values"]

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """A copy each way: into the send buffer, and from the receive buffer into the gradient."""
        # A copy each way: into the send buffer, and from the receive buffer into the gradient.
        n = numel(shape)
        return CodecWork(elementwise(n, ops=0), elementwise(n, ops=0)) + calls(3, 1)


@register("fp16", summary="round to IEEE half precision", bits="16")
class Fp16(Compressor):
    """Round to nearest float16: 16 bits per element, deterministic rounding error."""

    summable = True

    def encode(self, tensor: torch.Tensor, state: State) -> Payload:
        """The values rounded to float16: 16 bits per element."""
        return Payload({"values": tensor.reshape(-1).to(torch.float16)}, 16 * tensor.numel(), tensor.shape)

    def decode(self, payload: Payload, state: State) -> torch.Tensor:
        """The float16 values widened to float32."""
        return payload.data["values"].to(torch.float32)

    def work(self, shape: tuple[int, ...]) -> CodecWork:
        """One narrowing pass (4 bytes read, 2 written per element) and one widening pass back."""
        n = numel(shape)
        return CodecWork(elementwise(n, read=4, write=2), elementwise(n, read=2, write=4)) + calls(3, 2)
