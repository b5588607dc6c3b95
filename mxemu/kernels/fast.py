"""Fast block quantize / fake-quantize and element encode, byte-equal to the kernels in block.py.

Accepted (`supported`): float32 and bfloat16 inputs (int32 / int16 bit views), every deterministic
rounding mode (rne, rna, rtz, rup, rdn, rto), subnormal_inputs "keep"; every other policy field,
every element format whose values and quanta lie in the float32 normal range (all MX formats).
dispatch.py routes here; tests/test_fast_path.py holds the bytes equal to block.py's. Per block:

* amax = max of the lanes' |bits| (a vectorized max); the E8M0 code comes from `scale.scale_code`
  and the elements' exponent from `scale.element_scale_exponent`, called once per block, so scale
  rules live in scale.py only.
* A block with a NaN or Inf lane, a NaN scale, or a scale so small that float32 subnormal lanes
  would land in the element's normal range (amax below about 2^-110) is marked `slow`; dispatch
  runs the general kernels of block.py on those blocks.
* Every other block runs the branch-free lane loop, on the float32 bits a = |x| (bfloat16 bits
  shifted left by 16) at element scale exponent s, with c = 127 + s + emin a block constant:

      efe = max(exponent field, 1), m = a - ((efe - 1) << 23)           |x| = m * 2^(efe - 150)
      floats: shift = 23 - M + max(c - efe, 0), eb = max(efe - c, 0)   quantum 2^(max(E-s, emin) - M)
      ints:   shift = 23 + c - efe,            eb = 0                  quantum 2^-fraction_bits
      k = ((m + bias) >> shift) | sticky        per mode (`ROUNDING_TERMS`): bias = half - 1 + lsb (rne),
                                                half (rna), 0 (rtz, rto), 2^shift - 1 (rup on + lanes, rdn
                                                on - lanes); sticky = rem != 0 for rto only
      mag = (eb << M) + k         a carry out of k moves into the exponent field by itself
      mag > limit(sign) -> the general code's overflow result for the lane's sign (saturate, IEEE
                           Inf/NaN, int ranges; `TOWARD_INF`)

  Everything is int32 arithmetic with min/max/select and loop-invariant parameters (the tuple G,
  built by `lane_params`), so LLVM vectorizes the lane loop, and one compiled kernel per input
  dtype serves every format and policy (no per-format compilation). Fake-quantize writes the
  input's own type: it turns the code into float32 bits directly, sig * 2^e (exact) times the
  dequantize factor 2^(code - 127), a product that is exact in every block the lane loop takes,
  and a bfloat16 input keeps the top half of those bits (the value is on bfloat16's grid).

`encode_kernel` is the same lane loop without blocks (one scale exponent for all lanes), NaN and
Inf lanes taking the general code's codes through a select.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from mxemu.kernels.abi import (
    BITS,
    EMAX,
    EMIN,
    FAKE_INT_ZERO,
    FAKE_INT_ZERO_POSITIVE,
    INT_EMAX,
    INT_EMAX_ZERO,
    INT_RANGE,
    KEEP,
    KIND,
    KIND_INT,
    MAXINT,
    MBITS,
    NAN_CANONICAL,
    NAN_CODE,
    ROUNDING,
    SCALE_VALUE,
    SCALE_VALUE_E8M0,
    SUBNORMAL_INPUTS,
    ZERO_FP32_QUOTIENT,
    ZERO_SIGN,
)
from mxemu.kernels.element import decode_value, max_code, overflow_code, unpack
from mxemu.kernels.rounding import AWAY, NEAREST, ODD, RANDOM, ROUNDING_TABLE, TIE_EVEN, Rounding
from mxemu.kernels.scale import E8M0_NAN, element_scale_exponent, scale_code

# Input layouts (exponent bits, mantissa bits) the fast kernels take, with their integer view dtype.
LAYOUTS = {(8, 23): np.dtype(np.int32), (8, 7): np.dtype(np.int16)}
# How each rounding mode rounds k = m * 2^-shift, as the terms of one branch-free formula:
#   k = ((m + bias) >> shift) | (jam & (rem != 0)),   rem = m mod 2^shift, half = 2^(shift - 1),
#   bias = (half & halfmask) - r1 + (lsb & lsbmask) + (2^shift - 1 if sign == away_sign else 0),
# SoftFloat's rounding increment read off the rounding table: nearest half (ties to even: half - 1
# + lsb), toward zero 0, away from zero all ones for the lanes of that sign, to odd 0 with the
# sticky bit ORed into the lsb ("jamming"). Each row: (halfmask, r1, lsbmask, away_sign, jam);
# away_sign 2 matches no lane.


def _lane_terms(row: Rounding) -> tuple[int, int, int, int, int] | None:
    """The formula's terms for a row of the rounding table; None for a mode it cannot express (random
    steps, steps away from zero for both signs, nearest or odd for one sign only)."""
    away = [sign for sign in (0, 1) if row.step[sign] == AWAY]
    if RANDOM in row.step or len(away) > 1 or ({NEAREST, ODD} & set(row.step) and row.step[0] != row.step[1]):
        return None
    even = int(row.tie == TIE_EVEN)
    return (-1 if row.step[0] == NEAREST else 0, even, even, away[0] if away else 2, int(row.step[0] == ODD))


ROUNDING_TERMS = {mode: terms for mode, row in ROUNDING_TABLE.items() if (terms := _lane_terms(row)) is not None}
ROUNDINGS = tuple(ROUNDING_TERMS)
# Beyond max normal, per lane sign: IEEE infinity or max normal (the table's overflow column).
TOWARD_INF = {mode: ROUNDING_TABLE[mode].overflow_to_inf for mode in ROUNDINGS}

# Slots of the lane-parameter tuple G (loop-invariant integers; see `lane_params`).
(G_INT, G_IN16, G_EMIN, G_BITS, G_HALFMASK, G_R1, G_LSBMASK, G_AWAY, G_JAM,  # every format
 G_M, G_MAXMAG, G_ZPOS, G_DEXP,  # floats
 G_OVFMAG, G_OVFSPEC, G_OVF_F32,  # floats, positive lanes
 G_OVFMAG_NEG, G_OVFSPEC_NEG, G_OVF_F32_NEG,  # floats, negative lanes
 G_KMAXP, G_KMAXN, G_FRAC_EXP) = range(22)  # integers


def supported(ebits: int, mbits: int, x_dtype: np.dtype, F: tuple, P: tuple, stochastic: bool) -> bool:
    """Whether the fast kernels accept this call (otherwise the general kernels of block.py run)."""
    if stochastic or LAYOUTS.get((ebits, mbits)) != np.dtype(x_dtype):
        return False
    if P[ROUNDING] not in ROUNDINGS or P[SUBNORMAL_INPUTS] != KEEP or not 2 <= F[BITS] <= 8:
        return False
    if P[NAN_CODE] != NAN_CANONICAL:  # the all-ones NaN is the general kernels' (element.result_nan_code)
        return False
    if P[ZERO_SIGN] == ZERO_FP32_QUOTIENT or P[FAKE_INT_ZERO] != FAKE_INT_ZERO_POSITIVE:
        return False
    if P[INT_EMAX] != INT_EMAX_ZERO or P[SCALE_VALUE] != SCALE_VALUE_E8M0:  # peers' scales (block.py, scale.py)
        return False
    if F[KIND] == KIND_INT:
        # Two's complement k * 2^-f with f = bits - 2 (the MXINT family).
        return F[MBITS] == F[BITS] - 2 and F[EMIN] == -F[MBITS]
    # Element values and their quanta lie in the float32 normal range.
    return F[MBITS] >= 1 and F[EMIN] - F[MBITS] >= -126 and F[EMAX] <= 64


def lane_params(F: tuple, P: tuple, in16: bool) -> tuple[int, ...]:
    """The tuple G of loop-invariant lane parameters for an element format, policy and input dtype."""
    bits, M = F[BITS], F[MBITS]
    rounding = P[ROUNDING]
    common = (int(F[KIND] == KIND_INT), int(in16), F[EMIN], bits, *ROUNDING_TERMS[rounding])
    if F[KIND] == KIND_INT:
        kmax = F[MAXINT]
        kmaxn = kmax + (1 if P[INT_RANGE] == 1 else 0)
        return (*common, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, kmax, kmaxn, 127 - M)
    # Beyond max normal: the general code's overflow result for each sign (saturate, or the IEEE
    # Inf/NaN of the modes that round away), and its float32 value bits when it is not a number.
    overflow = []
    for toward_inf in TOWARD_INF[rounding]:
        ovfmag = int(overflow_code(F, 0, P, toward_inf))
        special = decode_value(ovfmag, F)
        ovfspec = int(not np.isfinite(special))
        overflow += [ovfmag, ovfspec, int(np.float32(special).view(np.uint32)) if ovfspec else 0]
    zpos = 1 if P[ZERO_SIGN] == 1 else 0
    return (*common, M, int(max_code(F, 0, P)), zpos, F[EMIN] - 1 - M + 127, *overflow, 0, 0, 0)


@njit(cache=True, inline="always")
def _i32(v):
    return np.int32(v)


@njit(cache=True, inline="always")
def _shr(v, n):
    """Arithmetic right shift in int32 (numba's >> widens to int64, which halves the vector width)."""
    return np.right_shift(np.int32(v), np.int32(n))


@njit(cache=True, inline="always")
def _shl(v, n):
    return np.left_shift(np.int32(v), np.int32(n))


def _bits32(u):
    """float32 bits of one input lane: int32 as is, bfloat16 (int16) moved to the top half."""


@overload(_bits32, jit_options={"cache": True})
def _bits32_impl(u):
    if u == types.int16:
        return lambda u: _shl(u, 16)
    return lambda u: np.int32(u)


@njit(cache=True)
def _block_scale(amax, F, P, G):
    """(E8M0 code, c, whether the lane loop applies) of a block whose largest |bits| (as float32) is amax.

    c = 127 + s + emin with s the exponent the elements are encoded at (`element_scale_exponent`;
    0 for an all-zero block, whose lanes give zero codes at any s).
    """
    if amax >= 0x7F800000:
        return np.int64(0), np.int32(0), False
    if G[G_IN16] == 1:
        cls, _, m, e, E = unpack(np.int64(amax >> 16), 8, 7)
    else:
        cls, _, m, e, E = unpack(np.int64(amax), 8, 23)
    scale = np.int64(scale_code(cls, m, e, E, F, P))
    if scale == E8M0_NAN:
        return scale, np.int32(0), False
    s = element_scale_exponent(scale, P) if amax != 0 else np.int64(0)
    c = np.int32(127 + s + G[G_EMIN])
    if G[G_INT] == 1:
        # The largest lane is shifted right by at least one bit; for a bfloat16 input, whose
        # fake-quantized values are bfloat16, the quantum 2^(c - 127) is on its grid (>= 2^-133).
        fast = 23 + c - max(amax >> 23, 1) >= 1 and (G[G_IN16] == 0 or c >= -6)
    else:
        # Every float32 subnormal lane lies in the element's subnormal range. The quantum
        # 2^(c - 127 - M) is then >= 2^-133 (M <= 6), so element values times 2^s are exact in
        # float32 and, with at most M + 1 <= 7 significant bits, in bfloat16.
        fast = c >= 1
    return scale, c, fast


@njit(cache=True, inline="always")
def _round(w, c, sh0, dmin, G):
    """(sign, -d, k) of one lane: k = |x| * 2^-shift rounded (`ROUNDING_TERMS`), shift = min(sh0 + max(c - efe,
    dmin), 25).

    m < 2^24, so every shift >= 25 gives what 25 gives (k = 0, or 1 when a directed or to-odd mode
    rounds a nonzero m away), and m + bias stays below 2^26.
    """
    sign = _i32(_shr(w, 31) & 1)
    a = _i32(w & 0x7FFFFFFF)
    efe = _i32(max(_shr(a, 23), _i32(1)))
    m = _i32(a - _shl(efe - 1, 23))
    d = _i32(c - efe)
    shift = _i32(min(_i32(sh0 + max(d, dmin)), _i32(25)))
    ones = _i32(_shl(1, shift) - 1)
    half = _i32(_shl(1, shift - 1) & _i32(G[G_HALFMASK]))
    lsb = _i32(_shr(m, shift) & _i32(G[G_LSBMASK]))
    away = _i32(ones & -_i32(sign == _i32(G[G_AWAY])))
    bias = _i32(_i32(_i32(half - _i32(G[G_R1])) + lsb) + away)
    sticky = _i32(_i32(G[G_JAM]) & _i32((m & ones) != 0))
    return sign, _i32(-d), _i32(_shr(m + bias, shift) | sticky)


@njit(cache=True)
def _lane_float(u, c, G):
    """(sign, magnitude code, overflowed) of one finite lane; the sign is 0 for a zero that drops it."""
    M = _i32(G[G_M])
    sign, nd, k = _round(_bits32(u), c, _i32(23 - M), _i32(0), G)
    mag = _i32(_shl(max(nd, _i32(0)), M) + k)
    ovf = mag > _i32(G[G_MAXMAG])
    if ovf:
        mag = _i32(G[G_OVFMAG_NEG]) if sign else _i32(G[G_OVFMAG])
    if mag == 0 and _i32(G[G_ZPOS]) == 1:
        sign = _i32(0)
    return sign, mag, ovf


@njit(cache=True)
def _lane_int(u, c, G):
    """Signed integer k of one finite lane, clamped to the format's range."""
    sign, _, k = _round(_bits32(u), c, _i32(23), _i32(-(1 << 20)), G)
    k = _i32(min(k, _i32(G[G_KMAXN]) if sign else _i32(G[G_KMAXP])))
    return _i32((k ^ -sign) + sign)


@njit(cache=True, inline="always")
def _code_float(sign, mag, G):
    return np.uint8(_shl(sign, _i32(G[G_BITS]) - 1) | mag)


@njit(cache=True, inline="always")
def _code_int(k, G):
    return np.uint8(k & _i32(_shl(1, G[G_BITS]) - 1))


@njit(cache=True, inline="always")
def _float_parts(mag, G):
    """(significand, biased float32 exponent) of the element magnitude code mag."""
    M = _i32(G[G_M])
    e_el = _i32(max(_shr(mag, M), _i32(1)))
    return _i32(mag - _shl(e_el - 1, M)), _i32(e_el + _i32(G[G_DEXP]))


@njit(cache=True)
def _value32_float(sign, mag, ovf, scale_f, G):
    """float32 bits of the element value times 2^s (scale_f = 2^s as float32)."""
    sig, ex = _float_parts(mag, G)
    v = np.float32(np.float32(sig) * np.int32(_shl(ex, 23)).view(np.float32) * scale_f)
    vb = _i32(v.view(np.int32) | _shl(sign, 31))
    if ovf and _i32(G[G_OVFSPEC_NEG] if sign else G[G_OVFSPEC]) == 1:
        vb = _i32(_i32(G[G_OVF_F32_NEG] if sign else G[G_OVF_F32]) | _shl(sign, 31))
    return vb


# The kernels work on chunks of CHUNK blocks (x[b*k:(b+1)*k] is block b; a chunk's input stays
# in cache between the passes). Pass 1 finds each block's amax and scale; pass 2 runs the lane
# loops with no call inside, so their vector constants stay in registers. Arrays are flat and
# indexed with unsigned integers: numba then adds no negative-index wraparound and LLVM sees
# contiguous accesses, so the lane loops vectorize. Float and integer elements take separate
# loops (a branch that always goes the same way).

CHUNK = 256
_SLOW = -(1 << 30)


@njit(cache=True)
def _chunk_scales(x, k, b0, b1, F, P, G, sc, cs):
    """Pass 1 over blocks b0..b1-1: sc[j] = E8M0 code, cs[j] = c of block b0 + j, or _SLOW."""
    for b in range(b0, b1):
        lo = np.uint64(b) * np.uint64(k)
        amax = np.int32(0)
        for i in range(lo, lo + np.uint64(k)):
            amax = max(amax, _i32(_bits32(x[i]) & 0x7FFFFFFF))
        scale, c, fast = _block_scale(amax, F, P, G)
        sc[b - b0] = np.uint8(scale)
        cs[b - b0] = c if fast else _SLOW


@njit(cache=True, nogil=True)
def quantize_kernel(x, k, F, P, G, codes, scales, slow, b_lo, b_hi):
    """Codes and E8M0 scales of blocks b_lo..b_hi-1; slow[b] marks the blocks left to block.py."""
    sc = np.empty(CHUNK, np.uint8)
    cs = np.empty(CHUNK, np.int32)
    for b0 in range(b_lo, b_hi, CHUNK):
        b1 = min(b0 + CHUNK, b_hi)
        _chunk_scales(x, k, b0, b1, F, P, G, sc, cs)
        for b in range(b0, b1):
            c = cs[b - b0]
            lo = np.uint64(b) * np.uint64(k)
            hi = lo + np.uint64(k)
            if c == _SLOW:
                continue
            if G[G_INT] == 1:
                for i in range(lo, hi):
                    codes[i] = _code_int(_lane_int(x[i], c, G), G)
            else:
                for i in range(lo, hi):
                    sign, mag, _ = _lane_float(x[i], c, G)
                    codes[i] = _code_float(sign, mag, G)
        for b in range(b0, b1):
            scales[b] = sc[b - b0]
            slow[b] = cs[b - b0] == _SLOW


@njit(cache=True, inline="always")
def _scale_f32(code):
    """2^(code - 127) as float32 (subnormal for code 0): the factor dequantize applies."""
    s = np.int32(np.int32(code) - np.int32(127))
    if s >= -126:
        return np.int32((s + np.int32(127)) << np.int32(23)).view(np.float32)
    return np.int32(np.int32(1) << (s + np.int32(149))).view(np.float32)


@njit(cache=True, nogil=True)
def fake_quantize_kernel(x, k, F, P, G, out_bits, slow, b_lo, b_hi):
    """Bits of the dequantized blocks b_lo..b_hi-1 in the input's type; slow[b] marks the blocks left to block.py.

    The value is built in float32 (exact, see `_block_scale`); a bfloat16 input gets the top half of
    those bits, which is the same value: it has at most 8 significant bits and lies on bfloat16's grid.
    """
    out_shift = _i32(16 * G[G_IN16])
    sc = np.empty(CHUNK, np.uint8)
    cs = np.empty(CHUNK, np.int32)
    for b0 in range(b_lo, b_hi, CHUNK):
        b1 = min(b0 + CHUNK, b_hi)
        _chunk_scales(x, k, b0, b1, F, P, G, sc, cs)
        for b in range(b0, b1):
            c = cs[b - b0]
            lo = np.uint64(b) * np.uint64(k)
            hi = lo + np.uint64(k)
            if c == _SLOW:
                continue
            scale_f = _scale_f32(sc[b - b0])
            if G[G_INT] == 1:
                # k * 2^-f * 2^s: both products are exact (quantum 2^(c - 127) >= 2^-133).
                unit = np.float32(np.int32(np.int32(G[G_FRAC_EXP]) << np.int32(23)).view(np.float32) * scale_f)
                for i in range(lo, hi):
                    v = np.float32(np.float32(_lane_int(x[i], c, G)) * unit)
                    out_bits[i] = _shr(v.view(np.int32), out_shift)
            else:
                for i in range(lo, hi):
                    sign, mag, ovf = _lane_float(x[i], c, G)
                    out_bits[i] = _shr(_value32_float(sign, mag, ovf, scale_f, G), out_shift)
        for b in range(b0, b1):
            slow[b] = cs[b - b0] == _SLOW


# Element encode (no blocks) at one scale exponent s for every lane: c = 127 + s + emin.
# NaN and Inf lanes take the codes in S = (NaN +, NaN -, Inf +, Inf -), a select per lane.



def encode_supported(ebits: int, mbits: int, x_dtype: np.dtype, F: tuple, P: tuple, s: int, stochastic: bool) -> bool:
    """Whether `encode_kernel` takes x * 2^-s (a single s; floats need 127 + s + emin >= 1)."""
    if not supported(ebits, mbits, x_dtype, F, P, stochastic):
        return False
    return F[KIND] == KIND_INT or 127 + s + F[EMIN] >= 1


@njit(cache=True)
def _lane_int_saturating(u, c, G):
    """Signed k of one finite lane at any scale: lanes far above the grid saturate."""
    w = _bits32(u)
    sign, nd, k = _round(w, c, _i32(23), _i32(-22), G)
    if nd > 22 and (w & 0x7FFFFFFF) != 0:
        k = _i32(1 << 30)
    k = _i32(min(k, _i32(G[G_KMAXN]) if sign else _i32(G[G_KMAXP])))
    return _i32((k ^ -sign) + sign)


@njit(cache=True, inline="always")
def _special(u, code, S):
    """code, or the NaN / Inf code of u's sign when u is NaN or Inf."""
    w = _bits32(u)
    a = _i32(w & 0x7FFFFFFF)
    neg = w < 0
    if a > 0x7F800000:
        code = np.uint8(S[1] if neg else S[0])
    elif a == 0x7F800000:
        code = np.uint8(S[3] if neg else S[2])
    return code


@njit(cache=True, nogil=True)
def encode_kernel(x, c, G, S, out, lo, hi):
    """out[i] = code of x[i] * 2^-s for lo <= i < hi, c = 127 + s + emin (`encode_supported` holds)."""
    c = np.int32(c)
    lo, hi = np.uint64(lo), np.uint64(hi)
    if G[G_INT] == 1:
        for i in range(lo, hi):
            out[i] = _special(x[i], _code_int(_lane_int_saturating(x[i], c, G), G), S)
    else:
        for i in range(lo, hi):
            sign, mag, _ = _lane_float(x[i], c, G)
            out[i] = _special(x[i], _code_float(sign, mag, G), S)
