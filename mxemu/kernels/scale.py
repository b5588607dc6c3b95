"""Shared-scale selection: the E8M0 exponent of a block from its amax, for every scale rule."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mxemu.kernels.element import FINITE, bit_length
from mxemu.kernels.params import (
    BITS,
    CEIL,
    DESCALE,
    DESCALE_EXACT,
    DESCALE_FP32_DIV,
    EMAX,
    EVEN,
    FLOOR,
    KIND,
    KIND_INT,
    LOG2,
    MAXINT,
    MBITS,
    MIN_SCALE_ENCODING,
    MIN_SCALE_MIN_NORMAL,
    MIN_SCALE_ONE,
    SCALE_OVERFLOW,
    SCALE_RULE,
    ZERO_BLOCK_SCALE,
)

E8M0_BIAS = 127
E8M0_NAN = 255
E8M0_MIN_EXP = -127
E8M0_MAX_EXP = 127


@njit(cache=True, inline="always")
def element_precision(F):
    """Significant bits of the element (floats: 1 + mantissa bits; integers: bits - 1)."""
    return F[BITS] - 1 if F[KIND] == KIND_INT else F[MBITS] + 1


@njit(cache=True)
def float32_log2_exponent(m, e, ceil):
    """floor (or ceil) of log2(m * 2^e) evaluated as float32 arithmetic does it: round the argument
    to float32, take a correctly rounded float32 log2, then floor or ceil. An argument that
    overflows float32 gives +inf (an exponent above any scale), one that underflows -inf."""
    a = np.float32(np.float64(m) * 2.0 ** e)
    if a == 0:
        return np.int64(E8M0_MIN_EXP - 1 - 512)
    if math.isinf(a):
        return np.int64(E8M0_MAX_EXP + 1 + 512)
    lg = np.float64(np.float32(math.log2(np.float64(a))))
    return np.int64(math.ceil(lg) if ceil else math.floor(lg))


@njit(cache=True)
def rceil_fp32_exponent(m, e, F, P):
    """ceil(log2 d) with d = amax / max_normal evaluated in float32 (division or reciprocal product)."""
    if F[KIND] == KIND_INT:
        max_normal = np.float64(F[MAXINT]) * 2.0 ** (-F[MBITS])
    else:
        max_normal = np.float64(F[MAXINT]) * 2.0 ** (F[EMAX] - F[MBITS])
    amax = np.float32(np.float64(m) * 2.0 ** e)
    if P[DESCALE] == DESCALE_FP32_DIV:
        d = np.float32(amax / np.float32(max_normal))
    else:
        d = np.float32(amax * np.float32(1.0 / max_normal))
    if d == 0:
        return np.int64(E8M0_MIN_EXP - 1)
    if math.isinf(d):
        return np.int64(E8M0_MAX_EXP + 1)
    if P[LOG2] != 0:
        return np.int64(math.ceil(np.float32(math.log2(np.float64(d)))))
    frac, exp = math.frexp(np.float64(d))
    return np.int64(exp - 1 if frac == 0.5 else exp)


@njit(cache=True, inline="always")
def element_scale_exponent(code, P):
    """The exponent at which a block's elements are encoded: the scale's own, except that some
    peers encode the elements of a 2^-127 block (code 0x00) at 2^-126 or at 1 (min_scale_encoding)."""
    if code == 0:
        rule = P[MIN_SCALE_ENCODING]
        if rule == MIN_SCALE_MIN_NORMAL:
            return np.int64(-126)
        if rule == MIN_SCALE_ONE:
            return np.int64(0)
    return np.int64(code) - E8M0_BIAS


@njit(cache=True)
def scale_code(amax_cls, m, e, E, F, P):
    """E8M0 code for a block whose amax is (class, m * 2^e), E = floor(log2 amax) (MX v1.0 §6.3).

    amax_cls is ZERO, FINITE or INF (an infinite amax, when the non-finite policy lets Inf through).
    """
    if amax_cls == 0:
        return P[ZERO_BLOCK_SCALE]
    emax = F[EMAX]
    if amax_cls != FINITE:
        x = np.int64(E8M0_MAX_EXP + 1)
    else:
        rule = P[SCALE_RULE]
        exact_log2 = P[LOG2] == 0
        power_of_two = m == (np.int64(1) << (bit_length(m) - 1))
        if rule == FLOOR:
            x = (E if exact_log2 else float32_log2_exponent(m, e, False)) - emax
        elif rule == CEIL:
            if exact_log2:
                x = E + (0 if power_of_two else 1) - emax
            else:
                x = float32_log2_exponent(m, e, True) - emax
        elif rule == EVEN:
            # Round amax half-up to the element's precision, then floor (torchao EVEN).
            p = element_precision(F)
            n = bit_length(m)
            x = E - emax
            if n > p and ((m >> (n - p - 1)) + 1) >> (p + 1):
                x += 1
        else:
            if P[DESCALE] == DESCALE_EXACT:
                # Smallest x with amax <= max_normal * 2^x; floor(log2 amax) - emax or one more.
                x = E - emax
                mx_exp = (emax - F[MBITS]) if F[KIND] != KIND_INT else -F[MBITS]
                d = e - (mx_exp + x)
                lhs_gt = (m << d) > F[MAXINT] if d >= 0 else m > (F[MAXINT] << (-d))
                if lhs_gt:
                    x += 1
            else:
                x = rceil_fp32_exponent(m, e, F, P)
    if x < E8M0_MIN_EXP:
        x = np.int64(E8M0_MIN_EXP)
    if x > E8M0_MAX_EXP:
        if P[SCALE_OVERFLOW] == 1:
            return E8M0_NAN
        x = np.int64(E8M0_MAX_EXP)
    return x + E8M0_BIAS
