"""Overflow bounds of fixed-point datapaths are tight: the worst activation reaches them, one bit less overflows."""

import numpy as np
import pytest

import mxemu as mx
from mxemu.errors import InputError
from mxemu.golden.suites.tables import OCP_FORMATS
from mxemu.products import accumulator_bits, dot, fixed_point

PAIRS = [(a, b) for a in OCP_FORMATS for b in OCP_FORMATS]


@pytest.mark.parametrize(("fa", "fb"), PAIRS)
def test_needed_bits_at_the_exact_grid_are_accumulator_bits(fa, fb):
    exact = mx.check_datapath("fixed_point:0:62:rne", fa, fb).exact_frac_bits
    c = mx.check_datapath(fixed_point(exact, 62, "rne"), fa, fb)
    assert c.needed_bits == accumulator_bits(fa, fb) and not c.loses_bits
    assert mx.check_datapath(fixed_point(exact - 1, 62, "rne"), fa, fb).loses_bits


def worst_activations(w: mx.MXArray, act: str) -> mx.MXArray:
    """Per weight lane, the activation code at the end of the range that makes the product largest."""
    elem = mx.get_format(act).element
    values = mx.decode(np.arange(elem.num_codes, dtype=np.uint8), elem, dtype=np.float64)
    finite = np.isfinite(values)
    top = int(np.argmax(np.where(finite, values, -np.inf)))
    bottom = int(np.argmin(np.where(finite, values, np.inf)))
    wv = mx.decode(w.codes, w.format.element, dtype=np.float64)
    codes = np.where(wv * values[top] >= wv * values[bottom], top, bottom).astype(np.uint8)
    return mx.MXArray(codes, np.full_like(w.scales, 127), mx.get_format(act), w.policy, (1,))


@pytest.mark.parametrize(("wfmt", "act"), [("mxfp8_e4m3", "mxfp8_e4m3"), ("mxint8", "mxint8"),
                                           ("mxfp4_e2m1", "mxfp8_e5m2"), ("mxfp6_e2m3", "mxint8")])
def test_rows_at_their_width_are_exact_and_one_bit_less_overflows(wfmt, act):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((12, 64)) * rng.choice([1e-3, 1, 1e3], size=(12, 1))
    x[3, :32] = 0  # a row with one zero block
    w = mx.quantize(x.astype(np.float32), wfmt, axis=1)
    r = mx.check_rows(w, act, "fixed_point:16:62:rne")
    a = worst_activations(w, act)
    wide = dot(w, a, fixed_point(16, 62, "rup", output=mx.fixed(45, 16, "rne")))
    for i, bits in enumerate(r.row_bits.tolist()):
        row = (mx.MXArray(w.codes[i:i + 1], w.scales[i:i + 1], w.format, w.policy, (1,)),
               mx.MXArray(a.codes[i:i + 1], a.scales[i:i + 1], a.format, a.policy, (1,)))
        assert dot(*row, fixed_point(16, bits, "rup", output=mx.fixed(45, 16, "rne")))[0] == wide[i]
        assert dot(*row, fixed_point(16, bits - 1, "rup", output=mx.fixed(45, 16, "rne")))[0] != wide[i]
    narrow = mx.check_rows(w, act, fixed_point(16, int(np.median(r.row_bits)), "rne"))
    assert narrow.overflows.tolist() == (r.row_bits > np.median(r.row_bits)).tolist()
    assert narrow.min_width == r.row_bits.max()


def test_checks_refuse_scaled_or_float_datapaths_and_special_weights():
    with pytest.raises(InputError, match="scaled"):
        mx.check_datapath("fixed_point:16:40:rne:scaled", "mxfp8_e4m3", "mxfp8_e4m3")
    with pytest.raises(InputError, match="fixed-point"):
        mx.check_datapath("exact", "mxfp8_e4m3", "mxfp8_e4m3")
    w = mx.quantize(np.array([[np.inf] + [1.0] * 31], np.float32), "mxfp8_e5m2", axis=1,
                    policy=mx.get_policy("ocp").replace(nonfinite="finite_amax", overflow="ieee"))
    with pytest.raises(InputError, match="NaN or Inf"):
        mx.check_rows(w, "mxfp8_e4m3", "fixed_point:16:40:rne")
