"""Scalar element codec: one exact rounding of m * 2^e into an element format, and decoding.

Every value travels as integers (sign, significand m < 2^53, exponent e) so that any input
float is rounded once from its exact value, whatever the scale.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint32, uint64

from mxemu.kernels.abi import (
    BITS,
    EMAX,
    EMIN,
    IEEE,
    INT_FULL,
    INT_RANGE,
    KIND,
    KIND_INT,
    MAXINT,
    MBITS,
    NAN_ALL_ONES,
    NAN_CODE,
    NAN_FLIPPED_ZERO,
    NAN_SIGNED_ZERO,
    NAN_TO_NONAN,
    OVERFLOW,
    ROUNDING,
    SPECIALS,
    SPECIALS_IEEE,
    SPECIALS_NAN_ONLY,
    SPECIALS_NONE,
    SR_BITS,
    ZERO_FP32_QUOTIENT,
    ZERO_POSITIVE,
    ZERO_SIGN,
)
from mxemu.kernels.rounding import AWAY, NEAREST, ODD, OVERFLOW_TO_INF, STEP, TIE, TIE_AWAY, TOWARD_ZERO

# Classes of an unpacked input value.
ZERO, FINITE, INF, NAN = 0, 1, 2, 3


@njit(cache=True, inline="always")
def bit_length(m):
    """Number of significant bits of a positive integer below 2^63."""
    n = 0
    while m >= 256:
        m >>= 8
        n += 8
    while m:
        m >>= 1
        n += 1
    return n


@njit(cache=True, inline="always")
def unpack(u, ebits, mbits):
    """Split IEEE-style bits (as int64) into (class, sign, m, e, E): |x| = m * 2^e, E = floor(log2 |x|)."""
    sign = (u >> (ebits + mbits)) & 1
    ef = (u >> mbits) & ((1 << ebits) - 1)
    mf = u & ((np.int64(1) << mbits) - 1)
    bias = (1 << (ebits - 1)) - 1
    if ef == (1 << ebits) - 1:
        return (INF if mf == 0 else NAN), sign, np.int64(0), np.int64(0), np.int64(0)
    if ef == 0:
        if mf == 0:
            return ZERO, sign, np.int64(0), np.int64(0), np.int64(0)
        e = 1 - bias - mbits
        return FINITE, sign, mf, np.int64(e), np.int64(e + bit_length(mf) - 1)
    return FINITE, sign, mf | (np.int64(1) << mbits), np.int64(ef - bias - mbits), np.int64(ef - bias)


@njit(cache=True, inline="always")
def max_code(F, sign, P):
    """Code of the largest magnitude of the given sign (integers: full or symmetric range)."""
    bits = F[BITS]
    if F[KIND] == KIND_INT:
        k = F[MAXINT] + (1 if sign and P[INT_RANGE] == INT_FULL else 0)
        return (-k if sign else k) & ((1 << bits) - 1)
    M = F[MBITS]
    top = F[MAXINT] - (1 << M)
    ef = F[EMAX] - F[EMIN] + 1
    return (sign << (bits - 1)) | (ef << M) | top


@njit(cache=True, inline="always")
def nan_code(F, sign):
    """Canonical NaN: all ones (OFP8 E4M3), or the quiet NaN S.1..1.10..0 of IEEE-style formats."""
    bits = F[BITS]
    M = F[MBITS]
    top = ((1 << (bits - 1 - M)) - 1) << M
    if F[SPECIALS] == SPECIALS_NAN_ONLY:
        return (sign << (bits - 1)) | top | ((1 << M) - 1)
    return (sign << (bits - 1)) | top | (1 << (M - 1))


@njit(cache=True, inline="always")
def result_nan_code(F, sign, P):
    """The NaN a result takes (policy field nan_code): the canonical one, or all ones (the same code
    in formats with a single NaN)."""
    if P[NAN_CODE] == NAN_ALL_ONES:
        return (sign << (F[BITS] - 1)) | ((1 << (F[BITS] - 1)) - 1)
    return nan_code(F, sign)


@njit(cache=True, inline="always")
def zero_result_sign(sign, m, E, P):
    """Sign of a nonzero value m * 2^e (floor(log2) E, scale applied) that rounds to zero: under zero_sign
    fp32_quotient it is +0 when the value is zero as a float32 (RNE: |v| <= 2^-150, microxcaling)."""
    at_most = E < -150 or (E == -150 and m == (np.int64(1) << (bit_length(m) - 1)))
    if P[ZERO_SIGN] == ZERO_FP32_QUOTIENT and at_most:
        return 0
    return sign


@njit(cache=True, inline="always")
def zero_code(F, sign, P):
    if F[KIND] == KIND_INT or P[ZERO_SIGN] == ZERO_POSITIVE:
        return 0
    return sign << (F[BITS] - 1)


@njit(cache=True, inline="always")
def overflow_code(F, sign, P, toward_inf):
    """Result of a value beyond max normal: saturate (MX v1.0 §6.3: clamped to max normal, sign kept), or
    IEEE overflow (IEEE 754-2019 §7.4: Inf, else NaN, else saturate) where the rounding goes toward Inf."""
    if P[OVERFLOW] == IEEE and toward_inf and F[KIND] != KIND_INT:
        if F[SPECIALS] == SPECIALS_IEEE:
            return (sign << (F[BITS] - 1)) | (((1 << (F[BITS] - 1 - F[MBITS])) - 1) << F[MBITS])
        if F[SPECIALS] == SPECIALS_NAN_ONLY:
            return result_nan_code(F, sign, P)
    return max_code(F, sign, P)


@njit(cache=True, inline="always")
def nonfinite_code(F, cls, sign, P):
    """Code of a NaN or Inf input (policy fields nan_to_nonan and overflow)."""
    if cls == INF:
        return overflow_code(F, sign, P, True)
    if F[SPECIALS] != SPECIALS_NONE:
        return result_nan_code(F, sign, P)
    # nan_to_nonan names the zero's sign itself, so zero_sign (about results that round to zero)
    # does not apply; integer formats have one zero.
    if F[KIND] == KIND_INT:
        return 0
    rule = P[NAN_TO_NONAN]
    if rule == NAN_SIGNED_ZERO:
        return sign << (F[BITS] - 1)
    if rule == NAN_FLIPPED_ZERO:
        return (1 - sign) << (F[BITS] - 1)
    return 0


@njit(cache=True, inline="always")
def round_up(rounding, sign, k, shift, m, rnd, sr_bits):
    """Whether |v| = m * 2^-shift (shift > 0, truncated to k) rounds away from zero."""
    if shift >= 64:
        # Every bit is discarded and |v| < half a quantum (m < 2^53 < 2^(shift - 1)).
        rem = m
        half_cmp = -1
    else:
        rem = m & ((np.int64(1) << shift) - 1)
        half = np.int64(1) << (shift - 1)
        half_cmp = -1 if rem < half else (0 if rem == half else 1)
    if rem == 0:
        return False
    step = STEP[rounding, sign]  # the rounding table (rounding.py): one row per mode
    if step == NEAREST:
        # A tie goes away from zero, or to the even neighbour: up when k is odd.
        return half_cmp > 0 or (half_cmp == 0 and (TIE[rounding] == TIE_AWAY or (k & 1) == 1))
    if step == TOWARD_ZERO:
        return False
    if step == AWAY:
        return True
    if step == ODD:
        return (k & 1) == 0
    # Stochastic: the top sr_bits of the discarded fraction plus the random integer carry out.
    if shift >= sr_bits:
        d = shift - sr_bits
        t = (rem >> d) if d < 64 else np.int64(0)
    else:
        t = rem << (sr_bits - shift)
    return t + rnd >= (np.int64(1) << sr_bits)


@njit(cache=True, inline="always")
def encode_value(cls, sign, m, e, E, F, P, rnd):
    """Code of the value (class, sign, m * 2^e) with E = floor(log2 |v|), rounded once by the policy.

    This is the element quantization P_i = V_i / X of MX v1.0 §6.3 (the caller has applied the scale
    to e and E), into the element encodings of §5.3 (FP6 §5.3.2, FP4 §5.3.3 Table 5; FP8 §5.3.1 and
    INT8 §5.3.4, numbers unverified against the spec text): round to the quantum of v's binade (the
    subnormal quantum below emin, the fixed quantum 2^-fraction_bits for integers) by the rounding
    table, then saturate or overflow beyond max normal.
    """
    if cls == ZERO:
        # sign(x / X) * round(|x / X|) with sign(-0) = 0 makes every zero input +0 (zero_sign fp32_quotient).
        return zero_code(F, 0 if P[ZERO_SIGN] == ZERO_FP32_QUOTIENT else sign, P)
    if cls != FINITE:
        return nonfinite_code(F, cls, sign, P)
    M = F[MBITS]
    if F[KIND] == KIND_INT:
        qe = F[EMIN]
        kmax = F[MAXINT] + (1 if sign and P[INT_RANGE] == INT_FULL else 0)
        if E - qe >= F[BITS]:
            return max_code(F, sign, P)
    else:
        qe = (E if F[EMIN] < E else F[EMIN]) - M
        kmax = F[MAXINT]
    shift = qe - e
    rounding = P[ROUNDING]
    if shift <= 0:
        k = m << (-shift)
    else:
        k = (m >> shift) if shift < 64 else np.int64(0)
        if round_up(rounding, sign, k, shift, m, rnd, P[SR_BITS]):
            k += 1
    if F[KIND] == KIND_INT:
        if k > kmax:
            return max_code(F, sign, P)
        if k == 0:
            return 0
        return (-k if sign else k) & ((1 << F[BITS]) - 1)
    if k >= (np.int64(1) << (M + 1)):
        k >>= 1
        qe += 1
    if qe > F[EMAX] - M or (qe == F[EMAX] - M and k > kmax):
        return overflow_code(F, sign, P, OVERFLOW_TO_INF[rounding, sign])
    if k == 0:
        return zero_code(F, zero_result_sign(sign, m, E, P), P)
    if k < (np.int64(1) << M):
        return (sign << (F[BITS] - 1)) | k
    ef = qe + M - F[EMIN] + 1
    return (sign << (F[BITS] - 1)) | (ef << M) | (k - (np.int64(1) << M))


@njit(cache=True)
def decode_value(code, F):
    """Exact value of a code as float64 (NaN and Inf for the special codes)."""
    bits = F[BITS]
    M = F[MBITS]
    code = np.int64(code) & ((1 << bits) - 1)
    if F[KIND] == KIND_INT:
        k = code - (1 << bits) if code >> (bits - 1) else code
        return np.float64(k) * 2.0 ** F[EMIN]
    sign = code >> (bits - 1)
    ef = (code >> M) & ((1 << (bits - 1 - M)) - 1)
    mf = code & ((1 << M) - 1)
    top = (1 << (bits - 1 - M)) - 1
    if F[SPECIALS] == SPECIALS_IEEE and ef == top:
        v = np.inf if mf == 0 else np.nan
    elif F[SPECIALS] == SPECIALS_NAN_ONLY and ef == top and mf == (1 << M) - 1:
        v = np.nan
    elif ef == 0:
        v = np.float64(mf) * 2.0 ** (F[EMIN] - M)
    else:
        v = np.float64(mf | (1 << M)) * 2.0 ** (ef + F[EMIN] - 1 - M)
    return -v if sign else v


@njit(cache=True, inline="always")
def pow2(n):
    """2^n as float64 for -1022 <= n <= 1023, built from its bits (exact, no libm call)."""
    return np.int64((n + 1023) << 52).view(np.float64)


@njit(cache=True, inline="always")
def mulhilo(a, b):
    p = uint64(a) * uint64(b)
    return uint32(p >> uint64(32)), uint32(p & uint64(0xFFFFFFFF))


@njit(cache=True)
def philox(seed, index):
    """Word 0 of Philox4x32-10 with key = seed (two 32-bit halves) and counter = (index lo, index hi, 0, 0)."""
    k0 = uint32(seed & 0xFFFFFFFF)
    k1 = uint32((seed >> 32) & 0xFFFFFFFF)
    c0 = uint32(index & 0xFFFFFFFF)
    c1 = uint32((index >> 32) & 0xFFFFFFFF)
    c2 = uint32(0)
    c3 = uint32(0)
    for _ in range(10):
        hi0, lo0 = mulhilo(0xD2511F53, c0)
        hi1, lo1 = mulhilo(0xCD9E8D57, c2)
        c0, c1, c2, c3 = uint32(hi1 ^ c1 ^ k0), lo1, uint32(hi0 ^ c3 ^ k1), lo0
        k0 = uint32(k0 + uint32(0x9E3779B9))
        k1 = uint32(k1 + uint32(0xBB67AE85))
    return c0
