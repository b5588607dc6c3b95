"""Shared-scale selection: the exponent-only scale code (E8M0 or narrower) of a block from its amax."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mxemu.kernels.abi import (
    BITS,
    CEIL,
    DESCALE,
    DESCALE_EXACT,
    DESCALE_FP32_DIV,
    EMAX,
    EVEN,
    FLOOR,
    INT_EMAX,
    INT_EMAX_ONE,
    KIND,
    KIND_INT,
    LOG2,
    LOG2_EXACT,
    MAXINT,
    MBITS,
    MIN_SCALE_ENCODING,
    MIN_SCALE_MIN_NORMAL,
    MIN_SCALE_ONE,
    SCALE_OVERFLOW,
    SCALE_OVERFLOW_NAN,
    SCALE_RULE,
    SCALE_VALUE,
    SCALE_VALUE_FP32_POW2,
    ZERO_BLOCK_SCALE,
)
from mxemu.kernels.element import FINITE, ZERO, bit_length, pow2
from mxemu.spec import ScaleFormat

# E8M0 (MX v1.0 §5.4.1, Table 7): codes 0x00..0xFE are 2^-127..2^127, 0xFF is NaN; no zero, no sign.
E8M0_BIAS = 127
E8M0_NAN = 255
E8M0_MAX_EXP = 127

# Scale tuple slots: an exponent-only scale 2^(code - bias) whose all-ones code is NaN (MX §5.4.1).
SCALE_BIAS, SCALE_NAN = range(2)
E8M0_SCALE = (E8M0_BIAS, E8M0_NAN)
# Stand-ins for log2 amax = -inf and +inf (a zero or infinite float32 quotient): outside every scale's range.
BELOW_ANY_SCALE, ABOVE_ANY_SCALE = -(1 << 30), 1 << 30
# Float32 scale values (scale_value fp32_pow2, fp32_min_val): the float32 exponent range of 2^x (subnormals
# included), torch.finfo(float32).eps that Quark puts in place of a scale that underflowed to zero, and
# Brevitas's scaling_min_val 1e-10 as the float32 its clamp compares with (2^-34 < m < 2^-33).
FP32_POW2_MIN, FP32_POW2_MAX = -149, 127
FP32_EPS = 2.0 ** -23
SCALING_MIN_VAL = float(np.float32(1e-10))
SCALING_MIN_VAL_EXP = math.floor(math.log2(SCALING_MIN_VAL))


def scale_params(fmt: ScaleFormat) -> tuple[int, int]:
    """(bias, NaN code) of an exponent-only scale format."""
    return (fmt.bias, fmt.nan_code)


@njit(cache=True, inline="always")
def element_precision(F):
    """Significant bits of the element (floats: 1 + mantissa bits; integers: bits - 1)."""
    return F[BITS] - 1 if F[KIND] == KIND_INT else F[MBITS] + 1


@njit(cache=True, inline="always")
def max_normal(F):
    """Largest finite value of the element format F as float64 (exact: at most 8 bits, within 2^64)."""
    if F[KIND] == KIND_INT:
        return np.float64(F[MAXINT]) * 2.0 ** (-F[MBITS])
    return np.float64(F[MAXINT]) * 2.0 ** (F[EMAX] - F[MBITS])


@njit(cache=True)
def float32_log2_exponent(m, e, ceil):
    """floor (or ceil) of log2(m * 2^e) evaluated as float32 arithmetic does it: round the argument
    to float32, take a correctly rounded float32 log2, then floor or ceil. An argument that
    overflows float32 gives +inf (an exponent above any scale), one that underflows -inf."""
    a = np.float32(np.float64(m) * 2.0 ** e)
    if a == 0:
        return np.int64(BELOW_ANY_SCALE)
    if math.isinf(a):
        return np.int64(ABOVE_ANY_SCALE)
    lg = np.float64(np.float32(math.log2(np.float64(a))))
    return np.int64(math.ceil(lg) if ceil else math.floor(lg))


@njit(cache=True)
def rceil_fp32_exponent(m, e, F, P):
    """ceil(log2 d) with d = amax / max_normal evaluated in float32 (division or reciprocal product)."""
    top = max_normal(F)
    amax = np.float32(np.float64(m) * 2.0 ** e)
    if P[DESCALE] == DESCALE_FP32_DIV:
        d = np.float32(amax / np.float32(top))
    else:
        d = np.float32(amax * np.float32(1.0 / top))
    if d == 0:
        return np.int64(BELOW_ANY_SCALE)
    if math.isinf(d):
        return np.int64(ABOVE_ANY_SCALE)
    if P[LOG2] != LOG2_EXACT:
        return np.int64(math.ceil(np.float32(math.log2(np.float64(d)))))
    frac, exp = math.frexp(np.float64(d))
    return np.int64(exp - 1 if frac == 0.5 else exp)


@njit(cache=True, inline="always")
def element_scale_exponent(code, P, S=E8M0_SCALE):
    """The exponent at which a block's elements are encoded: the scale's own, except that some
    peers encode the elements of a 2^-127 block (code 0x00) at 2^-126 or at 1 (min_scale_encoding;
    E8M0 only, the operations refuse it for other scales)."""
    if code == 0:
        rule = P[MIN_SCALE_ENCODING]
        if rule == MIN_SCALE_MIN_NORMAL:
            return np.int64(-126)
        if rule == MIN_SCALE_ONE:
            return np.int64(0)
    return np.int64(code) - S[SCALE_BIAS]


@njit(cache=True)
def scale_code(amax_cls, m, e, E, F, P):
    """E8M0 code for a block whose amax is (class, m * 2^e), E = floor(log2 amax) (MX v1.0 §6.3)."""
    return scale_code_in(amax_cls, m, e, E, F, P, E8M0_SCALE)


@njit(cache=True)
def scale_code_in(amax_cls, m, e, E, F, P, S):
    """Code of the exponent-only scale S = (bias, NaN code) for a block whose amax is (class, m * 2^e),
    E = floor(log2 amax): the exponent the scale rule asks for, clamped to the scale's range [-bias,
    NaN code - 1 - bias] (MX v1.0 §6.3, where E8M0 gives [-127, 127]).

    amax_cls is ZERO, FINITE or INF (an infinite amax, when the non-finite policy lets Inf through).
    """
    if amax_cls == ZERO:
        return P[ZERO_BLOCK_SCALE]
    min_exp = -S[SCALE_BIAS]
    max_exp = S[SCALE_NAN] - 1 - S[SCALE_BIAS]
    if amax_cls != FINITE:
        x = np.int64(max_exp + 1)
    else:
        x = unclamped_exponent(m, e, E, F, P)
    if x < min_exp:
        x = np.int64(min_exp)
    if x > max_exp:
        if P[SCALE_OVERFLOW] == SCALE_OVERFLOW_NAN:
            return S[SCALE_NAN]
        x = np.int64(max_exp)
    return x + S[SCALE_BIAS]


@njit(cache=True, inline="always")
def int_emax_offset(F, P):
    """1 where the policy takes integer elements' emax as 1 (Brevitas's 2^(b-1) grid), else 0."""
    return 1 if F[KIND] == KIND_INT and P[INT_EMAX] == INT_EMAX_ONE else 0


@njit(cache=True, inline="always")
def unclamped_exponent(m, e, E, F, P):
    """The scale exponent the policy gives a finite amax m * 2^e > 0 before clamping: its scale rule's,
    one lower for integer elements under int_emax one."""
    return rule_exponent(m, e, E, F, P) - int_emax_offset(F, P)


@njit(cache=True)
def fp32_scale_value(amax_cls, m, e, E, F, P):
    """The block scale under a float32 scale_value rule, as the float64 holding that float32 (NaN: the peer's
    scale is Inf, and x / Inf, 0 * Inf make the block NaN). amax_cls is ZERO, FINITE or INF."""
    emax = F[EMAX] + int_emax_offset(F, P)
    if amax_cls == FINITE:
        x = unclamped_exponent(m, e, E, F, P)
    elif amax_cls == 0:
        x = np.int64(BELOW_ANY_SCALE)  # log2(0) = -inf; Brevitas clamps amax to m first, same result
    else:
        return np.nan
    if P[SCALE_VALUE] == SCALE_VALUE_FP32_POW2:
        if x > FP32_POW2_MAX:
            return np.nan
        return FP32_EPS if x < FP32_POW2_MIN else pow2(x)
    top = x + emax  # the power of two 2^floor(log2 amax), formed in float32 before the division by 2^emax
    if top > FP32_POW2_MAX:
        return np.nan
    if top <= SCALING_MIN_VAL_EXP:
        return SCALING_MIN_VAL * pow2(-emax)
    return pow2(x)


@njit(cache=True, inline="always")
def rule_exponent(m, e, E, F, P):
    """The scale exponent the policy's scale rule gives a finite amax m * 2^e > 0 before clamping."""
    emax = F[EMAX]
    rule = P[SCALE_RULE]
    exact_log2 = P[LOG2] == LOG2_EXACT
    power_of_two = m == (np.int64(1) << (bit_length(m) - 1))
    if rule == FLOOR:
        # MX v1.0 §6.3: shared_exp = floor(log2 amax) - emax_elem, the largest power of two <= amax
        # over the largest power of two of the element format.
        return (E if exact_log2 else float32_log2_exponent(m, e, False)) - emax
    if rule == CEIL:
        if exact_log2:
            return E + (0 if power_of_two else 1) - emax
        return float32_log2_exponent(m, e, True) - emax
    if rule == EVEN:
        # Round amax half-up to the element's precision, then floor (torchao EVEN).
        p = element_precision(F)
        n = bit_length(m)
        x = E - emax
        if n > p and ((m >> (n - p - 1)) + 1) >> (p + 1):
            x += 1
        return x
    if P[DESCALE] == DESCALE_EXACT:
        # Smallest x with amax <= max_normal * 2^x; floor(log2 amax) - emax or one more.
        x = E - emax
        mx_exp = (emax - F[MBITS]) if F[KIND] != KIND_INT else -F[MBITS]
        d = e - (mx_exp + x)
        lhs_gt = (m << d) > F[MAXINT] if d >= 0 else m > (F[MAXINT] << (-d))
        return x + 1 if lhs_gt else x
    return rceil_fp32_exponent(m, e, F, P)
