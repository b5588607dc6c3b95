"""Exact rational helpers: powers of two, floor and ceil of log2, rounding to an integer and to float32."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mxemu.errors import InputError, UnknownNameError

__all__ = ["FLOAT32_OVERFLOW", "FP32_MIN_NORMAL", "ROUNDINGS", "ceil_log2", "floor_log2", "nearest_float32",
           "pow2", "rational", "round_to_integer"]


def pow2(k: int) -> Fraction:
    """2^k as an exact rational."""
    return Fraction(1 << k) if k >= 0 else Fraction(1, 1 << -k)


def floor_log2(v: Fraction) -> int:
    """floor(log2 v) for a rational v > 0, exactly."""
    n, d = v.numerator, v.denominator
    e = n.bit_length() - d.bit_length()  # n/d lies in (2^(e-1), 2^(e+1))
    if (n << max(-e, 0)) < (d << max(e, 0)):  # n/d < 2^e
        e -= 1
    return e


def ceil_log2(v: Fraction) -> int:
    """ceil(log2 v) for a rational v > 0, exactly."""
    e = floor_log2(v)
    return e if v == pow2(e) else e + 1


def rational(v: Fraction | int | float) -> Fraction:
    """v as an exact Fraction: an int, a Fraction, or a finite float (`InputError` for anything else)."""
    if isinstance(v, (Fraction, int, np.integer)) and not isinstance(v, bool):
        return Fraction(int(v)) if isinstance(v, np.integer) else Fraction(v)
    if isinstance(v, (float, np.floating)) and math.isfinite(v):
        return Fraction(float(v))  # exact: every float16 / float32 / float64 is a float64
    raise InputError(f"{v!r:.60} is not an exact number; accepted: an int, a Fraction or a finite float")


FP32_MIN_NORMAL = pow2(-126)
FLOAT32_OVERFLOW = pow2(128) - pow2(103)  # from here up, round to nearest gives Inf


def nearest_float32(v: Fraction) -> np.float32:
    """The float32 nearest to an exact rational (ties to even, gradual underflow, Inf from 2^128 - 2^103 up;
    +0 for 0).

    >>> float(nearest_float32(Fraction(1) + pow2(-24))), float(nearest_float32(Fraction(3, 1 << 150))) == 2.0**-148
    (1.0, True)
    """
    v = rational(v)
    if v == 0:
        return np.float32(0.0)
    mag = abs(v)
    q = pow2(max(floor_log2(mag), -126) - 23)
    r = round(mag / q) * q  # Fraction.__round__ rounds half to even
    out = np.float32(np.inf) if r >= FLOAT32_OVERFLOW else np.float32(float(r))
    return -out if v < 0 else out


ROUNDINGS = ("rtz", "rdn", "rup", "rne", "rna", "rto")  # the directed and nearest roundings to an integer


def round_to_integer(v: Fraction, rounding: str) -> int:
    """v rounded to an integer: rtz, rdn (floor), rup (ceil), rne, rna (ties away) or rto (to odd).

    >>> [round_to_integer(Fraction(-5, 2), r) for r in ("rtz", "rdn", "rup", "rne", "rna", "rto")]
    [-2, -3, -2, -2, -3, -3]
    """
    if rounding not in ROUNDINGS:
        raise UnknownNameError(f"unknown rounding {rounding!r}; accepted: {', '.join(ROUNDINGS)}")
    v = rational(v)
    lo = math.floor(v)
    if lo == v:
        return lo
    if rounding == "rtz":
        return lo if v > 0 else lo + 1
    if rounding == "rdn":
        return lo
    if rounding == "rup":
        return lo + 1
    if rounding == "rto":
        return lo if lo % 2 else lo + 1
    half = v - lo - Fraction(1, 2)
    if rounding == "rne":
        return lo + (half > 0 or (half == 0 and lo % 2 == 1))
    return lo + (half > 0 or (half == 0 and v > 0))  # rna

