"""Block layout of quantize: axes, padding, 2-D tiles, dtypes and the fused fake-quantize."""

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx
from mxemu import oracle

MX_FORMATS = mx.formats(kind="mx")


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-8, 8, shape))
    return x.astype(np.float32)


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    width = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    np.testing.assert_array_equal(a.view(width), b.view(width))


@pytest.mark.clause("5.2", "6.3")
def test_spec_example_block_matches_hand_derivation():
    # [7, 3.5, 0.25, 0.75, -5, 0...] in MXFP4 FLOOR/RNE: amax 7 -> floor(log2 7) - 2 = 0 -> X = 1;
    # 7 -> 6 (saturate), 3.5 -> 4 (tie to even), 0.25 -> 0 (tie to even), 0.75 -> 1 (tie), -5 -> -4 (tie).
    x = np.array([7.0, 3.5, 0.25, 0.75, -5.0] + [0.0] * 27, np.float32)
    q = mx.quantize(x, "mxfp4_e2m1")
    assert q.scales.tolist() == [127]
    assert q.codes[:5].tolist() == [0x7, 0x6, 0x0, 0x2, 0xE]


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fake_quantize_has_the_bits_of_quantize_then_dequantize(fmt):
    x = _data((4, 96))
    x[0, 3] = np.nan
    x[1, 40] = np.inf
    x[2, :32] = 0.0
    _same_bits(mx.fake_quantize(x, fmt), mx.quantize(x, fmt).dequantize(np.float32))


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_fake_quantize_returns_the_input_dtype_with_dequantize_bits(dtype):
    x = _data((8, 64)).astype(dtype)
    y = mx.fake_quantize(x, "mxfp8_e4m3")
    assert y.dtype == x.dtype
    _same_bits(y, mx.quantize(x, "mxfp8_e4m3").dequantize(dtype))


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("policy", ["ocp", "torchao_ceil"])
def test_dequantize_into_16_bits_is_the_ieee_cast_of_the_exact_values(dtype, policy):
    # The casts of numpy (float16) and ml_dtypes (bfloat16) are the independent reference: round to
    # nearest even, and Inf beyond the largest finite value (the ceil rule's 256 * 2^120 = 2^128 case).
    x = _data((64, 32), seed=3)
    x[0] = np.float32(3.3e38)
    x[1] = np.linspace(-65504, 65504, 32, dtype=np.float32)
    x[2] = np.float32(2.0 ** -140)
    q = mx.quantize(x, "mxfp8_e4m3", policy=policy)
    exact = q.dequantize(np.float64)
    with np.errstate(over="ignore"):
        _same_bits(q.dequantize(dtype), exact.astype(dtype))
        _same_bits(mx.fake_quantize(x.astype(dtype), "mxfp8_e4m3", policy=policy),
                   mx.quantize(x.astype(dtype), "mxfp8_e4m3", policy=policy).dequantize(np.float64).astype(dtype))
    if policy == "torchao_ceil":
        assert np.isinf(q.dequantize(dtype)[0]).any()


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp4_e2m1", "mxint8"])
def test_blocks_along_any_axis_equal_blocks_of_the_moved_axis(fmt):
    x = _data((64, 5, 3))
    q0 = mx.quantize(x, fmt, axis=0)
    qm = mx.quantize(np.moveaxis(x, 0, -1), fmt, axis=-1)
    np.testing.assert_array_equal(q0.codes, np.moveaxis(qm.codes, -1, 0))
    np.testing.assert_array_equal(q0.scales, np.moveaxis(qm.scales, -1, 0))
    assert q0.scales.shape == (2, 5, 3)


@pytest.mark.parametrize("n", [1, 31, 33, 70])
@pytest.mark.clause("5.2")
def test_padding_changes_no_code_and_no_scale(n):
    x = _data((3, n))
    padded = np.zeros((3, -(-n // 32) * 32), np.float32)
    padded[:, :n] = x
    q = mx.quantize(x, "mxfp6_e3m2")
    qp = mx.quantize(padded, "mxfp6_e3m2")
    np.testing.assert_array_equal(q.codes, qp.codes[:, :n])
    np.testing.assert_array_equal(q.scales, qp.scales)
    assert q.codes.shape == x.shape


def test_two_axes_make_square_tiles_sharing_one_scale():
    x = _data((64, 96))
    q = mx.quantize(x, "mxfp8_e4m3", axis=(0, 1))
    assert q.scales.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            # The tile's scale comes from the tile's amax; every element is encoded at that scale.
            tile = x[32 * i:32 * i + 32, 32 * j:32 * j + 32]
            s = int(q.scales[i, j])
            amax_block = np.full((1, 32), np.abs(tile).max(), np.float32)
            assert s == int(mx.quantize(amax_block, "mxfp8_e4m3").scales[0, 0])
            expect = mx.encode(tile, "fp8_e4m3", scale_exp=s - 127)
            np.testing.assert_array_equal(q.codes[32 * i:32 * i + 32, 32 * j:32 * j + 32], expect)


def test_non_contiguous_and_big_endian_inputs_give_the_same_codes():
    x = _data((64, 64))
    base = mx.quantize(np.ascontiguousarray(x[:, ::2]), "mxfp4_e2m1")
    np.testing.assert_array_equal(mx.quantize(x[:, ::2], "mxfp4_e2m1").codes, base.codes)
    big = x.astype(">f4")
    np.testing.assert_array_equal(mx.quantize(big, "mxfp4_e2m1").codes, mx.quantize(x, "mxfp4_e2m1").codes)


def test_quantize_equals_encode_at_the_block_scale():
    x = _data((16, 32))
    q = mx.quantize(x, "mxfp6_e2m3")
    expect = mx.encode(x, "fp6_e2m3", scale_exp=q.scales.astype(np.int64) - 127)
    np.testing.assert_array_equal(q.codes, expect)


def test_seeded_stochastic_quantize_is_reproducible_and_seed_dependent():
    x = _data((8, 64))
    pol = mx.get_policy("ocp").replace(rounding="stochastic")
    a = mx.quantize(x, "mxfp4_e2m1", policy=pol, seed=3)
    b = mx.quantize(x, "mxfp4_e2m1", policy=pol, seed=3)
    c = mx.quantize(x, "mxfp4_e2m1", policy=pol, seed=4)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert (a.codes != c.codes).any()


def test_stochastic_bits_follow_the_element_not_the_block_layout():
    x = _data((64, 8))
    pol = mx.get_policy("ocp").replace(rounding="stochastic")
    q0 = mx.quantize(x, "mxfp4_e2m1", axis=0, policy=pol, seed=11)
    rb = oracle.random_ints(11, np.arange(x.size), 32).reshape(x.shape)
    q1 = mx.quantize(x, "mxfp4_e2m1", axis=0, policy=pol, random_bits=rb)
    np.testing.assert_array_equal(q0.codes, q1.codes)
