"""Slice-and-Scale kernels: MX element codes re-rounded into a narrower format at a raised scale."""

from __future__ import annotations

import numpy as np
from numba import njit

from mxemu.kernels.abi import (
    BITS,
    EMAX,
    EMIN,
    KIND,
    KIND_INT,
    MBITS,
    SCALE_OVERFLOW,
    SCALE_OVERFLOW_NAN,
    SPECIALS,
    SPECIALS_IEEE,
    SPECIALS_NAN_ONLY,
    SPECIALS_NONE,
    ZERO_BLOCK_SCALE,
)
from mxemu.kernels.element import FINITE, INF, NAN, ZERO, bit_length, encode_value, nan_code
from mxemu.kernels.scale import E8M0_BIAS, E8M0_MAX_EXP, E8M0_NAN

_Z = np.int64(0)


@njit(cache=True)
def split_code(code, F):
    """(class, sign, m, e, E) of an element code: |value| = m * 2^e exactly, E = floor(log2 |value|)."""
    bits = F[BITS]
    M = F[MBITS]
    code = np.int64(code) & ((np.int64(1) << bits) - 1)
    if F[KIND] == KIND_INT:
        k = code - (np.int64(1) << bits) if code >> (bits - 1) else code
        sign = np.int64(1) if k < 0 else _Z
        m = -k if k < 0 else k
        e = np.int64(F[EMIN])
    else:
        sign = code >> (bits - 1)
        ef = (code >> M) & ((np.int64(1) << (bits - 1 - M)) - 1)
        mf = code & ((np.int64(1) << M) - 1)
        top = (np.int64(1) << (bits - 1 - M)) - 1
        if F[SPECIALS] == SPECIALS_IEEE and ef == top:
            return (INF if mf == 0 else NAN), sign, _Z, _Z, _Z
        if F[SPECIALS] == SPECIALS_NAN_ONLY and ef == top and mf == (np.int64(1) << M) - 1:
            return NAN, sign, _Z, _Z, _Z
        if ef == 0:
            m = mf
            e = np.int64(F[EMIN] - M)
        else:
            m = mf | (np.int64(1) << M)
            e = np.int64(ef + F[EMIN] - 1 - M)
    if m == 0:
        return ZERO, sign, _Z, _Z, _Z
    return FINITE, sign, m, e, e + bit_length(m) - 1


@njit(cache=True)
def encode_element(cls, sign, m, e, E, F, P, rnd):
    """`encode_value`, compiled once as a function of its own for the kernels that call it rarely or once.

    Inlined, the encoder is most of a kernel's compile time (seconds); called, it compiles once per
    machine for every kernel that passes int64 fields and the int64 slot tuples, and the conversion and
    product kernels share that one compilation.
    """
    return encode_value(cls, sign, m, e, E, F, P, rnd)


@njit(cache=True, nogil=True)
def slice_blocks(codes, scales, Fs, Fd, P, delta, out_codes, out_scales, lo, hi):
    """Slice-and-Scale blocks lo..hi-1 (rows of `codes`, E8M0 code `scales[b]`) into format Fd.

    The scale exponent rises by `delta` (clamped to 2^127, or NaN, by the policy's scale_overflow;
    at the smallest scale 2^-127, only as far as the block's largest element needs);
    each element m * 2^e is re-encoded at the raised scale by `encode_value` (the policy's rounding
    and saturation, one exact rounding). A NaN scale stays NaN with don't-care codes; an all-zero
    block gets the policy's zero_block_scale. Without the GIL: the caller runs row ranges on threads.
    """
    fill = nan_code(Fd, 0) if Fd[SPECIALS] != SPECIALS_NONE else 0
    for b in range(lo, hi):
        slice_block(codes, scales, b, Fs, Fd, P, delta, fill, out_codes, out_scales)


@njit(cache=True, inline="always")
def slice_block(codes, scales, b, Fs, Fd, P, delta, fill, out_codes, out_scales):
    """Slice-and-Scale block b (`slice_blocks`): codes[b] into out_codes[b], its scale into out_scales[b]."""
    row = codes[b]
    out_row = out_codes[b]
    s = np.int64(scales[b])
    n = row.shape[0]
    if s == E8M0_NAN:
        out_scales[b] = E8M0_NAN
        for i in range(n):
            out_row[i] = fill
        return
    all_zero = True
    for i in range(n):
        cls, _, _, _, _ = split_code(np.int64(row[i]), Fs)
        if cls != ZERO:
            all_zero = False
            break
    if all_zero:
        # Every code is a zero, whose new code (encode_value) does not depend on the shift.
        out_scales[b] = P[ZERO_BLOCK_SCALE]
        shift = _Z
    else:
        shift = delta
        if s == 0:
            # A block at the smallest scale 2^-127 may have been clamped there: its largest element
            # then lies below the source's top binade, and raising by the full Δ would discard
            # precision the target can hold. Raise only as far as the largest element needs (the
            # scale requantization chooses); blocks above 2^-127 have their largest element in the
            # top binade (floor rule), where this is Δ itself.
            top = np.int64(-(1 << 20))
            for i in range(n):
                cls, _, _, _, E = split_code(np.int64(row[i]), Fs)
                if cls == FINITE:
                    top = max(top, E)
            shift = min(shift, max(top - Fd[EMAX], _Z))
        x = s - E8M0_BIAS + shift
        if x > E8M0_MAX_EXP:
            if P[SCALE_OVERFLOW] == SCALE_OVERFLOW_NAN:
                out_scales[b] = E8M0_NAN
                for i in range(n):
                    out_row[i] = fill
                return
            shift = E8M0_MAX_EXP - (s - E8M0_BIAS)
            x = np.int64(E8M0_MAX_EXP)
        out_scales[b] = x + E8M0_BIAS
    for i in range(n):
        cls, sign, m, e, E = split_code(np.int64(row[i]), Fs)
        out_row[i] = encode_element(cls, sign, m, e - shift, E - shift, Fd, P, _Z)
