"""Fixed-point accumulation models equal the exact-rational oracle (mxemu.oracle.fixed_point_dot) on every
operand pair, rounding, saturating or wrapping, scaled or not, float32 or fixed-point output, one or several
blocks, and batched dot equals matmul."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxemu as mx
from mxemu import oracle
from mxemu.errors import InputError, UnknownNameError
from mxemu.golden.suites.tables import OCP_FORMATS
from mxemu.products import FixedPoint, dot, fixed, fixed_point, matmul

ROUNDINGS = ("rtz", "rdn", "rup", "rne", "rna", "rto")
FORMATS = (*OCP_FORMATS, "mxint4")


def mxarray(codes: np.ndarray, scales: np.ndarray, fmt: str) -> mx.MXArray:
    """An (N, K) MXArray blocked along axis 1 from raw codes and scale codes."""
    return mx.MXArray(codes.astype(np.uint8), scales.astype(np.uint8), mx.get_format(fmt), mx.get_policy("ocp"), (1,))


def oracle_blocks(a: mx.MXArray, b: mx.MXArray, row: int) -> list:
    """Per block: the unscaled exact products of row `row` (NaN for a NaN scale) and X_A * X_B."""
    k = a.block_size
    out = []
    for blk in range(a.scales.shape[1]):
        sa, sb = int(a.scales[row, blk]), int(b.scales[row, blk])
        prods = []
        for t in range(blk * k, min(blk * k + k, a.shape[1])):
            x = oracle.decode_value(int(a.codes[row, t]), a.format.element)
            y = oracle.decode_value(int(b.codes[row, t]), b.format.element)
            if sa == 255 or sb == 255:
                prods.append(math.nan)
            elif isinstance(x, Fraction) and isinstance(y, Fraction):
                prods.append(x * y)
            else:
                with np.errstate(invalid="ignore"):
                    prods.append(float(np.float64(x) * np.float64(y)))  # Inf * 0 = NaN, Inf * -x = -Inf
        out.append((prods, Fraction(2) ** (sa + sb - 254) if sa != 255 and sb != 255 else Fraction(0)))
    return out


def reference(a: mx.MXArray, b: mx.MXArray, model: FixedPoint) -> list:
    out = (model.output.int_bits, model.output.frac_bits, model.output.rounding) if isinstance(
        model.output, mx.Fixed) else None
    return [oracle.fixed_point_dot(oracle_blocks(a, b, r), model.frac_bits, model.width, model.rounding,
                                   model.saturate, model.scaled, out) for r in range(a.shape[0])]


def same(got: np.ndarray, want: list) -> bool:
    if got.dtype == np.int64:
        return got.tolist() == [int(w) for w in want]
    w = np.array(want, np.float32)
    nan = np.isnan(w)  # any NaN is a NaN; every other result bit for bit
    return bool(np.array_equal(np.isnan(got), nan) and np.array_equal(got[~nan].view(np.uint32),
                                                                      w[~nan].view(np.uint32)))


@st.composite
def operands(draw, rows: int = 3):
    fa, fb = draw(st.sampled_from(FORMATS)), draw(st.sampled_from(FORMATS))
    nblocks = draw(st.integers(1, 3))
    tail = draw(st.sampled_from([0, 0, 5]))
    K = 32 * nblocks - tail
    nb = -(-K // 32)

    def side(fmt: str):
        n = mx.get_format(fmt).element.num_codes
        # small codes (subnormals and zeros: products below the grid) as often as uniform ones
        small = draw(st.booleans())
        codes = np.array(draw(st.lists(st.integers(0, n - 1), min_size=rows * K, max_size=rows * K)))
        if small:
            codes = (codes % 4) | (codes & (n >> 1))
        scale_pick = st.one_of(st.integers(118, 136), st.sampled_from([0, 1, 127, 253, 254, 255]))
        scales = np.array(draw(st.lists(scale_pick, min_size=rows * nb, max_size=rows * nb)))
        return codes.reshape(rows, K), scales.reshape(rows, nb)

    ca, sa = side(fa)
    cb, sb = side(fb)
    return mxarray(ca, sa, fa), mxarray(cb, sb, fb)


@st.composite
def models(draw):
    out = draw(st.one_of(st.just("float32"),
                         st.builds(fixed, st.integers(0, 30), st.integers(0, 20), st.sampled_from(ROUNDINGS))))
    return fixed_point(draw(st.integers(0, 40)), draw(st.integers(2, 62)), draw(st.sampled_from(ROUNDINGS)),
                       saturate=draw(st.booleans()), scaled=draw(st.booleans()), output=out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(operands(), models())
def test_every_fixed_point_model_equals_the_exact_oracle(ab, model):
    a, b = ab
    assert same(dot(a, b, model), reference(a, b, model))


@pytest.mark.parametrize("rounding", ["rtz", "rdn", "rup", "rne"])
@pytest.mark.parametrize("width", [40, 32])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ab=operands(rows=2), word=st.booleans(), saturate=st.booleans())
def test_standard_datapaths_equal_the_oracle(ab, rounding, width, word, saturate):
    a, b = ab
    model = fixed_point(16, width, rounding, saturate=saturate, output=fixed(23, 8, rounding) if word else "float32")
    assert same(dot(a, b, model), reference(a, b, model))


def zero_sum_block() -> tuple[mx.MXArray, mx.MXArray]:
    """Sixteen products +2^-18 and sixteen -2^-18 (E4M3 minimum subnormals): an exact sum of zero."""
    codes = np.array([[1] * 16 + [0x81] * 16], np.uint8)
    ones = np.array([[1] * 32], np.uint8)
    scales = np.array([[127]], np.uint8)
    return mxarray(codes, scales, "mxfp8_e4m3"), mxarray(ones, scales, "mxfp8_e4m3")


@pytest.mark.parametrize(("rounding", "expected"), [("rtz", 0.0), ("rne", 0.0), ("rup", 2.0**-12),
                                                    ("rdn", -(2.0**-12))])
def test_products_below_the_grid_round_by_the_product_rounding(rounding, expected):
    a, b = zero_sum_block()
    assert dot(a, b, fixed_point(16, 40, rounding)).tolist() == [expected]
    assert reference(a, b, fixed_point(16, 40, rounding)) == [expected]


def test_a_mutated_rounding_or_saturation_is_caught_by_the_oracle():
    # The comparison above can fail: the oracle of one model disagrees with the kernel of a neighbouring one.
    a, b = zero_sum_block()
    assert not same(dot(a, b, fixed_point(16, 40, "rdn")), reference(a, b, fixed_point(16, 40, "rtz")))
    big = mxarray(np.full((1, 32), 0x7E), np.array([[127]]), "mxfp8_e4m3")  # 448
    e5 = mxarray(np.full((1, 32), 0x7B), np.array([[127]]), "mxfp8_e5m2")  # 57344
    # 32 * 448 * 57344 clamps to (2^39 - 1) * 2^-16; as an S23.8 word it clamps again, to 2^31 - 1
    assert dot(big, e5, fixed_point(16, 40, "rne")).tolist() == [2.0**23]
    assert dot(big, e5, fixed_point(16, 40, "rne", output=fixed(23, 8))).tolist() == [2**31 - 1]
    assert not same(dot(big, e5, fixed_point(16, 40, "rne", saturate=False)),
                    reference(big, e5, fixed_point(16, 40, "rne")))


def test_batched_dot_equals_matmul_diagonal_and_one_dimensional_dot():
    rng = np.random.default_rng(1)
    a = mx.quantize(rng.standard_normal((5, 70)).astype(np.float32), "mxfp8_e4m3", axis=1)
    b = mx.quantize(rng.standard_normal((5, 70)).astype(np.float32), "mxfp6_e2m3", axis=1)
    bt = mx.quantize(np.ascontiguousarray(b.dequantize().T), "mxfp6_e2m3", axis=0)
    for model in ("exact", "block_exact_fp32", "fp32_sequential", "dequant_fp32", "truncated:16:24",
                  "fixed_point:16:40:rne", "fixed_point:12:32:rdn:wrap:scaled:s23.8:rup"):
        batched = dot(a, b, model)
        assert np.array_equal(batched, np.diagonal(matmul(a, bt, model)))
        one = mx.quantize(a.dequantize()[2], "mxfp8_e4m3"), mx.quantize(b.dequantize()[2], "mxfp6_e2m3")
        assert batched[2] == dot(*one, model)


def test_accumulation_strings_name_the_same_models():
    assert mx.products._model("fixed_point:16:40:ceil") == fixed_point(16, 40, "rup")
    m = fixed_point(8, 24, "floor", saturate=False, scaled=True, output=fixed(23, 8, "rtz"))
    assert mx.products._model(m.spec) == m
    assert m.spec == "fixed_point:8:24:rdn:wrap:scaled:s23.8:rtz"


@pytest.mark.parametrize("bad", ["fixed_point:16", "fixed_point:16:40:up", "fixed_point:16:40:rne:saturating",
                                 "fixed_point:a:40:rne", "fixed_point:16:40:rne:s23.8:rne:x"])
def test_bad_accumulation_strings_are_refused_with_what_is_accepted(bad):
    with pytest.raises(UnknownNameError, match="accepted"):
        mx.products._model(bad)


@pytest.mark.parametrize("kwargs", [dict(width=63), dict(width=1), dict(frac_bits=-1), dict(output=(23, 8)),
                                    dict(saturate=1), dict(output="float16")])
def test_out_of_range_models_are_refused(kwargs):
    args = dict(frac_bits=16, width=40, rounding="rne") | kwargs
    with pytest.raises(InputError):
        fixed_point(**args)


def test_output_words_wider_than_62_bits_are_refused():
    with pytest.raises(InputError, match="62"):
        fixed(40, 30)


def test_batched_dot_refuses_mismatched_operands():
    a = mx.quantize(np.ones((2, 32), np.float32), "mxfp8_e4m3", axis=1)
    with pytest.raises(InputError, match="shapes differ"):
        dot(a, mx.quantize(np.ones((3, 32), np.float32), "mxfp8_e4m3", axis=1))
    with pytest.raises(InputError, match="axis 1"):
        dot(a, mx.quantize(np.ones((2, 32), np.float32), "mxfp8_e4m3", axis=0))
