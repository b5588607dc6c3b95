"""Float accumulation models (M-bit register, products grouped per cycle, three alignment references, three
roundings) equal the exact-rational oracle (mxemu.oracle.float_accumulator_dot) on every operand pair."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dot_fixed_point import mxarray, operands, oracle_blocks, same

import mxemu as mx
from mxemu import oracle
from mxemu.errors import InputError, UnknownNameError
from mxemu.products import FloatAccumulator, dot, float_accumulator

ROUNDINGS = ("rtz", "rdn", "rup", "rne")


def reference(a: mx.MXArray, b: mx.MXArray, model: FloatAccumulator) -> list:
    out = []
    for r in range(a.shape[0]):
        blocks = []
        for blk, (prods, scale) in enumerate(oracle_blocks(a, b, r)):
            lanes = range(blk * a.block_size, blk * a.block_size + len(prods))
            exps = [oracle.exponent_field(int(a.codes[r, t]), a.format.element) +
                    oracle.exponent_field(int(b.codes[r, t]), b.format.element) for t in lanes]
            blocks.append((prods, scale, exps))
        out.append(oracle.float_accumulator_dot(blocks, model.mant_bits, model.group, model.align, model.align_bits,
                                                model.align_rounding, model.add_rounding, model.rounding))
    return out


@st.composite
def models(draw):
    align = draw(st.sampled_from(["product", "exponent", "fixed"]))
    bits = draw(st.integers(0, 16 if align == "fixed" else 40))
    return float_accumulator(draw(st.integers(1, 30)), draw(st.sampled_from([1, 3, 4, 8, 32])), align, bits,
                             *(draw(st.sampled_from(ROUNDINGS)) for _ in range(3)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(operands(), models())
def test_every_float_accumulator_equals_the_exact_oracle_or_is_refused_for_a_grid_over_62_bits(ab, model):
    a, b = ab
    try:
        got = dot(a, b, model)
    except InputError as exc:  # a fixed grid whose group sums would not fit the kernel's int64 words
        assert model.align == "fixed" and "accepted: align_bits with at most 62" in str(exc), exc
        return
    assert same(got, reference(a, b, model))


def test_the_exponent_reference_drops_small_products_that_the_product_reference_keeps():
    # one product 2^-18 (E4M3 subnormals) beside zero products 1.0 * +0, whose exponent fields sum to 0 - 6:
    # aligned 8 bits below the largest exponent-field sum (-6) it falls below the grid 2^-14 and truncates to
    # zero; aligned to itself (the only non-zero product) it stays
    codes = np.array([[0x01] + [0x38] * 31], np.uint8)  # 2^-9, then 1.0
    other = np.array([[0x01] + [0x00] * 31], np.uint8)  # 2^-9, then +0: products 2^-18, 0, 0, ...
    scales = np.array([[127]], np.uint8)
    a, b = mxarray(codes, scales, "mxfp8_e4m3"), mxarray(other, scales, "mxfp8_e4m3")
    by_product = float_accumulator(23, 32, "product", 8, "rtz", "rne", "rne")
    by_exponent = float_accumulator(23, 32, "exponent", 8, "rtz", "rne", "rne")
    assert dot(a, b, by_product).tolist() == [2.0**-18] == reference(a, b, by_product)
    assert dot(a, b, by_exponent).tolist() == [0.0] == reference(a, b, by_exponent)


def test_a_mutated_rounding_is_caught_by_the_oracle():
    codes = np.array([[0x38, 0x01] + [0] * 30], np.uint8)  # 1.0, 2^-9
    other = np.array([[0x38, 0x0C] + [0] * 30], np.uint8)  # 1.0, 1.5 * 2^-6: products 1 and 1.5 * 2^-15
    scales = np.array([[127]], np.uint8)
    a, b = mxarray(codes, scales, "mxfp8_e4m3"), mxarray(other, scales, "mxfp8_e4m3")
    near = float_accumulator(14, 1, "product", 20, "rtz", "rne", "rne")
    down = float_accumulator(14, 1, "product", 20, "rtz", "rtz", "rne")
    assert dot(a, b, near).tolist() == [1 + 2.0**-14] and dot(a, b, down).tolist() == [1.0]  # 0.75 ulp
    assert not same(dot(a, b, down), reference(a, b, near))


def test_strings_name_the_same_models_and_bad_ones_are_refused():
    m = float_accumulator(18, 4, "exponent", 20, "floor", "floor", "rtz")
    assert mx.products._model(m.spec) == m == mx.products._model("float_acc:18:4:exponent:20:rdn:rdn:rtz")
    for bad in ("float_acc:18:4:exponent:20", "float_acc:18:4:largest:20:rtz:rtz:rtz", "float_acc:x:4:fixed:1:a:b:c"):
        with pytest.raises(UnknownNameError, match="accepted"):
            mx.products._model(bad)
    for kwargs in (dict(mant_bits=0), dict(group=33), dict(align_bits=53), dict(mant_bits=53)):
        with pytest.raises(InputError):
            float_accumulator(**(dict(mant_bits=23) | kwargs))
    e5 = mx.quantize(np.ones((1, 32), np.float32), "mxfp8_e5m2", axis=1)
    with pytest.raises(InputError, match="need"):
        dot(e5, e5, float_accumulator(23, 32, "fixed", 40))


def test_specials_follow_ieee_rules():
    inf = mxarray(np.array([[0x7C] + [0x3C] * 31], np.uint8), np.array([[127]], np.uint8), "mxfp8_e5m2")
    one = mxarray(np.array([[0x3C] * 32], np.uint8), np.array([[127]], np.uint8), "mxfp8_e5m2")
    nan_scale = mxarray(np.array([[0x3C] * 32], np.uint8), np.array([[255]], np.uint8), "mxfp8_e5m2")
    model = float_accumulator(23, 8, "exponent", 24)
    assert dot(inf, one, model).tolist() == [math.inf] == reference(inf, one, model)
    assert math.isnan(dot(one, nan_scale, model)[0]) and math.isnan(reference(one, nan_scale, model)[0])
