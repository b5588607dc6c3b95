"""dot and matmul equal the exact oracle: exact products, then each accumulation model's float32 steps."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.products import accumulation_model, accumulator_bits, dot, matmul, truncated

F32 = np.float32
PAIRS = [("mxfp8_e4m3", "mxfp8_e4m3"), ("mxfp8_e5m2", "mxfp8_e5m2"), ("mxfp8_e4m3", "mxfp4_e2m1"),
         ("mxint8", "mxfp8_e4m3"), ("mxfp6_e3m2", "mxfp6_e2m3"), ("mxint8", "mxint8"), ("mxfp8_e5m2", "mxint4"),
         ("mxfp4_e2m1", "mxfp4_e2m1"), ("mxfp8_e5m2", "mxfp8_e4m3")]
MODELS = ["exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", "truncated:16:24", "truncated:5:3",
          truncated(1, 0), truncated(32, 26)]


# ---------------------------------------------------------------------------------------------------------
# The reference: mxemu.oracle's exact products, then each model's float32 steps.
# ---------------------------------------------------------------------------------------------------------

def reference(a: mx.MXArray, b: mx.MXArray, i: int, j: int, model) -> F32:
    """Row i of A times column j of B under `model`, by oracle.mx_dot."""
    if isinstance(model, str):
        model = accumulation_model(model)
    return oracle.mx_dot(a.codes[i], a.scales[i], b.codes[:, j], b.scales[:, j], a.format, b.format,
                         {"r": model})["r"]


def _row(v: mx.MXArray) -> mx.MXArray:
    return make(v.codes.reshape(1, -1), v.scales.reshape(1, -1), v.format.name, 1)


def _col(v: mx.MXArray) -> mx.MXArray:
    return make(v.codes.reshape(-1, 1), v.scales.reshape(-1, 1), v.format.name, 0)


def same(x: F32, y: F32) -> bool:
    """Bit-equal, with every NaN equal to every NaN."""
    return (np.isnan(x) and np.isnan(y)) or F32(x).view(np.uint32) == F32(y).view(np.uint32)


# ---------------------------------------------------------------------------------------------------------
# Operands built from codes and scales, so every code and every scale is reachable.
# ---------------------------------------------------------------------------------------------------------

def make(codes: np.ndarray, scales: np.ndarray, fmt: str, axis: int) -> mx.MXArray:
    return mx.MXArray(codes=codes.astype(np.uint8), scales=scales.astype(np.uint8), format=mx.get_format(fmt),
                      policy=mx.get_policy(), axis=(axis,))


SCALES = st.one_of(st.integers(110, 144), st.integers(110, 144), st.integers(0, 254),
                   st.sampled_from([0, 1, 2, 126, 127, 128, 252, 253, 254, 255]))


@st.composite
def codes_for(draw, fmt: str, n: int, special_ok: bool) -> list[int]:
    elem = mx.get_format(fmt).element
    bad = set(elem.nan_codes) | set(elem.inf_codes)
    kind = draw(st.sampled_from(["any", "any", "zeros_and_ones", "big"]))
    out = []
    for _ in range(n):
        if kind == "zeros_and_ones":
            c = draw(st.sampled_from([0, 1, 1 << (elem.bits - 1)]))
        elif kind == "big":
            c = draw(st.integers(0, elem.num_codes - 1)) | ((1 << (elem.bits - 1)) - 1 - 3) * (not elem.is_int)
            c &= elem.num_codes - 1
        else:
            c = draw(st.integers(0, elem.num_codes - 1))
        if not special_ok and c in bad:
            c = 0
        out.append(c)
    return out


@st.composite
def matmul_operands(draw):
    fa, fb = draw(st.sampled_from(PAIRS))
    if draw(st.booleans()):
        fa, fb = fb, fa
    M, N = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    K = draw(st.integers(1, 70))
    nb = -(-K // 32)
    special_ok = draw(st.integers(0, 3)) == 0
    a = np.array([draw(codes_for(fa, K, special_ok)) for _ in range(M)])
    b = np.array([draw(codes_for(fb, K, special_ok)) for _ in range(N)]).T
    sa = np.array([[draw(SCALES) for _ in range(nb)] for _ in range(M)])
    sb = np.array([[draw(SCALES) for _ in range(N)] for _ in range(nb)])
    if not special_ok:
        sa[sa == 255] = 254
        sb[sb == 255] = 0
    if draw(st.integers(0, 3)) == 0 and fa == fb and K % 2 == 0:
        # Cancellation to exact zero: A's row 0 is (x, -x) pairs and B's column 0 is (y, y) pairs.
        elem = mx.get_format(fa).element
        a[0, 1::2] = (-a[0, 0::2]) % elem.num_codes if elem.is_int else a[0, 0::2] ^ (1 << (elem.bits - 1))
        b[1::2, 0] = b[0::2, 0]
        sb[:, 0] = 127
        sa[0, :] = 127
    return make(a, sa, fa, 1), make(b, sb, fb, 0)


@pytest.mark.clause("6.1", "ext.accumulation")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=matmul_operands(), model=st.sampled_from(MODELS))
def test_every_model_equals_the_fraction_reference(ops, model):
    a, b = ops
    got = matmul(a, b, model)
    assert got.dtype == F32 and got.shape == (a.shape[0], b.shape[1])
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            want = reference(a, b, i, j, model)
            assert same(got[i, j], want), (i, j, got[i, j], want)


def _code(v: float, elem: mx.ElementFormat) -> int:
    if np.isinf(v):
        return elem.inf_codes[v < 0]
    return oracle.encode_value(v, elem, 0)


def _vector(fmt: str, blocks: list[tuple[list[float], int]]) -> mx.MXArray:
    """A 1-D operand of 32-lane blocks: the given exact element values (zero-filled) at E8M0 scale codes."""
    elem = mx.get_format(fmt).element
    codes, scales = [], []
    for values, scale in blocks:
        codes += [_code(v, elem) for v in values] + [0] * (32 - len(values))
        scales.append(scale)
    return make(np.array(codes), np.array(scales), fmt, 0)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("tail, expected", [
    # 1 + 2^-24 is the midpoint of 1 and 1 + 2^-23: ties to even give 1.
    ([1.0], 1.0),
    # 1 + 3 * 2^-24 is the midpoint of 1 + 2^-23 and 1 + 2^-22: ties to even give 1 + 2^-22.
    ([1.0, 2.0], 1.0 + 2.0 ** -22),
])
def test_sums_exactly_at_a_float32_midpoint_round_to_even(model, tail, expected):
    # Block 0 contributes 1; block 1 (scale 2^-24) contributes 2^-24 times the tail's sum.
    a = _vector("mxfp8_e4m3", [([1.0], 127), (tail, 127 - 24)])
    b = _vector("mxfp8_e4m3", [([1.0] * 32, 127), ([1.0] * 32, 127)])
    got = dot(a, b, model)
    assert same(got, reference(_row(a), _col(b), 0, 0, model))
    if model in ("exact", "block_exact_fp32"):
        assert got == F32(expected)


@settings(max_examples=150, deadline=None)
@given(code=st.integers(1, 0x7E), scale=st.integers(40, 200), sign=st.sampled_from([1.0, -1.0]),
       nudge=st.sampled_from([0.0, 1.0, -1.0]), fmt=st.sampled_from(["mxfp8_e4m3", "mxint8", "mxfp4_e2m1"]),
       model=st.sampled_from(MODELS))
def test_generated_sums_at_float32_midpoints(code, scale, sign, nudge, fmt, model):
    """S = one product, plus exactly half a float32 step of S (a midpoint), plus optionally ± B's smallest step
    times that half step (just off the tie)."""
    e4m3 = mx.get_format("fp8_e4m3")
    head = float(oracle.decode_value(code, e4m3))
    s0 = float(head) * 2.0 ** (scale - 127)
    half_step = math.floor(math.log2(s0)) - 24
    tail = float(mx.get_format(fmt).element.min_subnormal)  # B's smallest step: a sticky bit below the tie
    a = _vector("mxfp8_e4m3", [([head], scale), ([sign * 1.0, nudge], half_step + 127)])
    b = _vector(fmt, [([1.0] * 32, 127), ([1.0, tail], 127)])
    got = dot(a, b, model)
    assert same(got, reference(_row(a), _col(b), 0, 0, model))
    if model == "exact":
        total = Fraction(s0) + (Fraction(sign) + Fraction(nudge) * Fraction(tail)) * Fraction(2) ** half_step
        assert got == oracle.nearest_float32(total)


@pytest.mark.parametrize("model", MODELS)
def test_cancellation_to_exact_zero_gives_positive_zero(model):
    for scale in (127, 254):
        a = _vector("mxfp8_e5m2", [([57344.0, -57344.0, 2.0 ** -16, -(2.0 ** -16)], scale)])
        b = _vector("mxfp8_e5m2", [([57344.0, 57344.0, 2.0 ** -16, 2.0 ** -16], scale)])
        got = dot(a, b, model)
        assert same(got, reference(_row(a), _col(b), 0, 0, model))
        one_at_a_time = model in ("fp32_sequential", "dequant_fp32", truncated(1, 0))
        if scale == 127 or not one_at_a_time:
            assert got == 0 and not np.signbit(got)
        else:
            # At 2^254 each product is beyond float32: adding them one at a time overflows (Inf, or Inf - Inf).
            assert not np.isfinite(got)


def test_a_zero_integer_times_a_negative_integer_is_a_negative_zero_product():
    # fp32_sequential at scale 2^-127: 2^-133 * -2^-133 underflows to -0, and every other lane is
    # +0 * (a negative integer) = -0 (IEEE signs a zero product by its operands' signs; an integer zero
    # has one code, +0). The chain of -0 sums stays -0; one +0 product would make it +0.
    a_codes = np.zeros(64, np.uint8)
    a_codes[0] = 0x01
    b_codes = np.full(64, 0xFF, np.uint8)
    b_codes[32] = 0x80
    a = make(a_codes.reshape(1, -1), np.array([[0, 0]]), "mxint8", 1)
    b = make(b_codes.reshape(-1, 1), np.array([[0], [0]]), "mxint8", 0)
    got = matmul(a, b, "fp32_sequential")[0, 0]
    assert got == 0 and np.signbit(got)
    assert same(got, reference(a, b, 0, 0, "fp32_sequential"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.clause("6.1")
def test_nan_scale_gives_nan(model):
    a = _vector("mxint8", [([1.0] * 32, 127), ([1.0] * 32, 255)])
    b = _vector("mxfp4_e2m1", [([1.0] * 32, 127), ([1.0] * 32, 127)])
    assert np.isnan(dot(a, b, model))


@pytest.mark.parametrize("model", MODELS)
def test_inf_times_zero_is_nan_and_inf_minus_inf_is_nan(model):
    inf = _vector("mxfp8_e5m2", [([np.inf, 1.0], 127)])
    assert np.isnan(dot(inf, _vector("mxfp8_e5m2", [([0.0, 1.0], 127)]), model))
    assert np.isnan(dot(_vector("mxfp8_e5m2", [([np.inf, -np.inf], 127)]),
                        _vector("mxfp8_e5m2", [([1.0, 1.0], 127)]), model))
    assert dot(inf, _vector("mxfp8_e5m2", [([-2.0, 1.0], 127)]), model) == -np.inf


@pytest.mark.clause("6.2")
def test_exact_model_is_exact_across_the_whole_scale_range():
    # ±448^2 * 2^254 cancel exactly and leave 1; float32 models overflow to Inf and give Inf - Inf = NaN.
    a = _vector("mxfp8_e4m3", [([448.0], 254), ([1.0], 127), ([-448.0], 254)])
    b = _vector("mxfp8_e4m3", [([448.0], 254), ([1.0], 127), ([448.0], 254)])
    assert dot(a, b, "exact") == F32(1.0)
    assert np.isnan(dot(a, b, "block_exact_fp32"))
    # 2^-254 * 2^-18 products: far below float32, yet summed exactly before the one rounding.
    tiny = _vector("mxfp8_e4m3", [([2.0 ** -9] * 32, 0)] * 3)
    assert dot(tiny, tiny, "exact") == F32(0.0)
    big = _vector("mxfp8_e4m3", [([2.0 ** -9], 127 + 58), ([2.0 ** -9], 0)])
    assert dot(big, big, "exact") == oracle.nearest_float32(Fraction(2) ** (2 * 58 - 18) + Fraction(2) ** (-254 - 18))


@pytest.mark.parametrize("model", MODELS)
def test_e5m2_block_sums_beyond_int64_are_exact(model):
    # 31 products of 57344^2 plus one of 2^-32: a 70-bit block sum, handled as two int64 partial sums.
    for sign in (1.0, -1.0):
        a = _vector("mxfp8_e5m2", [([57344.0] * 31 + [sign * 2.0 ** -16], 127), ([-57344.0, 2.0 ** -14], 130)])
        b = _vector("mxfp8_e5m2", [([57344.0] * 31 + [2.0 ** -16], 127), ([57344.0, 3 * 2.0 ** -16], 120)])
        assert same(dot(a, b, model), reference(_row(a), _col(b), 0, 0, model))


@pytest.mark.clause("ext.accumulation")
def test_accumulator_bits_are_tight_bounds():
    assert accumulator_bits("mxfp8_e4m3", "mxfp8_e4m3") == 42
    assert accumulator_bits("mxfp8_e5m2", "mxfp8_e5m2") == 70
    assert accumulator_bits("mxfp4_e2m1", "mxfp4_e2m1") == 14
    assert accumulator_bits("mxint8", "mxint8") == 21
    assert accumulator_bits("fp4_e2m1", "fp4_e2m1", block_size=1) == 9
    # Tight: the largest block sum needs exactly that many two's complement bits.
    for fa, fb in PAIRS:
        ea, eb = mx.get_format(fa).element, mx.get_format(fb).element
        step = Fraction(2) ** (ea.emin - (0 if ea.is_int else ea.mantissa_bits))
        step *= Fraction(2) ** (eb.emin - (0 if eb.is_int else eb.mantissa_bits))
        top = max(abs(ea.max_normal), abs(ea.min_value)) * max(abs(eb.max_normal), abs(eb.min_value))
        largest = int(32 * top / step)
        assert largest.bit_length() + 1 == accumulator_bits(fa, fb)


def _q1(fmt: str, n: int = 64) -> mx.MXArray:
    return mx.quantize(np.linspace(-1, 1, n, dtype=np.float32), fmt)


def test_errors_name_what_is_accepted():
    a, b = _q1("mxfp8_e4m3"), _q1("mxfp4_e2m1")
    with pytest.raises(mx.InputError, match="lengths differ"):
        dot(a, _q1("mxfp4_e2m1", 96))
    with pytest.raises(mx.UnknownNameError, match="accepted: exact, block_exact_fp32"):
        dot(a, b, "fp16")
    with pytest.raises(mx.UnknownNameError, match="accepted"):
        dot(a, b, "truncated:16")
    with pytest.raises(mx.InputError, match="frac_bits"):
        dot(a, b, "truncated:32:40")
    with pytest.raises(mx.InputError, match="group >= 1"):
        truncated(0, 4)
    with pytest.raises(mx.InputError, match="1-D"):
        dot(mx.quantize(np.ones((2, 32), np.float32), "mxfp4"), b)
    with pytest.raises(mx.InputError, match="MXArray"):
        dot(np.ones(64, np.float32), b)
    with pytest.raises(mx.InputError, match="two-level"):
        dot(mx.quantize(np.ones(64, np.float32), "nvfp4"), b)
    custom = mx.MXFormat("mxfp4_b16", mx.get_format("fp4_e2m1"), mx.get_format("e8m0"), 16, False, "test")
    small = mx.MXArray(b.codes, np.repeat(b.scales, 2), custom, b.policy, (0,))
    with pytest.raises(mx.InputError, match="block sizes differ"):
        dot(a, small)
    A = mx.quantize(np.ones((4, 64), np.float32), "mxint8", axis=1)
    B = mx.quantize(np.ones((64, 3), np.float32), "mxint8", axis=0)
    with pytest.raises(mx.InputError, match="inner dimensions"):
        matmul(A, mx.quantize(np.ones((32, 3), np.float32), "mxint8", axis=0))
    with pytest.raises(mx.InputError, match="axis=1"):
        matmul(mx.quantize(np.ones((64, 64), np.float32), "mxint8", axis=0), B)
    with pytest.raises(mx.InputError, match="axis 0"):
        matmul(A, mx.quantize(np.ones((64, 64), np.float32), "mxint8", axis=1))
    with pytest.raises(mx.InputError, match="2-D"):
        matmul(a, b)
    with pytest.raises(mx.InputError, match="block_size"):
        accumulator_bits("mxfp4", "mxfp4", 0)
    with pytest.raises(mx.UnknownNameError):
        accumulator_bits("fp3", "mxfp4")


@pytest.mark.clause("6.2")
def test_matmul_agrees_with_dot_row_by_column():
    rng = np.random.default_rng(7)
    A = mx.quantize(rng.standard_normal((3, 100)).astype(F32), "mxfp8_e4m3", axis=1)
    B = mx.quantize(rng.standard_normal((100, 4)).astype(F32), "mxint8", axis=0)
    for model in MODELS:
        C = matmul(A, B, model)
        for i in range(3):
            for j in range(4):
                a = mx.MXArray(A.codes[i], A.scales[i], A.format, A.policy, (0,))
                b = mx.MXArray(np.ascontiguousarray(B.codes[:, j]), np.ascontiguousarray(B.scales[:, j]),
                               B.format, B.policy, (0,))
                assert same(C[i, j], dot(a, b, model))
