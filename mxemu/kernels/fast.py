"""Fast block quantize / fake-quantize / dequantize and element encode, byte-equal to the kernels in block.py;
the saturation mask of the masked straight-through estimator (`saturation_kernel`).

Accepted (`supported`): float32, bfloat16, float16 and float64 inputs (int32 / int16 / uint16 / int64 bit
views; a float16 lane is widened to its float32 bits exactly, `_f16_to_f32_bits`; a float64 lane keeps its
own fields, see "float64 lanes" below), every rounding mode (rne, rna, rtz, rup, rdn, rto, and stochastic
with its random integers drawn here), subnormal_inputs "keep"; every other policy field, every element
format whose values and quanta lie in the float32 normal range (all MX formats).
dispatch.py routes here; tests/test_fast_path*.py hold the bytes equal to block.py's. Per block:

* amax = max of the lanes' |bits| (a vectorized max); the E8M0 code is read from `scale_lookup`, a table
  by amax's exponent field built from `scale.scale_code` once per format and policy (one comparison per
  block; binades the table cannot answer call `scale.scale_code`), and the elements' exponent comes from
  `scale.element_scale_exponent`, so scale rules live in scale.py only.
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
  dtype, element kind (float or integer) and stochastic rounding or not (`block_kernel`) serves every
  format and policy (no per-format compilation). Fake-quantize writes the
  input's own type: it turns the code into float32 bits directly, sig * 2^e (exact) times the
  dequantize factor 2^(code - 127), a product that is exact in every block the lane loop takes;
  a bfloat16 input keeps the top half of those bits (the value is on bfloat16's grid), a float16
  input gets them rounded once into float16 (`f32_to_f16_bits`).

float64 lanes run the same loop in int64 on their own fields, so each value is rounded once from its exact
float64 value (a float32 step first would round values near an element tie onto it): m < 2^53,
|x| = m * 2^(efe - 1075), c = 1023 + s + emin, shift = 52 - M + max(c - efe, 0) for floats and 52 + c - efe
for integers, capped at 54 (`_round64`). The overloads `_magnitude`, `_lane_layout`, `_round_lane`,
`_round_lane_stochastic`, `_block_factors`, `_fake_float` and `_fake_int` pick the lane width by the
input's integer view, so the kernels are the same for every dtype. Every float64 subnormal lies in the
element's subnormal range at every E8M0 scale, and every element value times every 2^s is a float64: only
NaN/Inf lanes, NaN scales and (for integers) blocks whose largest lane is not shifted right leave the
loop. Fake-quantize builds the value in float64 and writes float64.

Stochastic rounding (`_round_stochastic`) adds floor(r * 2^(shift - R)) to m before the shift, r the lane's
random integer: word 0 of Philox4x32-10 at counter base + lane (`philox_word0`, element.philox's
generator on vectorizable uint64 lanes), shifted right by 32 - R (float64 lanes: element.round_up's carry
of the top R discarded bits plus r, `_round_stochastic64`). No array of random integers exists;
the general kernels, which read them from one, take the same integers from dispatch.stream_bits.

`dequantize_kernel` multiplies a float32 table of the element values by 2^(scale - 127), exact (see
its section), and stores float32, bfloat16 or float16 bits; `dequantize_kernel64` does it in float64.

`encode_kernel` is the same lane loop without blocks (one scale exponent for all lanes), NaN and
Inf lanes taking the general code's codes through a select; it reads float32-wide lanes only (float64
element encode runs the general kernel).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

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
    INT_FULL,
    INT_RANGE,
    KEEP,
    KIND,
    KIND_INT,
    MAXINT,
    MBITS,
    NAN_CANONICAL,
    NAN_CODE,
    ROUNDING,
    RTZ,
    SCALE_VALUE,
    SCALE_VALUE_E8M0,
    SR_BITS,
    STOCHASTIC,
    SUBNORMAL_INPUTS,
    ZERO_FP32_QUOTIENT,
    ZERO_POSITIVE,
    ZERO_SIGN,
)
from mxemu.kernels.element import decode_value, max_code, overflow_code, unpack
from mxemu.kernels.rounding import AWAY, NEAREST, ODD, RANDOM, ROUNDING_TABLE, TIE_EVEN, Rounding
from mxemu.kernels.scale import E8M0_NAN, element_scale_exponent, scale_code

# Input layouts (exponent bits, mantissa bits) the fast kernels take, with the integer view the kernels
# read them as: float16 as uint16, so that its lanes compile apart from bfloat16's (`_bits32`).
LAYOUTS = {(8, 23): np.dtype(np.int32), (8, 7): np.dtype(np.int16), (5, 10): np.dtype(np.uint16),
           (11, 52): np.dtype(np.int64)}
# float64 lanes keep their own 64-bit fields (rounded once from the exact value); `encode_kernel` reads
# float32-wide lanes only.
FLOAT64 = (11, 52)
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
TOWARD_INF = {mode: ROUNDING_TABLE[mode].overflow_to_inf for mode in (*ROUNDINGS, STOCHASTIC)}
# Stochastic rounding truncates (toward zero's terms) and adds the random carry of `_round_stochastic`.
STOCHASTIC_TERMS = RTZ

# Slots of the lane-parameter tuple G (loop-invariant integers; see `lane_params`).
(G_INT, G_IN16, G_EMIN, G_BITS, G_HALFMASK, G_R1, G_LSBMASK, G_AWAY, G_JAM,  # every format
 G_M, G_MAXMAG, G_ZPOS, G_DEXP,  # floats
 G_OVFMAG, G_OVFSPEC, G_OVF_F32,  # floats, positive lanes
 G_OVFMAG_NEG, G_OVFSPEC_NEG, G_OVF_F32_NEG,  # floats, negative lanes
 G_KMAXP, G_KMAXN, G_FRAC_EXP,  # integers
 G_SR, G_SR_BITS) = range(24)  # stochastic rounding: whether, and the random bits per lane


def supported(ebits: int, mbits: int, x_dtype: np.dtype, F: tuple, P: tuple, random_array: bool) -> bool:
    """Whether the fast kernels accept this call (otherwise the general kernels of block.py run).

    x_dtype: the integer view of the input (its width must be the layout's); random_array: whether
    stochastic rounding reads its random integers from an array (the fast kernels draw them themselves).
    """
    layout = LAYOUTS.get((ebits, mbits))
    if layout is None or layout.itemsize != np.dtype(x_dtype).itemsize:
        return False
    if P[ROUNDING] not in (*ROUNDINGS, STOCHASTIC) or (P[ROUNDING] == STOCHASTIC and random_array):
        return False
    if P[SUBNORMAL_INPUTS] != KEEP or not 2 <= F[BITS] <= 8:
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
    sr = rounding == STOCHASTIC
    common = (int(F[KIND] == KIND_INT), int(in16), F[EMIN], bits,
              *ROUNDING_TERMS[STOCHASTIC_TERMS if sr else rounding])
    stochastic = (int(sr), P[SR_BITS])
    if F[KIND] == KIND_INT:
        kmax = F[MAXINT]
        kmaxn = kmax + (1 if P[INT_RANGE] == INT_FULL else 0)
        return (*common, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, kmax, kmaxn, 127 - M, *stochastic)
    # Beyond max normal: the general code's overflow result for each sign (saturate, or the IEEE
    # Inf/NaN of the modes that round away), and its float32 value bits when it is not a number.
    overflow = []
    for toward_inf in TOWARD_INF[rounding]:
        ovfmag = int(overflow_code(F, 0, P, toward_inf))
        special = decode_value(ovfmag, F)
        ovfspec = int(not np.isfinite(special))
        overflow += [ovfmag, ovfspec, int(np.float32(special).view(np.uint32)) if ovfspec else 0]
    zpos = 1 if P[ZERO_SIGN] == ZERO_POSITIVE else 0
    return (*common, M, int(max_code(F, 0, P)), zpos, F[EMIN] - 1 - M + 127, *overflow, 0, 0, 0, *stochastic)


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
    """float32 bits of one input lane: int32 as is, bfloat16 (int16) moved to the top half, float16 (uint16)
    converted (exactly: every float16 is a float32 normal)."""


@overload(_bits32, jit_options={"cache": True})
def _bits32_impl(u):
    if u == types.int16:
        return lambda u: _shl(u, 16)
    if u == types.uint16:
        return lambda u: _f16_to_f32_bits(u)
    return lambda u: np.int32(u)


def _magnitude(u):
    """|x| of one input lane as an integer of its lane width: float64 bits less the sign, else `_bits32`'s."""


@overload(_magnitude, jit_options={"cache": True})
def _magnitude_impl(u):
    if u == types.int64:
        return lambda u: np.int64(u & 0x7FFFFFFFFFFFFFFF)
    return lambda u: _i32(_bits32(u) & 0x7FFFFFFF)


@njit(cache=True, inline="always")
def _f16_to_f32_bits(u):
    """float32 bits of float16 bits u: rebias a normal, scale a subnormal's integer significand by 2^-24
    (exact), widen an Inf or NaN's fraction under the all-ones exponent; selects, no branches."""
    h = _i32(u)
    a = _i32(h & 0x7FFF)
    normal = _i32(_shl(a, 13) + _i32((127 - 15) << 23))
    subnormal = np.float32(np.float32(a) * np.float32(2.0 ** -24)).view(np.int32)
    special = _i32(_shl(a, 13) | _i32(0x7F800000))
    r = subnormal if a < 0x400 else (special if a >= 0x7C00 else normal)
    return _i32(r | _shl(h & 0x8000, 16))


def _store(u, vb):
    """The output lane of an input lane's type from exact float32 value bits vb: float32 and bfloat16 keep
    them (bfloat16 their top half: the value is on its grid), float16 rounds them (RNE, IEEE overflow)."""


@overload(_store, jit_options={"cache": True})
def _store_impl(u, vb):
    if u == types.int16:
        return lambda u, vb: _shr(vb, 16)
    if u == types.uint16:
        return lambda u, vb: f32_to_f16_bits(vb)
    return lambda u, vb: vb


@njit(cache=True, inline="always")
def f32_to_f16_bits(vb):
    """float16 bits of float32 bits vb rounded to nearest even, beyond float16's range to Inf, NaN to the
    canonical quiet NaN of its sign (what dispatch.to_dtype gives an exact float64 value).

    Normal results round the float32 bits in place (rebiased; a carry moves into the exponent, up to Inf).
    Below 2^-14 float16's grid is 2^-24: adding 0.5 (float32 ulp 2^-24 in [0.5, 1)) rounds there, by
    the FPU's nearest-even rounding, and the bits above 0.5's count the quanta (F. Giesen's float_to_half).
    """
    a = _i32(vb & 0x7FFFFFFF)
    normal = _i32(min(_shr(a - _i32((127 - 15) << 23) + _i32(0xFFF) + (_shr(a, 13) & 1), 13), _i32(0x7C00)))
    half = np.float32(0.5)
    subnormal = _i32(np.float32(a.view(np.float32) + half).view(np.int32) - half.view(np.int32))
    r = subnormal if a < 0x38800000 else (_i32(0x7E00) if a > 0x7F800000 else normal)
    return _i32(r | (_shr(vb, 16) & 0x8000))


@njit(cache=True, inline="always")
def f32_to_bf16_bits(vb):
    """bfloat16 bits of float32 bits vb rounded to nearest even (the same exponent field: round the bits in
    place), NaN to the canonical quiet NaN of its sign."""
    a = _i32(vb & 0x7FFFFFFF)
    r = _i32(0x7FC0) if a > 0x7F800000 else _shr(a + _i32(0x7FFF) + (_shr(a, 16) & 1), 16)
    return _i32(r | (_shr(vb, 16) & 0x8000))


def _lane_layout(amax):
    """(exponent bias, fraction bits, Inf bits) of the lane fields amax is read in: float64's for an int64 amax,
    else float32's (`_bits32`)."""


@overload(_lane_layout, jit_options={"cache": True})
def _lane_layout_impl(amax):
    if amax == types.int64:
        return lambda amax: (np.int64(1023), np.int64(52), np.int64(0x7FF0000000000000))
    return lambda amax: (np.int64(127), np.int64(23), np.int64(0x7F800000))


@njit(cache=True)
def _scale_of_fields(bits, ebits, mbits, F, P):
    """E8M0 code (`scale.scale_code`) of a block whose amax has the IEEE-style fields bits (int64, not NaN/Inf)."""
    cls, _, m, e, E = unpack(np.int64(bits), ebits, mbits)
    return np.int64(scale_code(cls, m, e, E, F, P))


@njit(cache=True, inline="always")
def _amax_fields(amax, G):
    """(fields as int64, exponent bits, mantissa bits) amax is read in by the scale rule: a bfloat16 lane's top
    half, else the lane layout's (`_lane_layout`)."""
    _, frac, _ = _lane_layout(amax)
    if G[G_IN16] == 1:
        return np.int64(amax) >> 16, np.int64(8), np.int64(7)
    return np.int64(amax), np.int64(11) if frac == 52 else np.int64(8), frac


# The scale code of a block by its amax's exponent field (`scale_lookup`): lookup[LOOKUP_CODE, f] is the code of
# the binade's smallest amax and lookup[LOOKUP_STEP, f] the smallest amax bits of the binade with the next code
# (beyond every amax when the binade has one code), or LOOKUP_ASK where the binade holds more than two codes.
LOOKUP_CODE, LOOKUP_STEP = range(2)
LOOKUP_ASK = -1


@functools.lru_cache(maxsize=512)
def scale_lookup(F: tuple, P: tuple, G: tuple, wide: bool) -> np.ndarray:
    """int64[2, exponent fields]: the block scale code by amax's exponent field, for float64 lanes (wide) or
    float32-wide lanes (G: bfloat16 or not).

    Every scale rule (scale.py) is a non-decreasing function of amax: the floor or ceiling of log2 of
    amax, of amax rounded to the element's precision, or of amax over max normal, each rounding
    monotone, then clamped (the NaN code of an overflow is the largest). Within one binade the
    code therefore takes the value at its smallest amax up to a step found by bisection, and the
    value at its largest beyond it; a binade whose two ends differ by more than one code
    (subnormal amax, which spans binades; zero amax, whose code is the policy's) is left to the
    scale functions. The kernels then read a block's code with one comparison (`_block_scale`). Cached: the
    kernels only read it.
    """
    lookup = np.empty((2, 2048 if wide else 256), np.int64)
    _fill_scale_lookup(np.int64(0) if wide else np.int32(0), F, P, G, lookup)
    return lookup


@njit(cache=True)
def _fill_scale_lookup(lane, F, P, G, lookup):
    """`scale_lookup` for lanes of lane's type (int64: float64 fields, else float32 fields)."""
    _, frac, inf = _lane_layout(lane)
    n = lookup.shape[1]
    lookup[LOOKUP_STEP, 0] = LOOKUP_ASK
    lookup[LOOKUP_STEP, n - 1] = LOOKUP_ASK
    _, ebits, mbits = _amax_fields(lane, G)
    shift = 16 if G[G_IN16] == 1 else 0
    for f in range(1, n - 1):
        lo = np.int64(f) << frac
        hi = lo + (np.int64(1) << frac) - 1
        code_lo = _scale_of_fields(lo >> shift, ebits, mbits, F, P)
        code_hi = _scale_of_fields(hi >> shift, ebits, mbits, F, P)
        lookup[LOOKUP_CODE, f] = code_lo
        if code_hi == code_lo:
            lookup[LOOKUP_STEP, f] = inf
        elif code_hi == code_lo + 1:
            a, b = lo, hi  # code(a) = code_lo, code(b) = code_hi: bisect for the smallest b
            while b - a > 1:
                mid = a + (b - a) // 2
                if _scale_of_fields(mid >> shift, ebits, mbits, F, P) == code_lo:
                    a = mid
                else:
                    b = mid
            lookup[LOOKUP_STEP, f] = b
        else:
            lookup[LOOKUP_STEP, f] = LOOKUP_ASK


@njit(cache=True, inline="always")
def _block_scale(amax, F, P, G, lookup):
    """(E8M0 code, c, whether the lane loop applies) of a block whose largest |bits| (`_magnitude`) is amax.

    The code is `scale_lookup`'s (`scale.scale_code` where the lookup defers to it); c = bias + s + emin with
    s the exponent the elements are encoded at (`element_scale_exponent`; 0 for an all-zero block, whose
    lanes give zero codes at any s) and bias the lane layout's (127 for float32 fields, 1023 for float64).
    """
    bias, frac, inf = _lane_layout(amax)
    if amax >= inf:
        return np.int64(0), np.int32(0), False
    field = np.int64(amax >> frac)
    step = lookup[LOOKUP_STEP, field]
    if step == LOOKUP_ASK:
        bits, ebits, mbits = _amax_fields(amax, G)
        scale = _scale_of_fields(bits, ebits, mbits, F, P)
    else:
        scale = lookup[LOOKUP_CODE, field] + np.int64(amax >= step)
    if scale == E8M0_NAN:
        return scale, np.int32(0), False
    s = element_scale_exponent(scale, P) if amax != 0 else np.int64(0)
    c = np.int32(bias + s + G[G_EMIN])
    if G[G_INT] == 1:
        # The largest lane is shifted right by at least one bit; for a bfloat16 input, whose
        # fake-quantized values are bfloat16, the quantum 2^(c - 127) is on its grid (>= 2^-133).
        fast = frac + c - max(amax >> frac, 1) >= 1 and (G[G_IN16] == 0 or c >= -6)
    else:
        # Every subnormal lane (float32 or float64) lies in the element's subnormal range. The
        # quantum 2^(c - bias - M) is then >= 2^-133 (M <= 6) for float32 fields, so element values
        # times 2^s are exact in float32 and, with at most M + 1 <= 7 significant bits, in
        # bfloat16; float64 holds every element value times every 2^s (s >= -254) exactly.
        fast = c >= 1
    return scale, c, fast


@njit(cache=True, inline="always")
def _fields(w, c):
    """(sign, m, d) of one lane's float32 bits w: |x| = m * 2^(efe - 150), efe = max(exponent field, 1), d = c - efe."""
    sign = _i32(_shr(w, 31) & 1)
    a = _i32(w & 0x7FFFFFFF)
    efe = _i32(max(_shr(a, 23), _i32(1)))
    return sign, _i32(a - _shl(efe - 1, 23)), _i32(c - efe)


@njit(cache=True, inline="always")
def _round(w, c, sh0, dmin, G):
    """(sign, -d, k) of one lane: k = |x| * 2^-shift rounded (`ROUNDING_TERMS`), shift = min(sh0 + max(c - efe,
    dmin), 25).

    m < 2^24, so every shift >= 25 gives what 25 gives (k = 0, or 1 when a directed or to-odd mode
    rounds a nonzero m away), and m + bias stays below 2^26.
    """
    sign, m, d = _fields(w, c)
    shift = _i32(min(_i32(sh0 + max(d, dmin)), _i32(25)))
    ones = _i32(_shl(1, shift) - 1)
    half = _i32(_shl(1, shift - 1) & _i32(G[G_HALFMASK]))
    lsb = _i32(_shr(m, shift) & _i32(G[G_LSBMASK]))
    away = _i32(ones & -_i32(sign == _i32(G[G_AWAY])))
    bias = _i32(_i32(_i32(half - _i32(G[G_R1])) + lsb) + away)
    sticky = _i32(_i32(G[G_JAM]) & _i32((m & ones) != 0))
    return sign, _i32(-d), _i32(_shr(m + bias, shift) | sticky)


@njit(cache=True, inline="always")
def _round_stochastic(w, c, sh0, dmin, word, G):
    """(sign, -d, k) of one lane rounded stochastically by the random integer r = word >> (32 - R), R = sr_bits.

    element.round_up rounds away when the top R bits of the discarded fraction rem plus r reach 2^R,
    that is when rem + floor(r * 2^(shift - R)) >= 2^shift (both sides scaled by 2^(shift - R), floored;
    rem is an integer): k = (m + floor(r * 2^(shift - R))) >> shift, the floor taken as
    (r << 32) >> (32 + R - shift) in 64 bits. m < 2^24 and r < 2^R, so every shift >= R + 25 gives
    k = 0, as R + 25 does.
    """
    sign, m, d = _fields(w, c)
    R = np.int64(G[G_SR_BITS])
    shift = np.int64(min(np.int64(sh0 + max(d, dmin)), R + 25))
    r = np.uint64(word) >> np.uint64(32 - R)
    bias = np.int64((r << np.uint64(32)) >> np.uint64(32 + R - shift))
    return sign, _i32(-d), _i32((np.int64(m) + bias) >> shift)


@njit(cache=True, inline="always")
def _round64(w, c, sh0, dmin, G):
    """`_round` on the float64 bits w, in int64: |x| = m * 2^(efe - 1075), m < 2^53, c = 1023 + s + emin.

    Every shift >= 54 gives what 54 gives, as 25 does for float32 fields (m + bias < 2^55).
    """
    sign = np.int32((w >> 63) & 1)
    a = np.int64(w & 0x7FFFFFFFFFFFFFFF)
    efe = max(a >> 52, np.int64(1))
    m = a - ((efe - 1) << 52)
    d = np.int64(c) - efe
    shift = min(np.int64(sh0) + max(d, np.int64(dmin)), np.int64(54))
    ones = (np.int64(1) << shift) - 1
    half = (np.int64(1) << (shift - 1)) & np.int64(G[G_HALFMASK])
    lsb = (m >> shift) & np.int64(G[G_LSBMASK])
    away = ones & -np.int64(sign == _i32(G[G_AWAY]))
    bias = half - np.int64(G[G_R1]) + lsb + away
    sticky = np.int64(G[G_JAM]) & np.int64((m & ones) != 0)
    return sign, np.int32(-d), ((m + bias) >> shift) | sticky


@njit(cache=True, inline="always")
def _round_stochastic64(w, c, sh0, dmin, word, G):
    """`_round_stochastic` on the float64 bits w: element.round_up's carry written out, since m * 2^R no longer
    fits 64 bits. t = the top R bits of the discarded fraction rem (rem >> (shift - R), or rem << (R - shift)
    when fewer than R bits are discarded), k = (m >> shift) + ((t + r) >> R). m < 2^53, so shifts
    of 63 or more discard all of m (rem = m), and t = 0 once shift - R >= 63.
    """
    sign = np.int32((w >> 63) & 1)
    a = np.int64(w & 0x7FFFFFFFFFFFFFFF)
    efe = max(a >> 52, np.int64(1))
    m = a - ((efe - 1) << 52)
    d = np.int64(c) - efe
    R = np.int64(G[G_SR_BITS])
    shift = np.int64(sh0) + max(d, np.int64(dmin))
    sh = min(shift, np.int64(63))
    rem = m & ((np.int64(1) << sh) - 1)
    t = rem >> min(max(shift - R, np.int64(0)), np.int64(63)) if shift >= R else rem << max(R - shift, np.int64(0))
    r = np.int64(np.uint64(word) >> np.uint64(32 - R))
    return sign, np.int32(-d), (m >> sh) + ((t + r) >> R)


def _round_lane(u, c, M, dmin, G):
    """(sign, -d, k) of one input lane rounded at c with M fraction bits kept (0 for integers): `_round` on
    its float32 bits (`_bits32`), `_round64` on float64 bits."""


@overload(_round_lane, jit_options={"cache": True}, inline="always")
def _round_lane_impl(u, c, M, dmin, G):
    if u == types.int64:
        return lambda u, c, M, dmin, G: _round64(u, c, 52 - np.int64(M), dmin, G)
    return lambda u, c, M, dmin, G: _round(_bits32(u), c, _i32(23 - _i32(M)), _i32(dmin), G)


def _round_lane_stochastic(u, c, M, dmin, word, G):
    """`_round_lane` rounding stochastically with the lane's Philox word."""


@overload(_round_lane_stochastic, jit_options={"cache": True}, inline="always")
def _round_lane_stochastic_impl(u, c, M, dmin, word, G):
    if u == types.int64:
        return lambda u, c, M, dmin, word, G: _round_stochastic64(u, c, 52 - np.int64(M), dmin, word, G)
    return lambda u, c, M, dmin, word, G: _round_stochastic(_bits32(u), c, _i32(23 - _i32(M)), _i32(dmin), word, G)


@njit(cache=True, inline="always")
def philox_word0(k0, k1, index):
    """Word 0 of Philox4x32-10 with key (k0, k1) and counter (index lo, index hi, 0, 0): element.philox, whose
    bits every stochastic kernel draws, written on uint64 lanes holding 32-bit words so that LLVM
    vectorizes the 32 x 32 -> 64-bit products (Salmon et al., SC'11; the constants of Random123)."""
    m32 = np.uint64(0xFFFFFFFF)
    c0, c1 = index & m32, index >> np.uint64(32)
    c2, c3 = np.uint64(0), np.uint64(0)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & m32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & m32
        k0 = (k0 + np.uint64(0x9E3779B9)) & m32
        k1 = (k1 + np.uint64(0xBB67AE85)) & m32
    return c0


@njit(cache=True, inline="always")
def _float_result(sign, nd, k, G):
    """(sign, magnitude code, overflowed) of a float lane rounded to k at -d = nd."""
    M = _i32(G[G_M])
    mag = _i32(_shl(max(nd, _i32(0)), M) + k)
    ovf = mag > _i32(G[G_MAXMAG])
    if ovf:
        mag = _i32(G[G_OVFMAG_NEG]) if sign else _i32(G[G_OVFMAG])
    if mag == 0 and _i32(G[G_ZPOS]) == 1:
        sign = _i32(0)
    return sign, mag, ovf


@njit(cache=True, inline="always")
def _int_result(sign, k, G):
    """Signed integer k of a lane, clamped to the format's range."""
    k = _i32(min(k, _i32(G[G_KMAXN]) if sign else _i32(G[G_KMAXP])))
    return _i32((k ^ -sign) + sign)


@njit(cache=True)
def _lane_float(u, c, G):
    """(sign, magnitude code, overflowed) of one finite lane; the sign is 0 for a zero that drops it."""
    sign, nd, k = _round_lane(u, c, G[G_M], 0, G)
    return _float_result(sign, nd, k, G)


@njit(cache=True)
def _lane_float_stochastic(u, c, word, G):
    """`_lane_float` rounding stochastically with the Philox word of the lane."""
    sign, nd, k = _round_lane_stochastic(u, c, G[G_M], 0, word, G)
    return _float_result(sign, nd, k, G)


@njit(cache=True)
def _lane_int(u, c, G):
    """Signed integer k of one finite lane, clamped to the format's range."""
    sign, _, k = _round_lane(u, c, 0, -(1 << 20), G)
    return _int_result(sign, k, G)


@njit(cache=True)
def _lane_int_stochastic(u, c, word, G):
    """`_lane_int` rounding stochastically with the Philox word of the lane."""
    sign, _, k = _round_lane_stochastic(u, c, 0, -(1 << 20), word, G)
    return _int_result(sign, k, G)


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


@njit(cache=True)
def _value64_float(sign, mag, ovf, scale_f, G):
    """float64 bits of the element value times 2^s (scale_f = 2^s as float64): `_value32_float` in float64."""
    sig, ex = _float_parts(mag, G)
    unit = np.int64((np.int64(ex) + (1023 - 127)) << 52).view(np.float64)
    vb = np.float64(np.float64(sig) * unit * scale_f).view(np.int64) | (np.int64(sign) << 63)
    if ovf and _i32(G[G_OVFSPEC_NEG] if sign else G[G_OVFSPEC]) == 1:
        special = np.float64(np.int32(G[G_OVF_F32_NEG] if sign else G[G_OVF_F32]).view(np.float32))
        vb = special.view(np.int64) | (np.int64(sign) << 63)
    return vb


def _block_factors(u, code, G):
    """(2^s, the integer quantum 2^(s - fraction bits)) of a block with E8M0 code `code` = s + 127, in the float
    type the lane's fake-quantized value is built in: float64 for float64 lanes, else float32 (both
    products exact, see `_block_scale`)."""


@overload(_block_factors, jit_options={"cache": True}, inline="always")
def _block_factors_impl(u, code, G):
    if u == types.int64:
        def factors64(u, code, G):
            scale_f = np.int64((np.int64(code) + (1023 - 127)) << 52).view(np.float64)
            frac = np.int64((np.int64(G[G_FRAC_EXP]) + (1023 - 127)) << 52).view(np.float64)
            return scale_f, np.float64(frac * scale_f)

        return factors64

    def factors32(u, code, G):
        scale_f = _scale_f32(code)
        return scale_f, np.float32(np.int32(np.int32(G[G_FRAC_EXP]) << np.int32(23)).view(np.float32) * scale_f)

    return factors32


def _fake_float(u, sign, mag, ovf, scale_f, G):
    """The output lane (bits of u's type) of a float element's value times scale_f."""


@overload(_fake_float, jit_options={"cache": True}, inline="always")
def _fake_float_impl(u, sign, mag, ovf, scale_f, G):
    if u == types.int64:
        return lambda u, sign, mag, ovf, scale_f, G: _value64_float(sign, mag, ovf, scale_f, G)
    return lambda u, sign, mag, ovf, scale_f, G: _store(u, _value32_float(sign, mag, ovf, scale_f, G))


def _fake_int(u, k, unit):
    """The output lane (bits of u's type) of the integer element k times its quantum `unit`."""


@overload(_fake_int, jit_options={"cache": True}, inline="always")
def _fake_int_impl(u, k, unit):
    if u == types.int64:
        return lambda u, k, unit: np.float64(np.float64(k) * unit).view(np.int64)
    return lambda u, k, unit: _store(u, np.float32(np.float32(k) * unit).view(np.int32))


# The kernels work on chunks of CHUNK blocks (x[b*k:(b+1)*k] is block b; a chunk's input stays
# in cache between the passes). Pass 1 finds each block's amax and scale; pass 2 runs the lane
# loops with no call inside, so their vector constants stay in registers. Arrays are flat and
# indexed with unsigned integers: numba then adds no negative-index wraparound and LLVM sees
# contiguous accesses, so the lane loops vectorize. Float and integer elements take separate
# loops (a branch that always goes the same way).

CHUNK = 256
_SLOW = -(1 << 30)


@njit(cache=True)
def _chunk_scales(x, k, b0, b1, F, P, G, lookup, sc, cs):
    """Pass 1 over blocks b0..b1-1: sc[j] = E8M0 code, cs[j] = c of block b0 + j, or _SLOW."""
    for b in range(b0, b1):
        lo = np.uint64(b) * np.uint64(k)
        amax = _magnitude(x[lo])
        for i in range(lo + np.uint64(1), lo + np.uint64(k)):
            amax = max(amax, _magnitude(x[i]))
        scale, c, fast = _block_scale(amax, F, P, G, lookup)
        sc[b - b0] = np.uint8(scale)
        cs[b - b0] = c if fast else _SLOW


def _quantize_blocks(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, integer, stochastic):
    """Codes and E8M0 scales of blocks b_lo..b_hi-1; slow[b] marks the blocks left to block.py. integer,
    stochastic: literal booleans, G's element kind and rounding (`block_kernel`).

    key = (k0, k1, base): under stochastic rounding lane i of the flat blocks draws Philox word 0 of
    counter base + i under key (k0, k1).
    """


@overload(_quantize_blocks, jit_options={"cache": True}, inline="always", prefer_literal=True)
def _quantize_blocks_impl(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, integer, stochastic):
    is_int, sr = integer.literal_value, stochastic.literal_value

    def impl(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, integer, stochastic):
        sc = np.empty(CHUNK, np.uint8)
        cs = np.empty(CHUNK, np.int32)
        k0, k1, base = key
        for b0 in range(b_lo, b_hi, CHUNK):
            b1 = min(b0 + CHUNK, b_hi)
            _chunk_scales(x, k, b0, b1, F, P, G, lookup, sc, cs)
            for b in range(b0, b1):
                c = cs[b - b0]
                lo = np.uint64(b) * np.uint64(k)
                hi = lo + np.uint64(k)
                if c == _SLOW:
                    continue
                if is_int and sr:
                    for i in range(lo, hi):
                        word = philox_word0(k0, k1, base + i)
                        codes[i] = _code_int(_lane_int_stochastic(x[i], c, word, G), G)
                elif is_int:
                    for i in range(lo, hi):
                        codes[i] = _code_int(_lane_int(x[i], c, G), G)
                elif sr:
                    for i in range(lo, hi):
                        sign, mag, _ = _lane_float_stochastic(x[i], c, philox_word0(k0, k1, base + i), G)
                        codes[i] = _code_float(sign, mag, G)
                else:
                    for i in range(lo, hi):
                        sign, mag, _ = _lane_float(x[i], c, G)
                        codes[i] = _code_float(sign, mag, G)
            for b in range(b0, b1):
                scales[b] = sc[b - b0]
                slow[b] = cs[b - b0] == _SLOW

    return impl


@njit(cache=True, inline="always")
def _scale_f32(code):
    """2^(code - 127) as float32 (subnormal for code 0): the factor dequantize applies."""
    s = np.int32(np.int32(code) - np.int32(127))
    if s >= -126:
        return np.int32((s + np.int32(127)) << np.int32(23)).view(np.float32)
    return np.int32(np.int32(1) << (s + np.int32(149))).view(np.float32)


def _fake_quantize_blocks(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, integer, stochastic):
    """Bits of the dequantized blocks b_lo..b_hi-1 in the input's type; slow[b] marks the blocks left to block.py.

    The value is built in float32 (exact, see `_block_scale`) and stored by `_store`: a bfloat16 input
    gets the top half of those bits, which is the same value (at most 8 significant bits, on bfloat16's
    grid); a float16 input gets it rounded once into float16. key, integer, stochastic: as in
    `_quantize_blocks`.
    """


@overload(_fake_quantize_blocks, jit_options={"cache": True}, inline="always", prefer_literal=True)
def _fake_quantize_blocks_impl(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, integer, stochastic):
    is_int, sr = integer.literal_value, stochastic.literal_value

    def impl(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, integer, stochastic):
        sc = np.empty(CHUNK, np.uint8)
        cs = np.empty(CHUNK, np.int32)
        k0, k1, base = key
        for b0 in range(b_lo, b_hi, CHUNK):
            b1 = min(b0 + CHUNK, b_hi)
            _chunk_scales(x, k, b0, b1, F, P, G, lookup, sc, cs)
            for b in range(b0, b1):
                c = cs[b - b0]
                lo = np.uint64(b) * np.uint64(k)
                hi = lo + np.uint64(k)
                if c == _SLOW:
                    continue
                # k * 2^-f * 2^s: both products are exact (quantum 2^(c - 127) >= 2^-133).
                scale_f, unit = _block_factors(x[lo], sc[b - b0], G)
                if is_int and sr:
                    for i in range(lo, hi):
                        word = philox_word0(k0, k1, base + i)
                        out_bits[i] = _fake_int(x[i], _lane_int_stochastic(x[i], c, word, G), unit)
                elif is_int:
                    for i in range(lo, hi):
                        out_bits[i] = _fake_int(x[i], _lane_int(x[i], c, G), unit)
                elif sr:
                    for i in range(lo, hi):
                        sign, mag, ovf = _lane_float_stochastic(x[i], c, philox_word0(k0, k1, base + i), G)
                        out_bits[i] = _fake_float(x[i], sign, mag, ovf, scale_f, G)
                else:
                    for i in range(lo, hi):
                        sign, mag, ovf = _lane_float(x[i], c, G)
                        out_bits[i] = _fake_float(x[i], sign, mag, ovf, scale_f, G)
            for b in range(b0, b1):
                slow[b] = cs[b - b0] == _SLOW

    return impl


# One entry point per (element kind, stochastic or not): numba compiles everything a kernel reaches, so a
# kernel serving all four lane rules made the first call of any of them compile all four (cold start).
# Arguments: those of `_quantize_blocks` / `_fake_quantize_blocks` without the two literals.


@njit(cache=True, nogil=True)
def quantize_float(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi):
    _quantize_blocks(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, False, False)


@njit(cache=True, nogil=True)
def quantize_int(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi):
    _quantize_blocks(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, True, False)


@njit(cache=True, nogil=True)
def quantize_float_stochastic(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi):
    _quantize_blocks(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, False, True)


@njit(cache=True, nogil=True)
def quantize_int_stochastic(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi):
    _quantize_blocks(x, k, F, P, G, lookup, key, codes, scales, slow, b_lo, b_hi, True, True)


@njit(cache=True, nogil=True)
def fake_quantize_float(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi):
    _fake_quantize_blocks(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, False, False)


@njit(cache=True, nogil=True)
def fake_quantize_int(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi):
    _fake_quantize_blocks(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, True, False)


@njit(cache=True, nogil=True)
def fake_quantize_float_stochastic(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi):
    _fake_quantize_blocks(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, False, True)


@njit(cache=True, nogil=True)
def fake_quantize_int_stochastic(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi):
    _fake_quantize_blocks(x, k, F, P, G, lookup, key, out_bits, slow, b_lo, b_hi, True, True)


# (operation, integer elements, stochastic rounding) -> kernel
BLOCK_KERNELS = {
    ("quantize", False, False): quantize_float, ("quantize", True, False): quantize_int,
    ("quantize", False, True): quantize_float_stochastic, ("quantize", True, True): quantize_int_stochastic,
    ("fake_quantize", False, False): fake_quantize_float, ("fake_quantize", True, False): fake_quantize_int,
    ("fake_quantize", False, True): fake_quantize_float_stochastic,
    ("fake_quantize", True, True): fake_quantize_int_stochastic,
}


def block_kernel(op: str, G: tuple) -> Callable[..., None]:
    """The fast kernel of `op` ("quantize" or "fake_quantize") for the lane parameters G."""
    return BLOCK_KERNELS[(op, G[G_INT] == 1, G[G_SR] == 1)]


# Dequantize: codes and E8M0 scale codes into values. An element value has at most 8 significant bits and
# a quantum of at least 2^-22 (`dequantize_supported`), so its product with 2^(code - 127) is exact in
# float32 (down to 2^-149) below 2^128, and at or above 2^128 the float32 product is Inf, as the value
# rounded into float32, bfloat16 or float16 is. Blocks with the NaN scale code are left to block.py.
OUT_FLOAT32, OUT_BFLOAT16, OUT_FLOAT16 = range(3)
OUT_KINDS = {"float32": OUT_FLOAT32, "bfloat16": OUT_BFLOAT16, "float16": OUT_FLOAT16}


def dequantize_supported(F: tuple) -> bool:
    """Whether the dequantize kernels take codes of the element format F (values exact as described above)."""
    quantum = -F[MBITS] if F[KIND] == KIND_INT else F[EMIN] - F[MBITS]
    return 2 <= F[BITS] <= 8 and quantum >= -22 and F[EMAX] <= 64


@njit(cache=True, nogil=True)
def dequantize_kernel(codes, k, table, scales, kind, out_bits, slow, b_lo, b_hi):
    """Bits of table[code] * 2^(scale - 127) of blocks b_lo..b_hi-1 in the output type `kind` (float32 table,
    OUT_* kind); slow[b] marks the NaN-scale blocks."""
    for b in range(b_lo, b_hi):
        code = scales[b]
        slow[b] = code == E8M0_NAN
        if code == E8M0_NAN:
            continue
        f = _scale_f32(code)
        lo = np.uint64(b) * np.uint64(k)
        hi = lo + np.uint64(k)
        if kind == OUT_FLOAT32:
            for i in range(lo, hi):
                out_bits[i] = np.float32(table[codes[i]] * f).view(np.int32)
        elif kind == OUT_BFLOAT16:
            for i in range(lo, hi):
                out_bits[i] = f32_to_bf16_bits(np.float32(table[codes[i]] * f).view(np.int32))
        else:
            for i in range(lo, hi):
                out_bits[i] = f32_to_f16_bits(np.float32(table[codes[i]] * f).view(np.int32))


@njit(cache=True, nogil=True)
def dequantize_kernel64(codes, k, table, scales, out, slow, b_lo, b_hi):
    """`dequantize_kernel` into float64 (float64 table): every product is exact."""
    for b in range(b_lo, b_hi):
        code = scales[b]
        slow[b] = code == E8M0_NAN
        if code == E8M0_NAN:
            continue
        f = np.int64((np.int64(code) - 127 + 1023) << 52).view(np.float64)
        lo = np.uint64(b) * np.uint64(k)
        for i in range(lo, lo + np.uint64(k)):
            out[i] = table[codes[i]] * f


# Element encode (no blocks) at one scale exponent s for every lane: c = 127 + s + emin.
# NaN and Inf lanes take the codes in S = (NaN +, NaN -, Inf +, Inf -), a select per lane.



def encode_supported(ebits: int, mbits: int, x_dtype: np.dtype, F: tuple, P: tuple, s: int, stochastic: bool) -> bool:
    """Whether `encode_kernel` takes x * 2^-s (a single s; floats need 127 + s + emin >= 1; no stochastic rounding;
    float32-wide lanes: float64 input runs the general kernels)."""
    if stochastic or P[ROUNDING] == STOCHASTIC or (ebits, mbits) == FLOAT64:
        return False
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


@njit(cache=True, nogil=True)
def saturation_kernel(x, k, above, below, out, b_lo, b_hi):
    """out[i] = x[i] > above[b] or x[i] < below[b] for the lanes i of blocks b_lo..b_hi-1 (flat blocks of
    k lanes; float32 or float64 lanes and bounds; NaN lanes and NaN bounds compare false)."""
    for b in range(b_lo, b_hi):
        hi, lo = above[b], below[b]
        start = np.uint64(b) * np.uint64(k)
        for i in range(start, start + np.uint64(k)):
            out[i] = (x[i] > hi) | (x[i] < lo)
