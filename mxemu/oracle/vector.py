"""Element codec over arrays: a sorted table of representable magnitudes, searched with exact float64 compares."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from itertools import pairwise

import numpy as np

from mxemu.errors import InputError, MXError
from mxemu.oracle.element import (
    decode_value,
    element_format,
    inf_like_code,
    max_code,
    nan_code,
    overflow_goes_to_inf,
    quantum,
    sign_bit,
)
from mxemu.oracle.exact import FP32_MIN_NORMAL, floor_log2, pow2
from mxemu.oracle.philox import random_ints
from mxemu.policy import Policy, get_policy
from mxemu.spec import ElementFormat

__all__ = ["decode_array", "encode_array"]

_INPUT_DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class _Grid:
    """Non-negative magnitudes of a format at scale 2^s, sorted, plus one or two points past the maximum.

    Consecutive entries differ by the grid quantum of the lower one, so [T[i], T[i+1]) is exactly the
    interval the contract's lo = floor(|v|/q) q maps to T[i]; midpoints are exact in float64.
    """

    table: np.ndarray  # float64, scaled by 2^s
    midpoints: np.ndarray  # float64, (T[i] + T[i+1]) / 2
    quantum_exp: np.ndarray  # int64, log2 of T[i+1] - T[i]
    odd: np.ndarray  # bool, lo/q is odd
    codes: np.ndarray  # int64: float magnitude codes, or integer significands k
    max_index: int  # index of max normal (floats) or max_int (ints)


@cache
def _grid(fmt: ElementFormat, scale_exp: int) -> _Grid:
    """The format's magnitudes at scale 2^scale_exp, from its decoded codes."""
    if fmt.is_int:
        steps = (1 << (fmt.bits - 1)) + 1  # k = 0 .. max_int + 2: room past the negative maximum
        values = [Fraction(k, 1 << fmt.mantissa_bits) for k in range(steps + 1)]
        codes = list(range(steps + 1))
        max_index = (1 << (fmt.bits - 1)) - 1
    else:
        finite = []
        for code in range(1 << (fmt.bits - 1)):  # sign bit clear
            value = decode_value(code, fmt)
            if isinstance(value, Fraction):
                finite.append((value, code))
        finite.sort()
        values = [v for v, _ in finite]
        codes = [c for _, c in finite]
        max_index = len(values) - 1
        values.append(values[-1] + quantum(values[-1], fmt))  # first grid point past max normal
        codes.append(-1)
    scale = pow2(scale_exp)
    scaled = [v * scale for v in values]
    table = np.array([float(v) for v in scaled], dtype=np.float64)
    mids = [(a + b) / 2 for a, b in pairwise(scaled)]
    midpoints = np.array([float(v) for v in mids], dtype=np.float64)
    if any(Fraction(float(v)) != v for v in scaled + mids) or not np.all(np.isfinite(table)):
        raise InputError(f"scale_exp = {scale_exp} puts {fmt.name} outside the exact float64 range; accepted: "
                         f"scale exponents whose values float64 holds exactly")
    quanta = [b - a for a, b in pairwise(values)]
    assert all(
        q == (quantum(a, fmt) if a else fmt.min_subnormal) for a, q in zip(values, quanta, strict=False)
    )
    quantum_exp = np.array([floor_log2(q) + scale_exp for q in quanta], dtype=np.int64)
    odd = np.array([(a / q).numerator % 2 == 1 for a, q in zip(values, quanta, strict=False)], dtype=bool)
    return _Grid(table, midpoints, quantum_exp, odd, np.array(codes, dtype=np.int64), max_index)


def _as_float64(x: np.ndarray) -> np.ndarray:
    """x as float64, exactly; `InputError` for a dtype other than the four float inputs."""
    x = np.asarray(x)
    if x.dtype.name not in _INPUT_DTYPES:
        raise InputError(f"input dtype {x.dtype}; accepted: {', '.join(_INPUT_DTYPES)}")
    with np.errstate(invalid="ignore"):  # bfloat16 NaNs warn on the way to float64
        return x.astype(np.float64)  # exact for every accepted dtype


def encode_array(
    x: np.ndarray,
    fmt: str | ElementFormat,
    scale_exp: int = 0,
    policy: Policy | str | None = None,
    random_bits: np.ndarray | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """`encode_value` over an array of float16 / bfloat16 / float32 / float64, as uint8 codes of x's shape.

    Stochastic rounding takes rnd from `random_bits` (x's shape), or from (`seed`, flat index) by Philox.
    """
    fmt = element_format(fmt)
    policy = get_policy(policy)
    values = _as_float64(x)
    shape = values.shape
    values = values.ravel()
    negative = np.signbit(values)
    is_nan = np.isnan(values)
    magnitude = np.abs(values)
    is_inf = np.isinf(magnitude)
    if is_nan.any() and not fmt.has_nan and policy.nan_to_nonan == "error":
        raise MXError(f"NaN input cannot be encoded in {fmt.name} (policy nan_to_nonan = 'error')")
    if policy.subnormal_inputs == "flush":
        magnitude = np.where(magnitude < float(FP32_MIN_NORMAL), 0.0, magnitude)
    magnitude = np.where(is_nan | is_inf, 0.0, magnitude)  # their codes are set at the end

    grid = _grid(fmt, int(scale_exp))
    last = len(grid.table) - 1
    i = np.searchsorted(grid.table, magnitude, side="right") - 1  # table[i] <= |x| < table[i+1]
    inside = i < last
    j = np.minimum(i, last - 1)
    lo = grid.table[j]
    mid = grid.midpoints[j]
    odd = grid.odd[j]
    inexact = magnitude != grid.table[i]
    mode = policy.rounding
    if mode == "rne":
        up = (magnitude > mid) | ((magnitude == mid) & odd)
    elif mode == "rna":
        up = magnitude >= mid
    elif mode == "rtz":
        up = np.zeros_like(inexact)
    elif mode == "rup":
        up = ~negative
    elif mode == "rdn":
        up = negative.copy()
    elif mode == "rto":
        up = ~odd
    else:  # stochastic: t = floor((|v| - lo)/q 2^R), exact (Sterbenz, then a power-of-two scaling)
        bits = policy.sr_bits
        rnd = _random_draws(random_bits, seed, shape, bits)
        fraction = np.where(inside, magnitude - lo, 0.0)
        t = np.floor(np.ldexp(fraction, bits - grid.quantum_exp[j])).astype(np.int64)
        up = t + rnd >= 1 << bits
    r = np.where(inside, i + (up & inexact), last)

    max_pos = grid.max_index
    max_neg = max_pos + 1 if fmt.is_int and policy.int_range == "full" else max_pos
    max_r = np.where(negative, max_neg, max_pos)
    over = r > max_r
    r = np.minimum(r, max_r)
    codes = _signed_codes(fmt, grid.codes[r], negative)
    zero = r == 0
    if policy.zero_sign == "positive":
        codes[zero] = 0
    elif policy.zero_sign == "fp32_quotient":  # zero as a float32 quotient |x| / 2^s (RNE): +0
        codes[zero & (magnitude <= np.ldexp(1.0, int(scale_exp) - 150))] = 0

    if policy.overflow == "ieee" and not fmt.is_int:
        to_inf = np.where(negative, overflow_goes_to_inf(True, policy), overflow_goes_to_inf(False, policy))
        inf_like = (over & to_inf) | is_inf
        codes[inf_like & ~negative] = inf_like_code(fmt, False, policy)
        codes[inf_like & negative] = inf_like_code(fmt, True, policy)
    else:
        codes[is_inf & ~negative] = max_code(fmt, False, policy)
        codes[is_inf & negative] = max_code(fmt, True, policy)

    if fmt.has_nan:
        all_ones = policy.nan_code == "all_ones"
        codes[is_nan & ~negative] = nan_code(fmt, False, all_ones)
        codes[is_nan & negative] = nan_code(fmt, True, all_ones)
    elif fmt.is_int or policy.nan_to_nonan == "zero":
        codes[is_nan] = 0
    else:
        sign_of_zero = negative if policy.nan_to_nonan == "signed_zero" else ~negative
        codes[is_nan] = np.where(sign_of_zero[is_nan], sign_bit(fmt), 0)
    return codes.astype(np.uint8).reshape(shape)


def _signed_codes(fmt: ElementFormat, magnitude_codes: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Codes of the signed values: the sign bit set, or the two's complement of an integer significand."""
    if fmt.is_int:
        return np.where(negative, -magnitude_codes, magnitude_codes) & ((1 << fmt.bits) - 1)
    return np.where(negative, magnitude_codes | sign_bit(fmt), magnitude_codes)


def _random_draws(random_bits: np.ndarray | None, seed: int | None, shape: tuple, bits: int) -> np.ndarray:
    """The stochastic draw of each element: `random_bits` checked, or Philox at (seed, flat index)."""
    if random_bits is not None:
        rnd = np.asarray(random_bits)
        if rnd.shape != shape or rnd.dtype.kind not in "iu":
            raise InputError(f"random_bits must be integers of shape {shape}, got {rnd.dtype} {rnd.shape}")
        rnd = rnd.astype(np.int64).ravel()
        if rnd.size and (rnd.min() < 0 or rnd.max() >= 1 << bits):
            raise InputError(f"random_bits must lie in [0, 2^{bits})")
        return rnd
    if seed is None:
        raise InputError("stochastic rounding needs random_bits or a seed")
    return random_ints(seed, np.arange(math.prod(shape), dtype=np.uint64), bits)


@cache
def _decode_table(fmt: ElementFormat, scale_exp: int) -> np.ndarray:
    """Exact float64 value of every code at scale 2^scale_exp (-0 kept)."""
    out = np.empty(1 << fmt.bits, dtype=np.float64)
    scale = pow2(scale_exp)
    for code in range(1 << fmt.bits):
        value = decode_value(code, fmt)
        if isinstance(value, Fraction):
            exact = value * scale
            out[code] = float(exact)
            if Fraction(out[code]) != exact:
                raise InputError(f"scale_exp = {scale_exp} puts {fmt.name} outside the exact float64 range; "
                                 f"accepted: scale exponents whose values float64 holds exactly")
            if value == 0 and code & sign_bit(fmt) and not fmt.is_int:
                out[code] = -0.0
        else:
            out[code] = value
    return out


def decode_array(codes: np.ndarray, fmt: str | ElementFormat, scale_exp: int = 0) -> np.ndarray:
    """Exact float64 values of the codes times 2^scale_exp (NaN codes give NaN, Inf codes ±inf, -0 kept)."""
    fmt = element_format(fmt)
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise InputError(f"codes must be integers, got {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << fmt.bits):
        raise InputError(f"codes must lie in [0, 2^{fmt.bits}) for {fmt.name}")
    return _decode_table(fmt, int(scale_exp))[codes.astype(np.int64)]

