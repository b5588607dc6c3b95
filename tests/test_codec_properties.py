"""Properties of the element codec on float32 and float64 inputs (hypothesis), each example also checked
against the scalar exact oracle."""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mxemu
from mxemu import oracle
from mxemu.policy import CHOICES, Policy
from mxemu.spec import ElementFormat, formats, get_format

ELEMENTS = [n for n in formats() if isinstance(get_format(n), ElementFormat)]
DETERMINISTIC = tuple(r for r in CHOICES["rounding"] if r != "stochastic")
SCALES = st.one_of(st.sampled_from([-127, -3, 0, 5, 127]), st.integers(-127, 127))
WIDTHS = {32: np.float32, 64: np.float64}
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)


@cache
def grid_points(fmt: str) -> tuple[Fraction, ...]:
    """Non-negative grid values of fmt, two steps past the largest, and every midpoint between them."""
    elem = get_format(fmt)
    values = sorted({v for c in range(elem.num_codes)
                     if isinstance(v := oracle.decode_value(c, elem), Fraction) and v >= 0})
    step = values[-1] - values[-2]
    values += [values[-1] + step, values[-1] + 2 * step]
    return tuple(values + [(a + b) / 2 for a, b in pairwise(values)])


@st.composite
def near_boundaries(draw: st.DrawFn, fmt: str, scale_exp: int, width: int) -> float:
    """A grid point or rounding boundary of fmt at 2^scale_exp, moved by up to 3 ulps of the input type."""
    dtype = WIDTHS[width]
    point = draw(st.sampled_from(grid_points(fmt))) * Fraction(2) ** scale_exp
    with np.errstate(over="ignore"):
        v = dtype(float(point))
    toward = dtype(np.inf) if draw(st.booleans()) else dtype(0)
    for _ in range(draw(st.integers(0, 3))):
        v = np.nextafter(v, toward)
    return float(-v if draw(st.booleans()) else v)


@st.composite
def inputs(draw: st.DrawFn, fmt: str, scale_exp: int, width: int, allow_nan: bool = True) -> np.ndarray:
    """A small array of the given width mixing any float (subnormals, Inf, NaN) with near-boundary values."""
    anything = st.floats(width=width, allow_nan=allow_nan, allow_infinity=True, allow_subnormal=True)
    scaled = st.floats(-8.0, 8.0, width=width).map(lambda v: v * 2.0**scale_exp)
    values = draw(st.lists(st.one_of(anything, scaled, near_boundaries(fmt, scale_exp, width)),
                           min_size=1, max_size=48))
    with np.errstate(over="ignore"):
        return np.array(values, dtype=WIDTHS[width])


def encode_checked(x: np.ndarray, fmt: str, scale_exp: int, policy: Policy,
                   bits: np.ndarray | None = None) -> np.ndarray:
    """mxemu.encode, asserted equal to the scalar oracle element by element."""
    got = mxemu.encode(x, fmt, scale_exp=scale_exp, policy=policy, random_bits=bits)
    want = [oracle.encode_value(v, fmt, scale_exp, policy, None if bits is None else int(bits.flat[i]))
            for i, v in enumerate(x.ravel().tolist())]
    for i, (g, w) in enumerate(zip(got.ravel().tolist(), want, strict=True)):
        assert g == w, (f"{fmt} scale_exp={scale_exp} {policy}: x={float(x.flat[i])!r} ({x.dtype}) "
                        f"expected 0x{w:02x} got 0x{g:02x}")
    return got


def decode(codes: np.ndarray, fmt: str, scale_exp: int) -> np.ndarray:
    return mxemu.decode(codes, fmt, scale_exp=scale_exp, dtype=np.float64)


def is_nan_code(codes: np.ndarray, fmt: str) -> np.ndarray:
    return np.isin(codes, get_format(fmt).nan_codes)


@st.composite
def cases(draw: st.DrawFn, roundings: tuple[str, ...] = tuple(CHOICES["rounding"]), **fixed: object) -> tuple:
    """(x, fmt, scale_exp, policy, random_bits) with the policy's other fields drawn unless fixed."""
    fmt = draw(st.sampled_from(ELEMENTS))
    scale_exp = draw(SCALES)
    width = draw(st.sampled_from(list(WIDTHS)))
    fields = {"rounding": draw(st.sampled_from(roundings)),
              "overflow": draw(st.sampled_from(CHOICES["overflow"])),
              "int_range": draw(st.sampled_from(CHOICES["int_range"])),
              "zero_sign": draw(st.sampled_from(CHOICES["zero_sign"])),
              "nan_to_nonan": draw(st.sampled_from(("zero", "signed_zero", "flipped_zero"))),
              "subnormal_inputs": draw(st.sampled_from(CHOICES["subnormal_inputs"])),
              "sr_bits": draw(st.sampled_from([32, 1, 4, 11]))}
    fields.update(fixed)
    policy = Policy(**fields)
    x = draw(inputs(fmt, scale_exp, width))
    bits = None
    if policy.rounding == "stochastic":
        bits = np.array(draw(st.lists(st.integers(0, (1 << policy.sr_bits) - 1),
                                      min_size=x.size, max_size=x.size)), dtype=np.uint32)
    return x, fmt, scale_exp, policy, bits


@PROPERTY
@given(cases())
def test_encode_equals_the_scalar_oracle(case: tuple) -> None:
    encode_checked(*case)


@PROPERTY
@given(cases(zero_sign="keep", subnormal_inputs="keep"))
def test_encode_of_decode_of_encode_is_encode(case: tuple) -> None:
    x, fmt, scale_exp, policy, bits = case
    codes = encode_checked(x, fmt, scale_exp, policy, bits)
    again = encode_checked(decode(codes, fmt, scale_exp), fmt, scale_exp, policy, bits)
    nan = is_nan_code(codes, fmt)
    assert np.array_equal(again[~nan], codes[~nan])
    assert is_nan_code(again[nan], fmt).all()


@PROPERTY
@given(cases(roundings=DETERMINISTIC))
def test_encode_is_monotone(case: tuple) -> None:
    x, fmt, scale_exp, policy, _ = case
    elem = get_format(fmt)
    if policy.overflow == "ieee" and elem.has_nan and not elem.has_inf:
        policy = policy.replace(overflow="saturate")  # overflow to NaN (e4m3) is unordered by design
    x = np.sort(x[~np.isnan(x)])
    values = decode(encode_checked(x, fmt, scale_exp, policy), fmt, scale_exp)
    assert np.all(values[:-1] <= values[1:]), list(zip(x.tolist(), values.tolist(), strict=True))


@PROPERTY
@given(cases(rounding="rtz"))
def test_round_toward_zero_never_increases_magnitude(case: tuple) -> None:
    x, fmt, scale_exp, policy, _ = case
    x = x[~np.isnan(x)]
    values = decode(encode_checked(x, fmt, scale_exp, policy), fmt, scale_exp)
    assert np.all(np.abs(values) <= np.abs(x.astype(np.float64)))


@PROPERTY
@given(cases(overflow="saturate"))
def test_saturate_never_makes_nan_or_inf_from_finite_input(case: tuple) -> None:
    x, fmt, scale_exp, policy, bits = case
    finite = np.isfinite(x)
    values = decode(encode_checked(x, fmt, scale_exp, policy, bits), fmt, scale_exp)
    assert np.isfinite(values[finite]).all()


@PROPERTY
@given(cases(roundings=("rne", "rna", "rtz", "rto"), zero_sign="keep", int_range="symmetric"))
def test_negation_flips_only_the_sign(case: tuple) -> None:
    x, fmt, scale_exp, policy, _ = case
    x = x[~np.isnan(x)]
    codes = encode_checked(x, fmt, scale_exp, policy)
    negated = encode_checked(-x, fmt, scale_exp, policy)
    elem = get_format(fmt)
    if elem.is_int:
        assert np.array_equal(decode(negated, fmt, scale_exp), -decode(codes, fmt, scale_exp))
    else:
        assert np.array_equal(negated, codes ^ np.uint8(1 << (elem.bits - 1)))


def representable(v: Fraction, dtype: type) -> bool:
    with np.errstate(over="ignore"):
        f = dtype(float(v))
    return bool(np.isfinite(f)) and Fraction(float(f)) == v


def ties(fmt: str) -> list[tuple[Fraction, Fraction]]:
    """Adjacent representable magnitudes (a, b), both at most max normal."""
    elem = get_format(fmt)
    values = sorted({v for c in range(elem.num_codes)
                     if isinstance(v := oracle.decode_value(c, elem), Fraction) and v >= 0})
    return list(pairwise(values))


@PROPERTY
@given(st.sampled_from(ELEMENTS), SCALES, st.sampled_from(list(WIDTHS)), st.booleans(),
       st.sampled_from(CHOICES["overflow"]))
@pytest.mark.clause("6.3", "ext.rounding")
def test_ties_go_to_even_under_rne_and_away_under_rna(fmt: str, scale_exp: int, width: int, negative: bool,
                                                      overflow: str) -> None:
    scale = Fraction(2) ** scale_exp
    dtype = WIDTHS[width]
    pairs = [(a, b) for a, b in ties(fmt) if representable((a + b) / 2 * scale, dtype)]
    mids = np.array([float((a + b) / 2 * scale) for a, b in pairs], dtype=dtype)
    x = -mids if negative else mids
    rne = encode_checked(x, fmt, scale_exp, Policy(overflow=overflow))
    rna = encode_checked(x, fmt, scale_exp, Policy(rounding="rna", overflow=overflow))
    assert not np.any(rne & 1), "every tie lands on a code with an even last bit"
    lo = np.array([float(a * scale) for a, _ in pairs])
    hi = np.array([float(b * scale) for _, b in pairs])
    rne_values, rna_values = np.abs(decode(rne, fmt, scale_exp)), np.abs(decode(rna, fmt, scale_exp))
    assert np.all((rne_values == lo) | (rne_values == hi))
    assert np.array_equal(rna_values, hi)


def test_float64_input_rounds_once_not_through_float32() -> None:
    x = 1.25 + 2.0**-30  # float32(x) is the tie 1.25, which RNE sends to 1.0; x itself is nearer 1.5
    through_float32 = oracle.encode_value(float(np.float32(x)), "fp4_e2m1")
    exact = oracle.encode_value(x, "fp4_e2m1")
    assert (through_float32, exact) == (0x2, 0x3)
    assert mxemu.encode(np.array([x], dtype=np.float64), "fp4_e2m1")[0] == exact
    assert mxemu.encode(np.array([x], dtype=np.float32), "fp4_e2m1")[0] == through_float32


@PROPERTY
@given(st.sampled_from(ELEMENTS), SCALES, st.booleans(), st.integers(25, 45), st.booleans())
def test_float64_inputs_just_off_a_tie_round_to_the_nearer_neighbour(fmt: str, scale_exp: int, above: bool,
                                                                    offset_bits: int, negative: bool) -> None:
    pairs = ties(fmt)
    scale = Fraction(2) ** scale_exp
    mids = [(a + b) / 2 * scale for a, b in pairs]
    x = np.array([float(m * (1 + Fraction(1 if above else -1, 1 << offset_bits))) for m in mids])
    x = -x if negative else x
    codes = encode_checked(x, fmt, scale_exp, Policy())
    values = np.abs(decode(codes, fmt, scale_exp))
    nearer = [b * scale if above else a * scale for a, b in pairs]
    assert [Fraction(v) for v in values] == nearer
    # Through float32, x lands exactly on the ties; the tie (0, min_subnormal) then goes down to 0.
    with np.errstate(over="ignore"):
        double_rounded = encode_checked(x.astype(np.float32), fmt, scale_exp, Policy())
    if above:
        assert double_rounded[0] != codes[0]


@pytest.mark.parametrize("fmt", ELEMENTS)
def test_every_grid_point_encodes_to_itself(fmt: str) -> None:
    elem = get_format(fmt)
    codes = np.array([c for c in range(elem.num_codes) if c not in elem.nan_codes], dtype=np.uint8)
    for scale_exp in (-127, 0, 127):
        values = decode(codes, fmt, scale_exp)
        policy = Policy(overflow="ieee", int_range="full")
        assert np.array_equal(encode_checked(values, fmt, scale_exp, policy), codes)
