"""Gradient compression with exact bit accounting (docs/compression.md).

``create(name, **params)`` builds a registered :class:`Compressor`; ``compress(tensor, state)``
returns a :class:`Payload` whose ``nbits`` is what travels; ``decompress(payload, state)``
gives the tensor back; ``work(shape)`` declares what encoding and decoding cost (operations and
memory bytes, for a device to price). Importing this package registers every scheme.
"""

from . import basic, dithered, entropy, isgq, lowrank, qcs, sign, sparse, stochastic  # noqa: F401  (registration by import)
from .base import FACTORS, PRIVATE, SHARED, TENSOR, WORKERS, Compressor, State, allow_nonfinite
from .feedback import ErrorFeedback
from .payload import FLOAT_BITS, Payload, block_bits, elias_gamma_bits, index_bits
from .registry import SCHEMES, Param, Scheme, create, get, parse_params, schemes
from .work import CodecWork

__all__ = [
    "Compressor", "State", "Payload", "CodecWork", "ErrorFeedback", "Param", "Scheme", "SCHEMES", "SHARED", "PRIVATE",
    "TENSOR", "WORKERS", "FACTORS", "FLOAT_BITS", "create", "get", "schemes", "parse_params", "block_bits",
    "index_bits", "elias_gamma_bits", "allow_nonfinite",
]
