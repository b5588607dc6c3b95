"""The ml_dtypes preset equals ml_dtypes' own casts, densely around every rounding boundary; float64 rounds once."""

import itertools
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx
from mxemu import oracle

CASTS = {"fp8_e4m3": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2,
         "fp6_e3m2": ml_dtypes.float6_e3m2fn, "fp6_e2m3": ml_dtypes.float6_e2m3fn,
         "fp4_e2m1": ml_dtypes.float4_e2m1fn}


def boundary_dense_float32(fmt: str, width: int) -> np.ndarray:
    """Every grid value and every midpoint of the format (both signs, one binade past max normal),
    each with the `width` float32 neighbours on either side."""
    element = mx.get_format(fmt)
    grid = sorted({abs(oracle.decode_value(c, element)) for c in range(element.num_codes)
                   if not isinstance(oracle.decode_value(c, element), float)})
    top = grid[-1]
    step = top - grid[-2]
    grid += [top + step * i for i in range(1, 4)]  # where overflow decisions happen
    points = grid + [(a + b) / 2 for a, b in itertools.pairwise(grid)]
    centers = np.array([float(p) for p in points if p != Fraction(0)] + [2.0 ** -149], np.float32)
    offsets = np.arange(-width, width + 1, dtype=np.int64)
    bits = (centers.view(np.int32).astype(np.int64)[:, None] + offsets[None, :]).clip(1, 0x7F7FFFFF)
    x = bits.astype(np.int32).view(np.float32).reshape(-1)
    return np.concatenate([x, -x, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)])


@pytest.mark.parametrize("fmt", list(CASTS))
@pytest.mark.clause("ext.presets")
def test_ml_dtypes_preset_equals_ml_dtypes_cast_around_every_boundary(fmt):
    x = boundary_dense_float32(fmt, width=2048)
    with np.errstate(invalid="ignore", over="ignore"):
        want = x.astype(CASTS[fmt]).view(np.uint8)
    np.testing.assert_array_equal(mx.encode(x, fmt, policy="ml_dtypes"), want)


def test_at_least_a_million_boundary_dense_inputs_are_checked():
    assert sum(boundary_dense_float32(fmt, 2048).size for fmt in CASTS) >= 10**6


def test_float64_input_rounds_once_where_ml_dtypes_rounds_twice():
    # 1.0625 + 2^-24 is just above the midpoint 1.0625 of E4M3's 1.0 and 1.125. Rounded to float32
    # first (as ml_dtypes does for float64 input) it becomes exactly the midpoint, which ties to even: 1.0.
    x = np.array([1.0625 + 2.0 ** -24], np.float64)
    with np.errstate(invalid="ignore"):
        double_rounded = int(x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)[0])
    once = int(mx.encode(x, "fp8_e4m3", policy="ml_dtypes")[0])
    assert double_rounded == 0x38  # 1.0
    assert once == 0x39 == oracle.encode_value(Fraction(17, 16) + Fraction(1, 2**24), mx.get_format("fp8_e4m3"),
                                               0, mx.get_policy("ml_dtypes"))
