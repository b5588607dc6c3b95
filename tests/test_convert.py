"""convert: Slice-and-Scale equals requantization for RNE symmetric anchors; defined pairs only; typed errors."""

import numpy as np
import pytest

import mxemu as mx
from mxemu.conversion import convert

F32 = np.float32
INT_TARGETS = ["mxint7", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2"]
FP_TARGETS = ["mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1"]
N_BLOCKS = 1 << 15  # 2^15 blocks of 32: 2^20 > 10^6 values per source format


def random_data(seed: int, blocks: int = N_BLOCKS, min_exp: int = -140) -> np.ndarray:
    """float32 blocks of normal values at a random exponent per block, with outliers (x 2^4..2^12) and zeros."""
    rng = np.random.default_rng(seed)
    exps = rng.integers(min_exp, 120, (blocks, 1))
    x = rng.standard_normal((blocks, 32)) * np.exp2(exps)
    outliers = rng.random((blocks, 32)) < 0.02
    x[outliers] *= np.exp2(rng.integers(4, 13, outliers.sum()))
    x[rng.random((blocks, 32)) < 0.05] = 0.0
    return x.clip(-3e38, 3e38).astype(F32)


def edge_data(fmt: str) -> np.ndarray:
    """Blocks at the ends of the ranges: the element maximum (±127 codes, max codes), blocks whose scale is
    2^127 (or would exceed it), the largest float32, tiny blocks, all-zero blocks, midpoints of the targets."""
    elem = mx.get_format(fmt).element
    top = float(elem.max_normal)
    rows = []
    for e in (-127 + elem.emax, -126 + elem.emax, -60, 0, 1, 60, 119, 120, 126, 127):  # amax = 2^e: scale 2^(e - emax)
        rows.append(np.resize([top, -top, top / 2, -top / 3, top * 0.99, 0.75, -0.5], 32) * 2.0 ** (e - elem.emax))
        rows.append(np.resize([top, 1.0, 2.0 ** -9, 3 * 2.0 ** -7, 5 * 2.0 ** -8, -(2.0 ** -6)], 32)
                    * 2.0 ** (e - elem.emax))
        # Codes at every spacing below the top: midpoints of every narrower grid.
        rows.append(np.linspace(-top, top, 32) * 2.0 ** (e - elem.emax))
    rows.append(np.full(32, 3.4028235e38))
    rows.append(np.resize([3.4028235e38, -1e38, 1e30, 2.0 ** 127], 32))
    rows.append(np.zeros(32))
    rows.append(np.resize([0.0, -0.0], 32))
    # Tiny blocks: the scale clamps at 2^-127 and the largest code lies below the top binade.
    rows.append(np.resize([1e-45, -3e-45, 1.4e-40, -1e-39], 32))
    rows.append(np.resize([2.0 ** -130, 2.0 ** -133, -(2.0 ** -128)], 32))
    for e in range(-127 + elem.emax - 12, -126 + elem.emax):
        rows.append(np.resize([2.0 ** e, -0.75 * 2.0 ** e, 0.3 * 2.0 ** e, 2.0 ** (e - 5)], 32))
    with np.errstate(over="ignore"):
        return np.array(rows, np.float64).clip(-3.4028235e38, 3.4028235e38).astype(F32)


def assert_same_array(a: mx.MXArray, b: mx.MXArray) -> None:
    assert a.format == b.format and a.axis == b.axis
    np.testing.assert_array_equal(a.scales, b.scales)
    np.testing.assert_array_equal(a.codes, b.codes)


# Why the property holds. A symmetric RNE anchor block has scale X = 2^E with E = floor(log2 amax) - emax_src,
# so its largest element |P| lies in [2^emax_src, max normal] (integers: |k| in [64, 127]; fp8: [2^8, 448] or
# [2^15, 57344]): rounding never leaves the top binade and saturation stops at max normal. Requantizing the
# exact anchor values therefore finds amax' = X·|P|max with floor(log2 amax') - emax_dst = E + Δ, the very
# exponent Slice-and-Scale chooses (Δ = 0 for MXINT: the element emax is 0 for every width; a clamp above
# 2^127 is the same clamp, or the same NaN). At that common scale both methods round the same exact value
# P·2^-Δ once, with the same rounding and saturation (encode_value), so the codes agree too. All-zero
# blocks get zero_block_scale from both. A block clamped at 2^-127 has its largest element E binades up
# with E <= emax_src; Slice-and-Scale raises it by max(E - emax_dst, 0) <= Δ there, which is again the
# exponent requantization chooses (or its clamp at 2^-127).
@pytest.mark.parametrize("policy", ["ocp", mx.get_policy("ocp").replace(scale_overflow="nan")])
@pytest.mark.parametrize("seed, source, targets", [(1, "mxint8", INT_TARGETS), (2, "mxfp8_e4m3", FP_TARGETS),
                                                   (3, "mxfp8_e5m2", FP_TARGETS)])
@pytest.mark.clause("ext.slice-and-scale")
def test_slice_and_scale_equals_requantize_for_rne_symmetric_anchors(seed, source, targets, policy):
    # Both include blocks whose scale clamps at 2^-127.
    x = np.concatenate([random_data(seed, min_exp=-140), edge_data(source)])
    assert x.size >= 10**6
    anchor = mx.quantize(x, source, axis=1, policy=policy)
    for target in targets:
        assert_same_array(convert(anchor, target), convert(anchor, target, "requantize"))


def test_the_property_also_holds_along_other_axes_and_for_short_blocks():
    x = random_data(5, blocks=40).reshape(32, 40)[:, :37]
    for source, target in (("mxint8", "mxint3"), ("mxfp8_e4m3", "mxfp6_e2m3")):
        anchor = mx.quantize(x, source, axis=0)
        assert_same_array(convert(anchor, target), convert(anchor, target, "requantize"))


def test_truncation_breaks_the_property():
    """Dropping bits toward zero (rtz) is not RNE requantization: the property is not vacuous."""
    x = random_data(3, blocks=256, min_exp=-100)
    for source, target in (("mxint8", "mxint4"), ("mxfp8_e4m3", "mxfp4_e2m1")):
        anchor = mx.quantize(x, source, axis=1)
        sliced = convert(anchor, target, policy=mx.get_policy().replace(rounding="rtz"))
        requantized = convert(anchor, target, "requantize")
        np.testing.assert_array_equal(sliced.scales, requantized.scales)
        assert (sliced.codes != requantized.codes).sum() > 100


def _int8_anchor(codes: list[int], scale: int = 127) -> mx.MXArray:
    c = np.array(codes + [0] * (32 - len(codes)), np.int64) & 0xFF
    return mx.MXArray(c.astype(np.uint8), np.array([scale], np.uint8), mx.get_format("mxint8"), mx.get_policy(),
                      (0,))


@pytest.mark.parametrize("rounding, expected", [
    ("rne", [7, -7, 0, 0, 2, 2, -2, 4, 0]),
    ("rna", [7, -7, 0, 1, 2, 3, -3, 4, 0]),
    ("rtz", [7, -7, 0, 0, 1, 2, -2, 4, 0]),
])
def test_mxint8_to_mxint4_drops_four_bits_with_the_policy_rounding(rounding, expected):
    # k / 16 for k = 127, -127, 3, 8 (a tie), 24 (tie), 40 (tie), -40 (tie), 64, 7; |result| <= 7.
    anchor = _int8_anchor([127, -127, 3, 8, 24, 40, -40, 64, 7], scale=200)
    out = convert(anchor, "mxint4", policy=mx.get_policy().replace(rounding=rounding))
    got = [(int(c) ^ 8) - 8 for c in out.codes[:9]]  # 4-bit two's complement
    assert got == expected
    assert out.scales.tolist() == [200]
    assert out.format.name == "mxint4"


@pytest.mark.parametrize("rounding, expected", [("rne", [6.0, 4.0, 4.0, 0.0, -6.0]),
                                                ("rna", [6.0, 4.0, 6.0, 0.0, -6.0]),
                                                ("rtz", [6.0, 4.0, 4.0, 0.0, -6.0])])
def test_mxfp8_to_mxfp4_raises_the_scale_by_six_and_rerounds(rounding, expected):
    e4m3 = mx.get_format("fp8_e4m3")
    codes = mx.encode(np.array([448.0, 256.0, 320.0, 2.0 ** -9, -400.0], F32), e4m3)
    anchor = mx.MXArray(np.resize(np.r_[codes, np.zeros(27, np.uint8)], 32).astype(np.uint8),
                        np.array([100], np.uint8), mx.get_format("mxfp8_e4m3"), mx.get_policy(), (0,))
    out = convert(anchor, "mxfp4_e2m1", policy=mx.get_policy().replace(rounding=rounding))
    assert out.scales.tolist() == [106]
    assert mx.decode(out.codes[:5], "fp4_e2m1").tolist() == expected


@pytest.mark.clause("ext.slice-and-scale")
def test_scale_overflow_clamps_and_rerounds_at_the_clamped_scale_or_gives_nan():
    codes = mx.encode(np.array([448.0, 192.0, 12.0, 3.0], F32), "fp8_e4m3")
    anchor = mx.MXArray(np.r_[codes, np.zeros(28, np.uint8)].astype(np.uint8), np.array([254], np.uint8),
                        mx.get_format("mxfp8_e4m3"), mx.get_policy(), (0,))
    clamped = convert(anchor, "mxfp4_e2m1")
    # 2^127 + Δ is beyond E8M0: the scale stays 2^127 and the elements are re-rounded there, unshifted.
    assert clamped.scales.tolist() == [254]
    assert mx.decode(clamped.codes[:4], "fp4_e2m1").tolist() == [6.0, 6.0, 6.0, 3.0]
    assert_same_array(clamped, convert(anchor, "mxfp4_e2m1", "requantize"))
    nan = convert(anchor, "mxfp4_e2m1", policy=mx.get_policy().replace(scale_overflow="nan"))
    assert nan.scales.tolist() == [255]
    assert np.isnan(nan.dequantize()).all()


def test_nan_scale_blocks_stay_nan_and_zero_blocks_take_zero_block_scale():
    x = np.zeros((3, 32), F32)
    x[0, 3] = np.nan
    x[2] = 1.0
    for source, target in (("mxint8", "mxint2"), ("mxfp8_e5m2", "mxfp6_e3m2")):
        anchor = mx.quantize(x, source, axis=1)
        out = convert(anchor, target, policy=mx.get_policy().replace(zero_block_scale=9))
        assert out.scales[:, 0].tolist()[:2] == [255, 9]
        assert np.isnan(out.dequantize()[0]).all()
        assert (out.dequantize()[1] == 0).all()
        assert (out.dequantize()[2] == 1).all()


def test_blocks_clamped_at_the_smallest_scale_rise_only_as_far_as_their_largest_element_needs():
    # amax = 2^-122 in e4m3: the scale 2^(-122 - 8) clamps at 2^-127 (code 0) with P = 2^5. The plain
    # Δ = 6 would give 2^-121 and P·2^-6 = 0.5; the largest element needs only 5 - emax(e2m1) = 3, so the
    # scale is 2^-124 (code 3) and P·2^-3 = 4 keeps the value exactly, as requantizing does.
    anchor = mx.quantize(np.full(32, 2.0 ** -122, F32), "mxfp8_e4m3")
    assert anchor.scales.tolist() == [0]
    sliced = convert(anchor, "mxfp4_e2m1")
    assert sliced.scales.tolist() == [3]
    assert (sliced.dequantize(np.float64) == 2.0 ** -122).all()
    assert_same_array(sliced, convert(anchor, "mxfp4_e2m1", "requantize"))
    # A block above the smallest scale rises by the full Δ.
    unclamped = mx.quantize(np.full(32, 2.0 ** -100, F32), "mxfp8_e4m3")
    assert convert(unclamped, "mxfp4_e2m1").scales.tolist() == [int(unclamped.scales[0]) + 6]


@pytest.mark.clause("ext.slice-and-scale")
def test_requantize_is_quantize_of_the_exact_values():
    x = random_data(9, blocks=64)
    anchor = mx.quantize(x, "mxfp8_e4m3", axis=1)
    for target, policy in (("mxint4", "ocp"), ("mxfp6_e2m3", "microxcaling"), ("mxint8", "torchao")):
        got = convert(anchor, target, "requantize", policy=policy)
        assert_same_array(got, mx.quantize(anchor.dequantize(np.float64), target, axis=1, policy=policy))
        assert got.policy == mx.get_policy(policy)
    assert convert(anchor, "mxfp4", "requantize").policy == anchor.policy


@pytest.mark.parametrize("source, target", [
    ("mxint8", "mxfp4_e2m1"),  # int -> fp by slicing
    ("mxfp8_e4m3", "mxint4"),  # fp -> int
    ("mxint4", "mxint8"),  # widening
    ("mxfp4_e2m1", "mxfp8_e4m3"),  # widening
    ("mxint8", "mxint8"),  # nothing to slice
    ("mxfp6_e2m3", "mxfp4_e2m1"),  # not an MXFP8 anchor
    ("mxfp8_e4m3", "mxfp8_e5m2"),
])
def test_undefined_slices_are_refused_with_the_defined_list(source, target):
    anchor = mx.quantize(np.ones(32, F32), source)
    with pytest.raises(mx.InputError, match=r"defined: mxint8 -> mxint7\.\.mxint2; mxfp8_e4m3 or mxfp8_e5m2"):
        convert(anchor, target)
    convert(anchor, target, "requantize")  # any pair requantizes


def test_bad_arguments_raise_typed_errors():
    anchor = mx.quantize(np.ones(32, F32), "mxint8")
    with pytest.raises(mx.UnknownNameError, match="accepted: slice_and_scale, requantize"):
        convert(anchor, "mxint4", method="truncate")
    with pytest.raises(mx.UnknownNameError, match="unknown format"):
        convert(anchor, "mxint9")
    with pytest.raises(mx.InputError, match="not an MX block format"):
        convert(anchor, "int4")
    with pytest.raises(mx.InputError, match="MXArray"):
        convert(np.ones(32, F32), "mxint4")
    for rounding in ("rup", "rdn", "rto", "stochastic"):
        with pytest.raises(mx.PolicyError, match="accepted: rne, rna, rtz"):
            convert(anchor, "mxint4", policy=mx.get_policy().replace(rounding=rounding))
    with pytest.raises(mx.InputError, match="slice_and_scale is not defined"):
        convert(mx.quantize(np.ones(32, F32), "nvfp4"), "mxfp4_e2m1")
    custom = mx.MXFormat("mxint4_b16", mx.get_format("int4"), mx.get_format("e8m0"), 16, False, "test")
    with pytest.raises(mx.InputError, match="block sizes differ"):
        convert(anchor, custom)
