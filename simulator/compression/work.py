"""The work a codec does, in the kernels it runs: :class:`CodecWork` and the kernel vocabulary.

Every compressor declares ``work(shape) -> CodecWork``: the :class:`hwmodels.Work` (operations
and bytes of memory traffic) to encode one tensor of ``shape`` and to decode one payload of it.
A scheme builds it from the kernels below, one per pass its implementation makes over the
data (docs/compression.md, "Codec work", gives the derivation of every constant). Counting
rules: an eager kernel reads its inputs from memory and writes its output (no fusion); a float
is 4 bytes; integer, compare and random-number operations count one operation each; a random
access (gather, scatter) moves one 32-byte memory sector. Calls: a scheme declares the torch
operators its ``compress`` and ``decompress`` dispatch (views, scalars and allocations
included, each a launch or dispatch a device pays :attr:`hwmodels.Device.call_overhead_s` for),
counted on its implementation with a dispatch counter (tests/simulator/compression). The
kernels below model what a device kernel does and carry no calls, except the padded copy of
:func:`bucket_copy`, whose two operators run only when it pads. A device prices the work with
its roofline plus its per-call overhead (:meth:`hwmodels.Device.codec_time`); nothing here
reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodels import SpecError, Work
from hwmodels.checks import is_int, is_number

__all__ = [
    "CodecWork", "FLOAT", "RNG_OPS", "PACK_OPS", "GAMMA_OPS", "SECTOR", "elementwise", "reduction", "random",
    "fill", "pack", "unpack", "gamma_code", "gather", "select", "sort", "permutation", "matmul", "qr", "lstsq",
    "walsh_hadamard", "bucket_copy", "numel", "calls", "ANS_ENCODE_OPS", "ANS_DECODE_OPS", "ans_gaussian",
    "ANS_TABLE_ENCODE_OPS", "ANS_TABLE_DECODE_OPS", "ans_table",
]

FLOAT = 4.0   # bytes of a float32
# Operations per 32-bit random number: Philox4x32-10 (the counter-based generator of cuRAND and
# of torch on GPUs) runs 10 rounds of 2 multiply-hi/lo pairs (4 ops), 4 xors and 2 key adds per
# 4 outputs: 25 per number; 2 more turn it into a float in [0, 1).
RNG_OPS = 27.0
# Operations per symbol to pack a fixed-length code into a bit stream (or a base-A block):
# shift, or, mask and advance (multiply-add and advance for base A); the same to unpack.
PACK_OPS = 4.0
# Operations per Elias-gamma code word: count leading zeros, two shifts, or into the bit
# buffer, advance, overflow check, and the branch on its length; the same to decode.
GAMMA_OPS = 8.0
# Operations per symbol of an ANS coder under a quantized Gaussian model with a mean per symbol
# (constriction's QuantizedGaussian): calibrated, not derived. The coder is serial scalar code
# (each symbol's CDFs, fixed-point quantization and state update depend on the last), so it
# runs far below a vector peak: on one core of the benchmark host (docs/benchmarks.md, 2^16 to
# 2^22 symbols, 2026-12-02) it took 104-151 ns per symbol to encode and 290-306 ns to decode.
# These counts are the operations that reproduce those times at that core's measured fp32 peak
# (42 GFLOP/s) and the CPU codec efficiency 0.57, so a device prices the coder as this host ran it.
ANS_ENCODE_OPS = 3200.0
ANS_DECODE_OPS = 7200.0
# The same for a categorical model (one table for all symbols), calibrated the same way: 12 ns
# per symbol to encode and 17 ns to decode (2^20 symbols of 4 letters, one core, 2026-12-02).
ANS_TABLE_ENCODE_OPS = 290.0
ANS_TABLE_DECODE_OPS = 400.0
SECTOR = 32.0  # bytes a random access moves (a DRAM sector of NVIDIA GPUs; CPUs move 64-byte lines)


@dataclass(frozen=True)
class CodecWork:
    """Work to ``encode`` one tensor and to ``decode`` one payload of it. ``+`` adds both
    parts (several tensors), ``* s`` scales both."""

    encode: Work = Work()
    decode: Work = Work()

    def __post_init__(self) -> None:
        for name in ("encode", "decode"):
            if not isinstance(getattr(self, name), Work):
                raise SpecError(f"CodecWork.{name} must be a hwmodels.Work, got {type(getattr(self, name)).__name__}")

    def __add__(self, other: CodecWork) -> CodecWork:
        if not isinstance(other, CodecWork):
            return NotImplemented
        return CodecWork(self.encode + other.encode, self.decode + other.decode)

    def __mul__(self, scalar: float) -> CodecWork:
        if not is_number(scalar, finite=False):
            return NotImplemented
        return CodecWork(self.encode * scalar, self.decode * scalar)

    __rmul__ = __mul__


def calls(encode: float, decode: float) -> CodecWork:
    """The torch operators a scheme's ``compress`` and ``decompress`` dispatch (no other work)."""
    return CodecWork(Work(calls=encode), Work(calls=decode))


def numel(shape: tuple[int, ...]) -> int:
    """Elements of ``shape``; SpecError unless it is a tuple of integers >= 1."""
    if not isinstance(shape, tuple) or not all(is_int(s) and s >= 1 for s in shape):
        raise SpecError(f"codec work: shape must be a tuple of integers >= 1, got {shape!r}")
    return math.prod(int(s) for s in shape)


def elementwise(n: float, ops: float = 1.0, read: float = FLOAT, write: float = FLOAT) -> Work:
    """One elementwise kernel over ``n`` elements: ``ops`` per element, ``read`` and ``write``
    bytes per element (all inputs together)."""
    return Work(ops * n, (read + write) * n)


def reduction(n: float, ops: float = 1.0, read: float = FLOAT) -> Work:
    """A reduction (sum, norm, max) reading ``n`` elements; its few outputs are free."""
    return Work(ops * n, read * n)


def random(n: float, write: float = FLOAT) -> Work:
    """``n`` random numbers written to memory."""
    return Work(RNG_OPS * n, write * n)


def fill(n: float, write: float = FLOAT) -> Work:
    """A zero-filled buffer of ``n`` elements (memset)."""
    return Work(0.0, write * n)


def pack(count: float, alphabet: float, read: float = 1.0) -> Work:
    """Pack ``count`` symbols of an ``alphabet``-letter code (held in ``read``-byte containers)
    into a stream of log2(alphabet) bits each."""
    return Work(PACK_OPS * count, count * (read + math.log2(alphabet) / 8))


def unpack(count: float, alphabet: float, write: float = 1.0) -> Work:
    """Unpack ``count`` symbols of an ``alphabet``-letter code into ``write``-byte containers."""
    return Work(PACK_OPS * count, count * (write + math.log2(alphabet) / 8))


def gamma_code(count: float, read: float = 8.0) -> Work:
    """Elias-gamma code (or decode) ``count`` integers held in ``read``-byte words; the code
    words of the small integers a gradient gives fit in a byte."""
    return Work(GAMMA_OPS * count, count * (read + 1.0))


def gather(count: float, value: float = FLOAT) -> Work:
    """``out[i] = x[idx[i]]`` (or the scatter ``x[idx[i]] = v[i]``) for ``count`` int64 indices:
    read the index, move one sector at a random place, write the value."""
    return Work(count, count * (8.0 + SECTOR + value))


def select(n: float, k: float) -> Work:
    """torch.topk of ``k`` of ``n`` on a CPU (ATen TopKImpl.h): copy into (value, int64 index)
    pairs, then ``std::partial_sort`` (a heap of k: one compare per element, plus
    log2 k per heap replacement, k ln(n/k) of them in random order, and the final sort of the
    heap) when 64 k <= n, else
    ``std::nth_element`` (introselect: about 3 n compares over partitions that shrink
    geometrically, so about 2 n pairs read and written); then k values and indices written."""
    k = min(k, n)
    build = Work(n, n * (FLOAT + 16.0))
    if 64 * k <= n:   # the heap of k stays in cache; the scan reads every pair once
        log_k = math.log2(k) if k > 1 else 0.0
        chosen = Work(n + (k * math.log(n / k) + 2 * k) * log_k, 16.0 * n)
    else:
        chosen = Work(3.0 * n, 2 * 16.0 * 2.0 * n)
    return build + chosen + Work(k, 12.0 * k)


def sort(n: float, item: float = 8.0) -> Work:
    """A comparison sort (introsort) of ``n`` items of ``item`` bytes: n log2 n compares;
    each of the log2 n partition levels reads and writes the array."""
    levels = math.log2(n) if n > 1 else 0.0
    return Work(n * levels, 2.0 * item * n * levels)


def permutation(n: float) -> Work:
    """torch.randperm(n): Fisher-Yates, one random number and one swap of two random int64s each."""
    return random(n, write=8.0) + Work(n, n * 2 * SECTOR)


def matmul(m: float, k: float, n: float) -> Work:
    """(m x k) @ (k x n) in float32: 2 m k n FLOPs; each operand read and the result written once."""
    return Work(2.0 * m * k * n, FLOAT * (m * k + k * n + m * n))


def qr(m: float, r: float) -> Work:
    """Thin Householder QR of an m x r matrix, Q formed (LAPACK geqrf + orgqr): 2 m r^2 - 2 r^3/3
    FLOPs each; each of the r reflections of each reads and writes the m x r panel, plus
    the copy in and Q out."""
    return Work(4.0 * m * r * r - 4.0 * r**3 / 3.0, FLOAT * (4.0 * m * r * r + 2.0 * m * r))


def lstsq(m: float, p: float) -> Work:
    """Least squares with an m x p matrix, m >= p (LAPACK gelsd: QR, then an SVD of p x p):
    about 2 m p^2 + 11 p^3 FLOPs; the matrix is read and written about twice."""
    return Work(2.0 * m * p * p + 11.0 * p**3, 4 * FLOAT * m * p)


def walsh_hadamard(rows: float, n: int) -> Work:
    """Fast Walsh-Hadamard transform of ``rows`` rows of ``n`` (a power of two): n log2 n adds
    and subtracts per row; the stages run in blocks of 256 points that stay in registers or
    cache, so there is one read and one write pass per 8 stages."""
    stages = int(math.log2(n))
    passes = max(1, math.ceil(stages / 8))
    return Work(rows * n * stages, 2 * FLOAT * rows * n * passes)


def ans_gaussian(count: float, alphabet: float, decode: bool) -> Work:
    """ANS-code (or decode) ``count`` int32 symbols, each with its float64 model mean, into a
    stream of about log2(``alphabet``) bits per symbol (``alphabet``: 2^rate)."""
    ops = ANS_DECODE_OPS if decode else ANS_ENCODE_OPS
    return Work(ops * count, count * (4.0 + 8.0 + math.log2(alphabet) / 8))


def ans_table(count: float, alphabet: float, decode: bool, width: float = 1.0) -> Work:
    """ANS-code (or decode) ``count`` symbols held in ``width``-byte containers under one
    categorical table, into at most log2(``alphabet``) bits each (the counts' pass included)."""
    ops = ANS_TABLE_DECODE_OPS if decode else ANS_TABLE_ENCODE_OPS
    return Work(ops * count, count * (width + math.log2(alphabet) / 8))


def bucket_copy(n: int, size: int) -> tuple[int, Work]:
    """(rows, work) of viewing ``n`` elements as rows of ``size``: free when ``size`` divides
    ``n``, otherwise a padded copy (two calls: the zeros of the padding, and the concatenation)."""
    rows = -(-n // size)
    if rows * size == n:
        return rows, Work()
    return rows, Work(0.0, FLOAT * (n + rows * size), 2)
