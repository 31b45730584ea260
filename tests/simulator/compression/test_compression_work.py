"""Declared codec work: every scheme declares it, it grows with the tensor as its kernels do,
and three schemes' counts equal a hand count of their passes."""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hwmodels import SpecError, Work
from simulator.compression import CodecWork, create, schemes
from simulator.compression.work import GAMMA_OPS, PACK_OPS, RNG_OPS, SECTOR, select

TENSOR_SHAPES = [(1,), (10,), (1000,), (64, 1024), (3, 5, 7, 11), (1 << 20,)]
FACTOR_SHAPES = [(1, 1, 1), (32, 64, 10), (64, 1024, 1024), (256, 16, 16)]


def shapes_of(scheme):
    return FACTOR_SHAPES if scheme.kind == "factors" else TENSOR_SHAPES


@pytest.mark.parametrize("scheme", schemes(), ids=lambda s: s.name)
def test_every_scheme_declares_positive_work(scheme):
    c = create(scheme.name)
    for shape in shapes_of(scheme):
        w = c.work(shape)
        assert isinstance(w, CodecWork)
        for part in (w.encode, w.decode):
            assert part.bytes > 0 and part.flops >= 0
        if scheme.name != "none":   # none only copies
            assert w.encode.flops > 0


@pytest.mark.parametrize("scheme", schemes(), ids=lambda s: s.name)
def test_bad_shapes_are_user_errors(scheme):
    for bad in [(0,), (2, -1), [4, 4], (2.0,)]:
        with pytest.raises(SpecError, match="shape"):
            create(scheme.name).work(bad if scheme.kind != "factors" else (bad, 1, 1))
    if scheme.kind == "factors":
        with pytest.raises(SpecError, match=r"\(B, d_in, d_out\)"):
            create(scheme.name).work((64, 64))


def _ratio(a: Work, b: Work) -> tuple[float, float]:
    return b.flops / a.flops if a.flops else 2.0, b.bytes / a.bytes


# Work of a tensor with twice the rows is about twice the work: every pass is linear, the
# selections (heap select of k = n/100: n + k ln(n/k) log2 k compares) add a log factor, and
# fixed-size parts (DGC's and top-k's threshold samples, random-k's extra draws, a padded last
# bucket) make small tensors grow by less than 2.
@settings(max_examples=40, deadline=None)
@given(scheme=st.sampled_from([s for s in schemes() if s.kind != "factors"]),
       rows=st.integers(4, 512), cols=st.sampled_from([16, 100, 256, 1024]))
def test_work_grows_linearly_with_the_elements(scheme, rows, cols):
    n = rows * cols
    assume(n >= 4096)
    if scheme.name == "topk":   # a different kernel (sampled threshold) from 2^16 elements on
        assume(not n < 1 << 16 <= 2 * n)
    c = create(scheme.name)
    small, large = c.work((rows, cols)), c.work((2 * rows, cols))
    for part in ("encode", "decode"):
        flops, nbytes = _ratio(getattr(small, part), getattr(large, part))
        assert 1.4 <= flops <= 2.3 and 1.4 <= nbytes <= 2.3, (part, flops, nbytes)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 16), d_in=st.integers(1, 16), d_out=st.integers(1, 16))
def test_isgq_work_grows_linearly_with_the_layer(batch, d_in, d_out):
    # whole buckets of 512 (B d multiple of 512), so padding does not blur the count
    batch, d_in, d_out = 8 * batch, 64 * d_in, 64 * d_out
    c = create("isgq")
    small, large = c.work((batch, d_in, d_out)), c.work((batch, 2 * d_in, d_out))
    for part in ("encode", "decode"):
        flops, nbytes = _ratio(getattr(small, part), getattr(large, part))
        # the factor X doubles, Delta does not; G = X^T Delta doubles
        assert 1.0 < flops <= 2.05 and 1.0 < nbytes <= 2.3, (part, flops, nbytes)


def test_none_by_hand():
    # a copy into the send buffer (read 4, write 4 bytes) and one out of the receive buffer
    # a copy each way; compress dispatches detach, view and clone, decompress one view
    assert create("none").work((1000,)) == CodecWork(Work(0.0, 8000.0, 3), Work(0.0, 8000.0, 1))


def test_qsgd_by_hand():
    # 1024 elements = 2 buckets of 512, no padding; symbols in int8 containers, 9 letters
    m = 1024
    packed = 1 + math.log2(9) / 8          # read a byte, write log2(9) bits per symbol
    ops = (2                                # norm: square and add
           + RNG_OPS + 1 + 1 + 1 + 1 + 1    # rand, abs, scale, add, floor, copysign
           + 1 + PACK_OPS)                  # narrow to int8, pack
    nbytes = (4                             # norm reads
              + 4 + 8 + 8 + 12 + 8 + 12    # rand writes; abs, scale, floor r/w 8; add, copysign 12
              + 5 + packed)                 # narrow reads 4 writes 1; pack
    expect = CodecWork(Work(ops * m, nbytes * m), Work((PACK_OPS + 1 + 1) * m, (packed + 5 + 8) * m))
    got = create("qsgd").work((1024,))
    assert got.encode.flops == pytest.approx(expect.encode.flops, rel=1e-12)
    assert got.encode.bytes == pytest.approx(expect.encode.bytes, rel=1e-12)
    assert got.decode.flops == pytest.approx(expect.decode.flops, rel=1e-12)
    assert got.decode.bytes == pytest.approx(expect.decode.bytes, rel=1e-12)
    # a padded last bucket: 1000 elements are copied into 2 x 512
    padded = create("qsgd").work((1000,))
    assert padded.encode.bytes - expect.encode.bytes == pytest.approx(4 * (1000 + 1024), rel=1e-12)
    # Elias coding adds the nonzero scan and per nonzero two gamma codes and a sign; nonzeros at
    # s sqrt(2 / (pi b)) of the entries (Gaussian)
    elias = create("qsgd", coding="elias").work((1024,))
    nnz = m * 4 * math.sqrt(2 / (math.pi * 512))
    codes_ops = GAMMA_OPS * (2 * nnz + 2) + PACK_OPS * nnz
    assert elias.encode.flops == pytest.approx(expect.encode.flops - PACK_OPS * m + 2 * m + codes_ops, rel=1e-12)


def test_topk_by_hand():
    # 1000 elements, k = 10: below 2^16 elements, so torch.topk; 64 k <= n: heap select.
    n, k = 1000, 10
    index = 42 / 8                          # 32-bit value and ceil(log2 1000) = 10-bit index
    heap = n + (k * math.log(n / k) + 2 * k) * math.log2(k)
    topk_ops = n + n + heap + k + k + PACK_OPS * k              # abs, pairs, heap, output, gather, pack
    topk_bytes = 8 * n + 20 * n + 16 * n + 12 * k + (8 + SECTOR + 4) * k + (12 + index) * k
    decode_ops, decode_bytes = PACK_OPS * k + k, (12 + index) * k + 4 * n + (8 + SECTOR + 4) * k
    # error feedback: the sender also decodes, and makes five passes (scale, add, subtract, scale, add)
    ef_ops, ef_bytes = 5 * n, (8 + 12 + 12 + 8 + 12) * n
    got = create("topk").work((n,))
    assert got.encode.flops == pytest.approx(topk_ops + decode_ops + ef_ops, rel=1e-12)
    assert got.encode.bytes == pytest.approx(topk_bytes + decode_bytes + ef_bytes, rel=1e-12)
    # decode: zeros, index_put_, the reshapes of the inner and of the error-feedback decompress
    assert got.decode == Work(decode_ops, decode_bytes, 3 + 1)
    plain = create("topk", ef=False).work((n,))
    assert plain.encode.flops == pytest.approx(topk_ops, rel=1e-12)


def test_select_takes_the_branch_torch_takes():
    # 64 k > n: nth_element, about 3 n compares and 2 n pairs read and written
    w = select(1000, 100)
    assert w.flops == pytest.approx(1000 + 3000 + 100)
    assert w.bytes == pytest.approx(20 * 1000 + 64 * 1000 + 12 * 100)


def test_codec_work_adds_and_scales():
    a = CodecWork(Work(1, 2), Work(3, 4))
    assert a + a == a * 2 == 2 * a == CodecWork(Work(2, 4), Work(6, 8))
    with pytest.raises(SpecError, match="hwmodels.Work"):
        CodecWork(1.0, Work())


def test_wrappers_add_their_own_passes_to_the_inner_work():
    n = 4096
    wrapped = create("topk").work((n,)).encode.bytes - create("topk", ef=False).work((n,)).encode.bytes
    ef_passes = (8 + 12 + 12 + 8 + 12) * n
    assert wrapped == pytest.approx(ef_passes + create("topk", ef=False).work((n,)).decode.bytes, rel=1e-12)
    qcs = create("qcs", ef=True).work((n,))
    plain = create("qcs").work((n,))
    assert qcs.encode.bytes == pytest.approx(plain.encode.bytes + plain.decode.bytes + ef_passes, rel=1e-12)
    # the same decode, plus the wrapper's own reshape of the inner result
    assert qcs.decode == plain.decode + Work(calls=1)
