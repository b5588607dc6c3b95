"""Host-side tables and constants of the Triton kernels, computed by the numba kernels' own functions.

Nothing here re-derives format or scale math: every number comes from `mxemu.kernels` (format and
policy tuples from abi.py, each sign's overflow result from the rounding table of rounding.py,
special codes from element.py, scale codes from scale.py), so the Triton kernels differ from the
numba ones only in the lane arithmetic of `kernels.py`.

* The E8M0 scale of a block is a non-decreasing step function of its amax (for every scale rule,
  log2 and descale mode), so it is stored as 256 thresholds: T[c] = the smallest float32 amax bits
  whose scale code is >= c. The kernel's scale is then max{c : T[c] <= amax}, a binary search.
  The all-zero, infinite and Inf-read-as-2^128 amaxes are separate constants.
* The element values are a 256-entry decode table packing (class, sign, significand, exponent).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from mxemu.kernels.abi import (
    BITS,
    EMAX,
    EMIN,
    IEEE_CAST,
    IEEE_FORMATS,
    INT_FULL,
    INT_RANGE,
    KIND,
    KIND_INT,
    MAXINT,
    MBITS,
    ROUNDING,
    SPECIALS,
    SPECIALS_NONE,
)
from mxemu.kernels.element import (
    FINITE,
    INF,
    NAN,
    decode_value,
    max_code,
    nan_code,
    nonfinite_code,
    overflow_code,
    unpack,
    zero_code,
)
from mxemu.kernels.rounding import overflow_to_inf
from mxemu.kernels.scale import scale_code

# The numba path stores float64 products into float32, bfloat16 and float16 as an IEEE cast does:
# RNE, and Inf beyond the largest finite value (`kernels.dispatch.to_dtype`).
OUTPUT_DTYPES = ("float32", "bfloat16", "float16")
OUTPUT_POLICIES = dict.fromkeys(OUTPUT_DTYPES, IEEE_CAST)
OUTPUT_TUPLES = {name: IEEE_FORMATS[name] for name in OUTPUT_DTYPES}
FLOAT32_FINITE_MAX = 0x7F7FFFFF
NO_THRESHOLD = 0x7FFFFFFF
# Decode-table classes.
DEC_FINITE, DEC_INF, DEC_NAN = 0, 1, 2
DEC_EXP_BIAS = 128


def _scale_of_bits(bits: int, F: tuple, P: tuple) -> int:
    cls, _, m, e, E = unpack(np.int64(bits), 8, 23)
    return int(scale_code(cls, m, e, E, F, P))


@functools.lru_cache(maxsize=256)
def scale_thresholds(F: tuple, P: tuple) -> np.ndarray:
    """int32[256]: T[c] = smallest float32 amax bits in [1, 0x7F7FFFFF] with scale code >= c (T[0] = 0).

    Codes no finite amax reaches get 0x7FFFFFFF (above every finite amax).
    """
    table = np.full(256, NO_THRESHOLD, np.int32)
    table[0] = 0
    top = _scale_of_bits(FLOAT32_FINITE_MAX, F, P)
    for c in range(1, top + 1):
        a, b = 1, FLOAT32_FINITE_MAX
        while a < b:
            mid = (a + b) // 2
            if _scale_of_bits(mid, F, P) >= c:
                b = mid
            else:
                a = mid + 1
        table[c] = a
    return table


def special_scales(F: tuple, P: tuple, in_ebits: int) -> tuple[int, int]:
    """(scale of an infinite amax, scale of Inf read as 2^(2^(ebits - 1))) for an input exponent width."""
    inf = int(scale_code(INF, np.int64(0), np.int64(0), np.int64(0), F, P))
    top = 1 << (in_ebits - 1)
    return inf, int(scale_code(FINITE, np.int64(1), np.int64(top), np.int64(top), F, P))


def lane_constants(F: tuple, P: tuple) -> dict[str, int]:
    """Format and policy numbers of the element encode, with the special codes by sign (0 = +, 1 = -).

    OVFI0 / OVFI1 are the codes of a value beyond max normal under the policy's rounding mode: the
    overflow result toward Inf where the rounding table says so, else max normal."""
    bits, M = F[BITS], F[MBITS]
    kmaxn = F[MAXINT] + (1 if F[KIND] == KIND_INT and P[INT_RANGE] == INT_FULL else 0)
    consts = {
        "IS_INT": int(F[KIND] == KIND_INT), "BITS": bits, "M": M, "EMIN": F[EMIN], "EMAX": F[EMAX],
        "KMAX": F[MAXINT], "KMAXN": kmaxn, "SIGNBIT": -(1 << 31) if bits == 32 else 1 << (bits - 1),
        "MASK": (1 << bits) - 1 if bits < 32 else -1,
    }
    for s in (0, 1):
        consts[f"ZC{s}"] = int(zero_code(F, s, P))
        consts[f"MAXC{s}"] = int(max_code(F, s, P))
        consts[f"OVFI{s}"] = int(overflow_code(F, s, P, overflow_to_inf(P[ROUNDING], s)))
        consts[f"NANC{s}"] = int(nonfinite_code(F, NAN, s, P))
        consts[f"INFC{s}"] = int(nonfinite_code(F, INF, s, P))
    if bits == 32:  # codes are int32 bit patterns
        consts = {k: v - (1 << 32) if v >= 1 << 31 else v for k, v in consts.items()}
    return consts


def nan_scale_code(F: tuple) -> int:
    """The lane code the numba kernels write under a NaN scale (a don't-care: NaN, or 0 without NaN)."""
    return int(nan_code(F, 0)) if F[SPECIALS] != SPECIALS_NONE else 0


@functools.lru_cache(maxsize=64)
def decode_table(F: tuple) -> np.ndarray:
    """int32[256]: code -> class | sign << 2 | significand << 3 | (exponent + 128) << 12 of its exact value."""
    table = np.zeros(256, np.int32)
    for c in range(1 << F[BITS]):
        v = float(decode_value(c, F))
        sign = int(math.copysign(1.0, v) < 0)
        if math.isnan(v):
            table[c] = DEC_NAN | sign << 2
            continue
        if math.isinf(v):
            table[c] = DEC_INF | sign << 2
            continue
        frac, exp = math.frexp(abs(v))
        sig, e = int(frac * (1 << 24)), exp - 24
        while sig and sig % 2 == 0:
            sig //= 2
            e += 1
        if sig >= 1 << 9 or not -DEC_EXP_BIAS <= e < DEC_EXP_BIAS:
            raise RuntimeError(f"element value {v} does not fit the decode table")
        table[c] = DEC_FINITE | sign << 2 | sig << 3 | (e + DEC_EXP_BIAS) << 12
    return table


def packing_constants(layout: str | None, bits: int, interleaved: bool, tiles_reversed: bool) -> dict[str, int]:
    """constexprs of `kernels._store_packed` for a `mxemu.packing` layout (None: unpacked codes).

    Each layout packs groups of G codes into NB whole bytes, code j of a group at bit
    SHIFT0 + j * SHIFT_STEP of a little-endian word (docs/layouts.md): bitstream_le and its aliases
    nibble_lo_first and fp6_4in3 take G = 8 / gcd(bits, 8) codes at bits j * bits (lcm(bits, 8)
    bits, as `mxemu.packing` groups them); nibble_hi_first puts code 2i in the high nibble;
    byte_msb stores code << (8 - bits).
    """
    if layout is None or layout == "byte":
        g, nb, shift0, step = 1, 1, 0, 0
    elif layout == "byte_msb":
        g, nb, shift0, step = 1, 1, 8 - bits, 0
    elif layout == "nibble_hi_first":
        g, nb, shift0, step = 2, 1, 4, -4
    else:
        g = 8 // math.gcd(bits, 8)
        nb, shift0, step = g * bits // 8, 0, bits
    return {"TILE_T": int(tiles_reversed), "G": g, "NB": nb, "NBP": 1 << (nb - 1).bit_length(),
            "SHIFT0": shift0, "SHIFT_STEP": step, "INTERLEAVED": int(interleaved)}
