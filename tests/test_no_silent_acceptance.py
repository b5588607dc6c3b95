"""Inputs once accepted and answered wrongly: each now gives the exact result or a typed error naming the limit.

Formats from a format file that the kernels did not implement (a narrow exponent-only scale, an
element-format scale, a two-level format with other constants, elements wider than 8 bits), hand-built
MXArrays, byte-swapped output dtypes, the two-level path's non-finite policy, np.matrix input, 2-D tiles
of 64-dimensional arrays and format objects built directly with invalid fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx
from mxemu import oracle
from mxemu.errors import InputError, PolicyError, SpecError, UnknownNameError

F32 = np.float32
FORMATS = """
[scale.e5m0_t]
clause = "test: 5-bit exponent-only scale"
exponent_bits = 5
bias = 15

[mx.mxfp8_e5m0_t]
clause = "test"
element = "fp8_e4m3"
scale = "e5m0_t"
block_size = 32

[mx.mxfp8_e4m3s_t]
clause = "test: element-format scale, no tensor scale"
element = "fp8_e4m3"
scale = "fp8_e4m3"
block_size = 32

[mx.fp6_two_level_t]
clause = "test: NVFP4-like with E3M2 elements"
element = "fp6_e3m2"
scale = "fp8_e4m3"
block_size = 16
tensor_scale = true
"""


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    path = tmp_path_factory.mktemp("formats") / "custom.toml"
    path.write_text(FORMATS)
    names = mx.register_formats(path)
    yield
    mx.unregister_formats(names)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.toml"
    path.write_text(text)
    return path


# 1. An exponent-only scale other than E8M0 -------------------------------------------------------------------

@pytest.mark.parametrize(("x0", "policy", "scale", "first"), [
    (1000.0, mx.Policy(), 16, 896.0),                          # floor(log2 1000) - 8 = 1: code 1 + 15
    (2.0 ** 40, mx.Policy(), 30, 448.0 * 2.0 ** 15),           # 32 clamps to the largest exponent, 15
    (2.0 ** 40, mx.Policy(scale_overflow="nan"), 31, math.nan),  # or the NaN code 31 = 0b11111
    (2.0 ** -40, mx.Policy(), 0, 0.0),                         # -48 clamps to -15: 2^-40 / 2^-15 rounds to 0
])
def test_a_five_bit_scale_is_clamped_to_its_own_range(custom, x0, policy, scale, first):
    x = np.array([x0] + [x0 if x0 < 1 else 1.0] * 31, F32)
    q = mx.quantize(x, "mxfp8_e5m0_t", policy=policy)
    assert q.scales.tolist() == [scale]
    assert oracle.quantize_block(x, "mxfp8_e5m0_t", policy)[1] == scale
    got = q.dequantize(np.float64)[0]
    assert got == first or (math.isnan(first) and math.isnan(got))
    np.testing.assert_array_equal(mx.fake_quantize(x, "mxfp8_e5m0_t", policy=policy), q.dequantize())


@pytest.mark.parametrize(("policy", "fragment"), [
    (mx.Policy(min_scale_encoding="one"), "accepts 'exact' only"),
    (mx.Policy(zero_block_scale=255), r"accepted: an integer in \[0, 31\]"),
])
def test_e8m0_only_policy_fields_are_refused_for_another_scale(custom, policy, fragment):
    with pytest.raises(PolicyError, match=fragment):
        mx.quantize(np.ones(32, F32), "mxfp8_e5m0_t", policy=policy)


# 2. An element-format scale without a tensor scale ---------------------------------------------------------

def test_an_e4m3_scale_without_tensor_scale_is_written_and_read_as_e4m3(custom):
    q = mx.quantize(np.full(32, 0.377, F32), "mxfp8_e4m3s_t")
    # amax / 448 = 0.00084 rounds (RNE) to the E4M3 subnormal-free minimum 2^-6, code 0x08; 0.377 * 64 = 24.1 -> 24.
    assert q.scales.tolist() == [0x08] and q.codes[0] == 0x5C
    np.testing.assert_array_equal(q.dequantize(), np.full(32, 0.375, F32))
    with pytest.raises(InputError, match="has no per-tensor scale"):
        mx.quantize(np.ones(32, F32), "mxfp8_e4m3s_t", tensor_scale=0.5)


# 3. A two-level format with other constants than NVFP4's ---------------------------------------------------

def test_a_two_level_format_takes_its_constants_from_its_element_and_scale(custom):
    x = np.array([28.0, 1.0, 0.5, -3.0] + [0.0] * 12, F32)
    q = mx.quantize(x, "fp6_two_level_t")
    # amax 28 = the E3M2 maximum: block scale 1.0 (E4M3 0x38), every value exact (NVFP4's 6 would give 28/6).
    assert q.scales.tolist() == [0x38]
    np.testing.assert_array_equal(q.dequantize(), x)
    t = mx.quantize(x, "fp6_two_level_t", tensor_scale="amax")
    assert t.tensor_scale == float(F32(28.0) / F32(28.0 * 448.0))


@pytest.mark.parametrize(("scale", "fragment"), [("int8", "must be a float format with a NaN code"),
                                                  ("fp6_e3m2", "must be a float format with a NaN code")])
def test_an_element_scale_without_nan_is_refused(tmp_path, scale, fragment):
    text = f'[mx.bad_t]\nclause = "t"\nelement = "fp4_e2m1"\nscale = "{scale}"\nblock_size = 16\n'
    with pytest.raises(SpecError, match=fragment):
        mx.register_formats(_toml(tmp_path, text))


def test_a_tensor_scale_on_an_exponent_only_scale_is_refused(tmp_path):
    text = '[mx.bad_t]\nclause = "t"\nelement = "fp4_e2m1"\nscale = "e8m0"\nblock_size = 32\ntensor_scale = true\n'
    with pytest.raises(SpecError, match="tensor_scale applies to two-level formats"):
        mx.register_formats(_toml(tmp_path, text))


# 4. Elements wider than 8 bits ----------------------------------------------------------------------------

@pytest.mark.parametrize("table", [
    'kind = "float"\nexponent_bits = 5\nmantissa_bits = 4\nbias = 15\nspecials = "ieee"',
    'kind = "float"\nexponent_bits = 8\nmantissa_bits = 7\nbias = 127\nspecials = "ieee"',
    'kind = "int"\nbits = 12\nfraction_bits = 10',
])
def test_elements_wider_than_eight_bits_are_refused_naming_the_limit(tmp_path, table):
    with pytest.raises(SpecError, match=r"<= 8 \(codes are uint8\)"):
        mx.register_formats(_toml(tmp_path, f'[element.wide_t]\nclause = "t"\n{table}\n'))
    assert "wide_t" not in mx.formats()


def test_an_element_bias_beyond_the_exact_range_is_refused(tmp_path):
    table = 'kind = "float"\nexponent_bits = 4\nmantissa_bits = 3\nbias = 100\nspecials = "none"'
    with pytest.raises(SpecError, match=r"mxemu needs them in \[2\^-64, 2\^64\]"):
        mx.register_formats(_toml(tmp_path, f'[element.far_t]\nclause = "t"\n{table}\n'))


# 6. MXArray validated on construction ----------------------------------------------------------------------

Q = mx.quantize(np.linspace(-3, 3, 96, dtype=F32).reshape(3, 32), "mxfp4_e2m1")


@pytest.mark.parametrize(("change", "fragment"), [
    ({"scales": Q.scales[:2]}, r"scales have shape \(2, 1\).*need \(3, 1\)"),
    ({"codes": Q.codes | 0x10}, r"codes out of range for 4-bit fp4_e2m1: accepted \[0, 16\)"),
    ({"codes": Q.codes.astype(np.int64)}, "must be uint8 numpy arrays; codes is ndarray of dtype int64"),
    ({"scales": [127, 127, 127]}, "scales is list"),
    ({"axis": (2,)}, "out of range"),
    ({"tensor_scale": 0.5}, "accepted only for a format with a per-tensor scale"),
    ({"format": "mxfp4_e2m1"}, "must be an MXFormat"),
])
def test_an_inconsistent_mxarray_is_refused_when_built(change, fragment):
    fields = {"codes": Q.codes, "scales": Q.scales, "format": Q.format, "policy": Q.policy, "axis": Q.axis} | change
    with pytest.raises(InputError, match=fragment):
        mx.MXArray(**fields)


def test_a_scale_code_beyond_a_narrow_scale_is_refused(custom):
    q = mx.quantize(np.ones(32, F32), "mxfp8_e5m0_t")
    with pytest.raises(InputError, match=r"scale codes out of range for e5m0_t: accepted \[0, 31\]"):
        mx.MXArray(q.codes, np.full(1, 138, np.uint8), q.format, q.policy, q.axis)


def test_a_negative_element_format_scale_is_refused():
    q = mx.quantize(np.ones(16, F32), "nvfp4")
    with pytest.raises(InputError, match=r"scale codes out of range for fp8_e4m3: accepted \[0, 127\]"):
        mx.MXArray(q.codes, q.scales | 0x80, q.format, q.policy, q.axis)


# 7. Byte-swapped output dtypes -----------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [">f2", ">f4", ">f8", np.dtype(ml_dtypes.bfloat16).newbyteorder(">")])
def test_decode_and_dequantize_into_a_byte_swapped_dtype_give_the_same_numbers(dt):
    dt = np.dtype(dt)
    native = dt.newbyteorder("=")
    codes = np.arange(256, dtype=np.uint8)
    got, want = mx.decode(codes, "fp8_e5m2", dtype=dt), mx.decode(codes, "fp8_e5m2", dtype=native)
    assert got.dtype == dt
    np.testing.assert_array_equal(got.astype(native).view(np.uint8), want.view(np.uint8))
    got, want = Q.dequantize(dt), Q.dequantize(native)
    assert got.dtype == dt
    np.testing.assert_array_equal(got.astype(native).view(np.uint8), want.view(np.uint8))


# 8. inf_as_exponent per input dtype ------------------------------------------------------------------------

def _to_mx_scale(x: np.ndarray) -> int:
    import logging
    import warnings

    import torch

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", module="torchao")
    from torchao.prototype.mx_formats.config import ScaleCalculationMode
    from torchao.prototype.mx_formats.mx_tensor import to_mx

    t = torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16) if x.dtype == ml_dtypes.bfloat16 \
        else torch.from_numpy(x)
    scale, _ = to_mx(t, torch.float8_e4m3fn, 32, ScaleCalculationMode.FLOOR)
    return int(scale.view(torch.uint8)[0])


# The all-ones exponent field read as a number: 2^(2^(w-1)) for an input exponent width w; E4M3 emax = 8.
INF_AS_EXPONENT = {np.float16: 127 + 16 - 8, ml_dtypes.bfloat16: 127 + 128 - 8, np.float32: 127 + 128 - 8,
                   np.float64: 254}


@pytest.mark.parametrize("dtype", list(INF_AS_EXPONENT))
def test_inf_as_exponent_reads_the_exponent_field_of_the_input_dtype(dtype):
    x = np.linspace(-1, 1, 32).astype(dtype)
    x[7] = np.inf
    q = mx.quantize(x, "mxfp8_e4m3", policy="torchao")
    assert q.scales.tolist() == [INF_AS_EXPONENT[dtype]]
    assert oracle.scale_code(x, "mxfp8_e4m3", "torchao") == INF_AS_EXPONENT[dtype]
    if dtype in (ml_dtypes.bfloat16, np.float32):
        assert _to_mx_scale(x) == INF_AS_EXPONENT[dtype]  # torchao on that very dtype
    else:
        # torchao's to_mx takes bfloat16 and float32 only; a caller casts first and gets the float32 answer.
        with pytest.raises(AssertionError, match="not supported"):
            _to_mx_scale(x)
        assert _to_mx_scale(x.astype(np.float32)) == mx.quantize(x.astype(np.float32), "mxfp8_e4m3",
                                                                  policy="torchao").scales[0]


# 9. The two-level path follows `nonfinite` and `nan_to_nonan` ----------------------------------------------

INF_BLOCK = np.array([np.inf, 3.0, -1.0, 2.0] + [0.5] * 12, F32)
NAN_BLOCK = np.array([np.nan, 3.0, -1.0, 2.0] + [0.5] * 12, F32)


@pytest.mark.parametrize(("rule", "x", "scale", "head"), [
    ("nan_scale", INF_BLOCK, 0x7F, [math.nan] * 4),                 # Inf makes the block scale NaN
    ("nan_scale", NAN_BLOCK, 0x7F, [math.nan] * 4),
    ("propagate", INF_BLOCK, 0x7E, [2688.0, 0.0, -0.0, 0.0]),        # Inf is an infinite amax: scale 448
    ("propagate", NAN_BLOCK, 0x7F, [math.nan] * 4),
    ("ignore_nan", NAN_BLOCK, 0x30, [0.0, 3.0, -1.0, 2.0]),          # amax 3 -> 0.5 = 0x30; NaN lane -> +0
    ("finite_amax", INF_BLOCK, 0x30, [3.0, 3.0, -1.0, 2.0]),         # Inf skipped in amax, saturates
])
def test_the_two_level_path_follows_the_nonfinite_rule(rule, x, scale, head):
    q = mx.quantize(x, "nvfp4", policy=mx.Policy(nonfinite=rule))
    assert q.scales.tolist() == [scale]
    np.testing.assert_array_equal(q.dequantize(np.float64)[:4], head)


@pytest.mark.parametrize(("policy", "error", "fragment"), [
    (mx.Policy(nonfinite="ignore_nan", nan_to_nonan="error"), InputError, "nan_to_nonan='error'"),
    (mx.Policy(nonfinite="inf_as_exponent"), PolicyError, "accepted: nan_scale, propagate, ignore_nan, finite_amax"),
    (mx.Policy(scale_rule="ceil"), PolicyError, "which fixes scale_rule='floor'; the policy asks scale_rule='ceil'"),
    (mx.Policy(subnormal_inputs="flush"), PolicyError, "subnormal_inputs='keep'"),
    (mx.Policy(rounding="stochastic"), PolicyError, "deterministic rounding modes only"),
])
def test_the_two_level_path_refuses_what_its_recipe_does_not_do(policy, error, fragment):
    with pytest.raises(error, match=fragment):
        mx.quantize(NAN_BLOCK, "nvfp4", policy=policy)


# 10. np.matrix, 64 dimensions, format objects built directly ------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda a: mx.quantize(a, "mxfp8_e4m3"), lambda a: mx.fake_quantize(a, "mxfp8_e4m3"),
    lambda a: mx.encode(a, "fp8_e4m3"), lambda a: mx.decode(a.astype(np.uint8), "fp8_e4m3"),
])
@pytest.mark.parametrize("kind", [np.matrix, np.ma.masked_array])
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns
def test_matrix_and_masked_input_are_refused(call, kind):
    with pytest.raises(InputError, match=r"accepted: a plain numpy array \(np.asarray"):
        call(kind(np.ones((2, 32), F32)))


def test_a_memmap_is_read_as_the_array_it_holds(tmp_path):
    x = np.linspace(-3, 3, 64, dtype=F32)
    m = np.memmap(tmp_path / "x.bin", F32, "w+", shape=x.shape)
    m[:] = x
    np.testing.assert_array_equal(mx.quantize(m, "mxfp8_e4m3").codes, mx.quantize(x, "mxfp8_e4m3").codes)


def test_2d_tiles_of_a_64_dimensional_array_equal_those_of_its_2d_core():
    core = np.linspace(-3, 3, 40 * 36, dtype=F32).reshape(40, 36)
    x = core.reshape((1,) * 62 + core.shape)
    q, q2 = mx.quantize(x, "mxfp4_e2m1", axis=(-2, -1)), mx.quantize(core, "mxfp4_e2m1", axis=(0, 1))
    np.testing.assert_array_equal(q.codes.reshape(core.shape), q2.codes)
    np.testing.assert_array_equal(q.scales.reshape(q2.scales.shape), q2.scales)
    np.testing.assert_array_equal(q.dequantize().reshape(core.shape), q2.dequantize())
    np.testing.assert_array_equal(mx.fake_quantize(x, "mxfp4_e2m1", axis=(-2, -1)).reshape(core.shape),
                                  q2.dequantize())


E4M3, E8M0 = mx.get_format("fp8_e4m3"), mx.get_format("e8m0")


@pytest.mark.parametrize(("build", "fragment"), [
    (lambda: mx.ElementFormat("x", "float", 9, 4, 4, 7, "ieee", "c"), r"<= 8 \(codes are uint8\)"),
    (lambda: mx.ElementFormat("x", "float", 8, 4, 4, 7, "ieee", "c"), r"bits = 1 \+ exponent_bits \+ mantissa_bits"),
    (lambda: mx.ElementFormat("x", "int", 16, 0, 14, 0, "none", "c"), r"2 <= bits <= 8 \(codes are uint8\)"),
    (lambda: mx.ElementFormat("x", "float", 3, 2, 0, 1, "ieee", "c"), "needs mantissa_bits >= 1 for a NaN code"),
    (lambda: mx.ElementFormat("x", "int", 8, 0, 6, 3, "none", "c"), "bias 0"),
    (lambda: mx.ElementFormat("x", "posit", 8, 4, 3, 7, "none", "c"), "kind = 'posit'"),
    (lambda: mx.ElementFormat("x", "float", 8.0, 4, 3, 7, "none", "c"), "bits must be an int"),
    (lambda: mx.ElementFormat("", "float", 8, 4, 3, 7, "none", "c"), "name must be a non-empty str"),
    (lambda: mx.ScaleFormat("s", 9, 127, "c"), "2 <= exponent_bits <= 8"),
    (lambda: mx.ScaleFormat("s", 8, 300, "c"), "0 <= bias <= 254"),
    (lambda: mx.MXFormat("m", E4M3, E8M0, 0, False, "c"), r"block_size must be in \[1, 65536\], got 0"),
    (lambda: mx.MXFormat("m", E4M3, E8M0, True, False, "c"), "block_size must be an int"),
    (lambda: mx.MXFormat("m", E4M3, E8M0, 32, 1, "c"), "tensor_scale must be true or false"),
    (lambda: mx.MXFormat("m", E8M0, E8M0, 32, False, "c"), "element must be an ElementFormat"),
    (lambda: mx.MXFormat("m", E4M3, "e8m0", 32, False, "c"), "scale must be a ScaleFormat or an ElementFormat"),
])
def test_a_format_object_built_directly_is_checked_like_one_from_a_file(build, fragment):
    with pytest.raises(SpecError, match=fragment):
        build()


# Registered formats can be removed again, so none leaks between tests -----------------------------------------

def test_unregister_removes_all_or_none_and_keeps_the_built_in_formats(tmp_path):
    names = mx.register_formats(_toml(tmp_path, '[scale.e4m0_t]\nclause = "t"\nexponent_bits = 4\nbias = 7\n'
                                      '[mx.mx_t]\nclause = "t"\nelement = "int8"\nscale = "e4m0_t"\nblock_size = 8\n'))
    with pytest.raises(SpecError, match=r"used by MX format\(s\) \['mx_t'\]"):
        mx.unregister_formats("e4m0_t")
    with pytest.raises(SpecError, match="built in"):
        mx.unregister_formats(["mx_t", "mxint8"])
    with pytest.raises(UnknownNameError, match="not registered"):
        mx.unregister_formats("nope_t")
    assert set(names) <= set(mx.formats())
    mx.unregister_formats(names)
    assert not set(names) & set(mx.formats())


def test_golden_suites_refuse_a_format_whose_scale_is_not_e8m0(custom: None) -> None:
    from mxemu.golden.suites.args import parse_formats

    with pytest.raises(InputError, match=r"E8M0-scaled MX formats only; its scale e5m0_t is 5-bit with bias 15"):
        parse_formats("mxfp8_e5m0_t")
    with pytest.raises(InputError, match="not a two-level scale"):
        parse_formats("mxfp8_e4m3s_t")
    assert parse_formats("mxfp8_e4m3,mxint8") == ("mxfp8_e4m3", "mxint8")
