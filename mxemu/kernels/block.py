"""Array kernels: element-wise encode/decode and block quantize, dequantize and fake-quantize.

Inputs arrive as signed-integer views of their float bits plus the input layout (exponent and
mantissa bits), so every input type is rounded once from its exact value. Blocks are rows of a
2-D array; the rows are split over threads with `prange`.

An MX block is k elements sharing one scale X, element i worth X * P_i (MX v1.0 §5.2). Quantizing a
block is MX v1.0 §6.3: X from the block's amax (`block_scale`, rules in scale.py), then each
P_i = V_i / X rounded into the element format (`encode_lane`, rules in element.py). What the spec
leaves open (NaN and Inf lanes, all-zero and FP32-subnormal blocks) is the policy's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mxemu.kernels.abi import (
    BITS,
    EMIN,
    FAKE_INT_ZERO,
    FAKE_INT_ZERO_POSITIVE,
    FAKE_INT_ZERO_SIGNED_QUOTIENT,
    FLUSH,
    FLUSH_BLOCK,
    IGNORE_NAN,
    INF_AS_EXPONENT,
    KIND,
    KIND_INT,
    NAN_SCALE,
    NONFINITE,
    PROPAGATE,
    SCALE_VALUE,
    SCALE_VALUE_E8M0,
    SPECIALS,
    SPECIALS_NONE,
    SUBNORMAL_INPUTS,
    ZERO_FP32_QUOTIENT,
    ZERO_KEEP,
    ZERO_POSITIVE,
    ZERO_SIGN,
)
from mxemu.kernels.element import (
    FINITE,
    INF,
    NAN,
    ZERO,
    bit_length,
    decode_value,
    encode_value,
    nan_code,
    philox,
    pow2,
    unpack,
    zero_result_sign,
)
from mxemu.kernels.scale import (
    E8M0_SCALE,
    SCALE_BIAS,
    SCALE_NAN,
    element_scale_exponent,
    fp32_scale_value,
    scale_code_in,
)

FP32_MIN_NORMAL_EXP = -126


@njit(cache=True, inline="always")
def read(u, ebits, mbits, P):
    """Unpack one input, reading |x| < 2^-126 as zero when the policy flushes every element."""
    cls, sign, m, e, E = unpack(np.int64(u), ebits, mbits)
    if cls == FINITE and P[SUBNORMAL_INPUTS] == FLUSH and E < FP32_MIN_NORMAL_EXP:
        cls = ZERO
    return cls, sign, m, e, E


@njit(cache=True, parallel=True)
def encode_elements(x, ebits, mbits, scale_exp, F, P, rbits, out):
    """out[i] = code of x[i] * 2^-scale_exp[i or 0]; rbits[i] are the stochastic random integers."""
    n = x.shape[0]
    per_element_scale = scale_exp.shape[0] > 1
    stochastic = rbits.shape[0] > 0
    for i in prange(n):
        s = scale_exp[i] if per_element_scale else scale_exp[0]
        cls, sign, m, e, E = read(x[i], ebits, mbits, P)
        rnd = np.int64(rbits[i]) if stochastic else np.int64(0)
        out[i] = encode_value(cls, sign, m, e - s, E - s, F, P, rnd)


@njit(cache=True, parallel=True)
def decode_elements(codes, F, scale_exp, out):
    """out[i] = exact value of codes[i] times 2^scale_exp[i or 0], stored in out's dtype (RNE)."""
    table = np.empty(1 << F[BITS], np.float64)
    for c in range(table.shape[0]):
        table[c] = decode_value(c, F)
    per_element_scale = scale_exp.shape[0] > 1
    for i in prange(codes.shape[0]):
        s = scale_exp[i] if per_element_scale else scale_exp[0]
        out[i] = table[codes[i]] * pow2(s)


@njit(cache=True, inline="always")
def block_amax(x, ebits, mbits, P):
    """(NaN scale, class, m, e, E, flush) of one block: whether the non-finite policy makes the scale NaN,
    else amax = m * 2^e (E = floor(log2)) of class ZERO, FINITE or INF; flush: the block reads as zero."""
    amax_u = np.int64(0)
    has_nan = False
    has_inf = False
    abs_mask = (np.int64(1) << (ebits + mbits)) - 1
    inf_bits = ((np.int64(1) << ebits) - 1) << mbits
    for i in range(x.shape[0]):
        a = np.int64(x[i]) & abs_mask
        if a > inf_bits:
            has_nan = True
        elif a == inf_bits:
            has_inf = True
        elif a > amax_u:
            amax_u = a
    cls, _, m, e, E = read(amax_u, ebits, mbits, P)
    flush = cls == FINITE and P[SUBNORMAL_INPUTS] == FLUSH_BLOCK and E < FP32_MIN_NORMAL_EXP
    if flush:
        cls = ZERO
    rule = P[NONFINITE]
    nan = (rule == NAN_SCALE and (has_nan or has_inf)) or (rule in (PROPAGATE, INF_AS_EXPONENT) and has_nan)
    if rule in (PROPAGATE, IGNORE_NAN) and has_inf:
        cls = INF
    if rule == INF_AS_EXPONENT and has_inf:
        # The all-ones exponent field read as a number: 2^(2^(ebits - 1)), 2^128 for float32 input.
        top = np.int64(1) << (ebits - 1)
        cls, m, e, E = FINITE, np.int64(1), top, top
    return nan, cls, m, e, E, flush


@njit(cache=True, inline="always")
def block_scale(x, ebits, mbits, F, P, S):
    """(scale code, flush) of one block: amax over the lanes under the non-finite policy. Under a float32
    scale_value rule the code is that of the clamped exponent, NaN where the float32 scale is Inf."""
    nan, cls, m, e, E, flush = block_amax(x, ebits, mbits, P)
    if nan or (P[SCALE_VALUE] != SCALE_VALUE_E8M0 and np.isnan(fp32_scale_value(cls, m, e, E, F, P))):
        return S[SCALE_NAN], flush
    return scale_code_in(cls, m, e, E, F, P, S), flush


@njit(cache=True, parallel=True)
def fp32_scales_without_code(x, ebits, mbits, F, P, S, out):
    """out[b] = the float32 scale of block b under a float32 scale_value rule where no code of the scale S holds
    it, else 0. Such a block has no MX form: `quantize_blocks` would store the code of the clamped exponent,
    whose value is not the scale the peer divides by (Brevitas's fl32(1e-10) / 2^emax, Quark's float32
    subnormals and eps). A block keeps its MX form where the float32 scale is the code's value 2^(code - bias)
    and the elements are encoded at that value (not so for code 0 under min_scale_encoding min_normal or one),
    where the scale is Inf (every lane NaN, the scale code NaN), and where every lane reads as zero (exact at
    any scale)."""
    for b in prange(x.shape[0]):
        out[b] = 0.0
        nan, cls, m, e, E, _ = block_amax(x[b], ebits, mbits, P)
        if nan or cls != FINITE:
            continue
        value = fp32_scale_value(cls, m, e, E, F, P)
        code = scale_code_in(cls, m, e, E, F, P, S)
        exponent = code - S[SCALE_BIAS]
        if not np.isnan(value) and (value != pow2(exponent) or element_scale_exponent(code, P, S) != exponent):
            out[b] = value


@njit(cache=True, inline="always")
def encode_lane(u, ebits, mbits, scale, flush, F, P, rnd, S):
    """Element code of one lane at scale code `scale` (don't-care NaN/zero codes under a NaN scale)."""
    if scale == S[SCALE_NAN]:
        return nan_code(F, 0) if F[SPECIALS] != SPECIALS_NONE else 0
    cls, sign, m, e, E = read(u, ebits, mbits, P)
    if flush and cls == FINITE:
        cls = ZERO
    s = element_scale_exponent(scale, P, S)
    return encode_value(cls, sign, m, e - s, E - s, F, P, rnd)


@njit(cache=True, inline="always")
def negative_int_zero(u, ebits, mbits, scale, flush, F, P, S):
    """Whether a lane whose integer code is 0 reads as -0 in fake-quantized values: under fake_int_zero
    signed a negative finite input (its sign by zero_sign, as a float element's zero), or a -0 input when
    zero_sign keeps the sign of zeros; under signed_quotient a negative input whose float32 quotient by the
    integer quantum X * 2^emin is nonzero."""
    cls, sign, m, _, E = read(u, ebits, mbits, P)
    if flush and cls == FINITE:
        cls = ZERO
    if sign == 0 or P[ZERO_SIGN] == ZERO_POSITIVE:
        return False
    if P[FAKE_INT_ZERO] == FAKE_INT_ZERO_SIGNED_QUOTIENT:
        return cls == FINITE and not fp32_underflows_to_zero(m, E - element_scale_exponent(scale, P, S) - F[EMIN])
    if cls == FINITE:
        return zero_result_sign(sign, m, E - element_scale_exponent(scale, P, S), P) == 1
    return cls == ZERO and P[ZERO_SIGN] == ZERO_KEEP


@njit(cache=True, parallel=True)
def quantize_blocks(x, ebits, mbits, F, P, rbits, codes, scales, S=E8M0_SCALE):
    """Quantize each row of x (one block per row) into element codes and scale codes (S: the scale's
    (bias, NaN code), E8M0 unless given)."""
    stochastic = rbits.shape[0] > 0
    for b in prange(x.shape[0]):
        row = x[b]
        scale, flush = block_scale(row, ebits, mbits, F, P, S)
        scales[b] = scale
        for i in range(row.shape[0]):
            rnd = np.int64(rbits[b, i]) if stochastic else np.int64(0)
            codes[b, i] = encode_lane(row[i], ebits, mbits, scale, flush, F, P, rnd, S)


@njit(cache=True, parallel=True)
def fake_quantize_blocks(x, ebits, mbits, F, P, rbits, out, S=E8M0_SCALE):
    """Quantize each row of x and write the dequantized values straight into out (same bits)."""
    table = np.empty(1 << F[BITS], np.float64)
    for c in range(table.shape[0]):
        table[c] = decode_value(c, F)
    stochastic = rbits.shape[0] > 0
    signed_int_zero = F[KIND] == KIND_INT and P[FAKE_INT_ZERO] != FAKE_INT_ZERO_POSITIVE
    for b in prange(x.shape[0]):
        row = x[b]
        if P[SCALE_VALUE] != SCALE_VALUE_E8M0:
            fake_quantize_fp32_scale(row, ebits, mbits, F, P, rbits, np.int64(b), table, out[b])
            continue
        scale, flush = block_scale(row, ebits, mbits, F, P, S)
        factor = np.nan if scale == S[SCALE_NAN] else pow2(scale - S[SCALE_BIAS])
        for i in range(row.shape[0]):
            rnd = np.int64(rbits[b, i]) if stochastic else np.int64(0)
            code = encode_lane(row[i], ebits, mbits, scale, flush, F, P, rnd, S)
            if code == 0 and signed_int_zero and scale != S[SCALE_NAN] \
                    and negative_int_zero(row[i], ebits, mbits, scale, flush, F, P, S):
                out[b, i] = -0.0
            else:
                out[b, i] = table[code] * factor


@njit(cache=True, inline="always")
def fp32_underflows_to_zero(m, E):
    """Whether a nonzero m * 2^e with floor(log2) E rounds to zero in float32 (RNE: |v| <= 2^-150)."""
    return E < -150 or (E == -150 and m == (np.int64(1) << (bit_length(m) - 1)))


@njit(cache=True, inline="always")
def quotient_int_zero_is_negative(qcls, P):
    """Whether an integer zero from a negative float32 quotient q (a float32 scale_value rule) reads as -0:
    q's sign under fake_int_zero signed (zero_sign keep; +0 for q = -0 under fp32_quotient), and -0 only for a
    nonzero q under signed_quotient."""
    rule, zero_sign = P[FAKE_INT_ZERO], P[ZERO_SIGN]
    if rule == FAKE_INT_ZERO_POSITIVE or zero_sign == ZERO_POSITIVE or qcls == NAN:
        return False
    if rule == FAKE_INT_ZERO_SIGNED_QUOTIENT or zero_sign == ZERO_FP32_QUOTIENT:
        return qcls != ZERO
    return True


# error_model="numpy": the peers' float32 division is IEEE's (x / 0 is +-Inf, 0 / 0 NaN where an integer quantum
# underflows float32, as Quark's scale / 2^f does); numba's default Python model would raise ZeroDivisionError.
@njit(cache=True, error_model="numpy")
def fake_quantize_fp32_scale(row, ebits, mbits, F, P, rbits, b, table, out):
    """One block under a float32 scale_value rule (peers' fake-quantizers): each lane's float32 quotient
    q = x / u by the float32 unit u (the scale s; for integers the quantum fl32(s * 2^emin), as the peers
    divide by s / 2^f) is encoded as q units, and its value is fl32(units * u)."""
    nan, cls, m, e, E, flush = block_amax(row, ebits, mbits, P)
    scale = fp32_scale_value(cls, m, e, E, F, P)
    if nan or np.isnan(scale):
        out[:] = np.nan
        return
    emin = F[EMIN] if F[KIND] == KIND_INT else 0
    s = np.float32(scale * pow2(emin))
    stochastic = rbits.shape[0] > 0
    for i in range(row.shape[0]):
        lane, sign, lm, le, _ = read(row[i], ebits, mbits, P)
        if flush and lane == FINITE:
            lane = np.int64(ZERO)  # one type for the variable (the Literal[int] of ZERO does not unify in every typing)
        if lane == FINITE:
            magnitude = np.float32(math.ldexp(np.float64(lm), le))  # float64 input: rounded to float32 (RNE)
            v = -magnitude if sign else magnitude
        elif lane == ZERO:
            v = np.float32(-0.0) if sign else np.float32(0.0)
        else:
            v = np.float32(np.nan) if lane == NAN else (np.float32(-np.inf) if sign else np.float32(np.inf))
        q = np.float32(v / s)  # one float32 division, as the peers divide
        qcls, qsign, qm, qe, qE = unpack(np.int64(np.float32(q).view(np.int32)), 8, 23)
        rnd = np.int64(rbits[b, i]) if stochastic else np.int64(0)
        code = encode_value(qcls, qsign, qm, qe + emin, qE + emin, F, P, rnd)
        value = np.float32(table[code] * pow2(-emin) * np.float64(s))
        if code == 0 and F[KIND] == KIND_INT and qsign and quotient_int_zero_is_negative(qcls, P):
            value = np.float32(-0.0)
        out[i] = value


@njit(cache=True, parallel=True)
def dequantize_blocks(codes, factors, F, out):
    """out[b, i] = decode(codes[b, i]) * factors[b]: the exact product X * P_i (MX v1.0 §5.2), stored in
    out's dtype (RNE)."""
    table = np.empty(1 << F[BITS], np.float64)
    for c in range(table.shape[0]):
        table[c] = decode_value(c, F)
    for b in prange(codes.shape[0]):
        for i in range(codes.shape[1]):
            out[b, i] = table[codes[b, i]] * factors[b]


@njit(cache=True, parallel=True)
def round_float64(x, F, P, out):
    """Round float64 values (given as int64 bits) into an IEEE format F (bits into out)."""
    for i in prange(x.shape[0]):
        cls, sign, m, e, E = unpack(np.int64(x[i]), 11, 52)
        out[i] = encode_value(cls, sign, m, e, E, F, P, np.int64(0))


@njit(cache=True, parallel=True)
def philox_bits(seed, starts, run, shift, out):
    """out[j * run + t] = Philox4x32-10(seed, starts[j] + t) >> shift: the stochastic-rounding integers of the
    elements starts[j] .. starts[j] + run - 1 (positions in the whole array, so a part of an array draws the
    same integers as the whole does)."""
    for i in prange(starts.shape[0] * run):
        out[i] = philox(seed, np.int64(starts[i // run] + i % run)) >> shift
