"""Shared-scale selection: the E8M0 exponent of a block from its amax, for every scale rule."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mxemu.kernels.element import FINITE, bit_length
from mxemu.kernels.params import (
    BITS,
    CEIL,
    EMAX,
    EVEN,
    FLOOR,
    KIND,
    KIND_INT,
    LOG2,
    MAXINT,
    MBITS,
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
def float32_log2(m, e):
    """log2(m * 2^e) evaluated as float32 arithmetic does it: round the argument, then the result."""
    a = np.float32(np.float64(m) * 2.0 ** e)
    return np.float32(math.log2(np.float64(a)))


@njit(cache=True)
def rceil_fp32_exponent(m, e, F):
    """ceil(log2(fl32(fl32(amax) * fl32(1 / max_normal)))): the float32 descale of NVIDIA's RCEIL."""
    max_normal = np.float64(F[MAXINT]) * 2.0 ** (F[EMAX] - F[MBITS]) if F[KIND] != KIND_INT \
        else np.float64(F[MAXINT]) * 2.0 ** (-F[MBITS])
    recip = np.float32(1.0 / max_normal)
    d = np.float32(np.float32(np.float64(m) * 2.0 ** e) * recip)
    if d == 0:
        return np.int64(E8M0_MIN_EXP - 1)
    if math.isinf(d):
        return np.int64(E8M0_MAX_EXP + 1)
    frac, exp = math.frexp(np.float64(d))
    return np.int64(exp - 1 if frac == 0.5 else exp)


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
            x = (E if exact_log2 else np.int64(math.floor(float32_log2(m, e)))) - emax
        elif rule == CEIL:
            if exact_log2:
                x = E + (0 if power_of_two else 1) - emax
            else:
                x = np.int64(math.ceil(float32_log2(m, e))) - emax
        elif rule == EVEN:
            # Round amax half-up to the element's precision, then floor (torchao EVEN).
            p = element_precision(F)
            n = bit_length(m)
            x = E - emax
            if n > p and ((m >> (n - p - 1)) + 1) >> (p + 1):
                x += 1
        else:
            if exact_log2:
                # Smallest x with amax <= max_normal * 2^x; floor(log2 amax) - emax or one more.
                x = E - emax
                mx_exp = (emax - F[MBITS]) if F[KIND] != KIND_INT else -F[MBITS]
                d = e - (mx_exp + x)
                lhs_gt = (m << d) > F[MAXINT] if d >= 0 else m > (F[MAXINT] << (-d))
                if lhs_gt:
                    x += 1
            else:
                x = rceil_fp32_exponent(m, e, F)
    if x < E8M0_MIN_EXP:
        x = np.int64(E8M0_MIN_EXP)
    if x > E8M0_MAX_EXP:
        if P[SCALE_OVERFLOW] == 1:
            return E8M0_NAN
        x = np.int64(E8M0_MAX_EXP)
    return x + E8M0_BIAS
