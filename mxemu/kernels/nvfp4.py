"""Two-level block quantization (NVFP4 and its kin): an element-format block scale, an optional FP32 tensor scale.

Unlike the exponent-only scales, a two-level scale is found by float32 arithmetic, so this kernel follows
the published NVFP4 recipe step by step in float32 (NVIDIA's NVFP4 paper, torchao nvfp4_quantize), with
NVFP4's constants 6 (E2M1 max) and 448, 2^-6 (E4M3 max and min normal) taken from the formats:

    bs = fl32(amax / elem_max)                         # the ideal block scale
    c  = bs, or fl32(bs / P) with a tensor scale P
    s  = SCALE_RNE(clamp(c, scale_min_normal, scale_max))   # never a subnormal scale
    r  = fl32(1 / s), or fl32(fl32(1 / P) / s)
    q  = clamp(fl32(x * r), -elem_max, elem_max)  ->  element code by the policy's rounding

Non-finite lanes follow the policy's `nonfinite` rule as the exponent-only path does: NaN (nan_scale,
propagate) or Inf (nan_scale) make the block scale NaN; ignore_nan and propagate count Inf as an infinite
amax (the scale clamps to its largest value); finite_amax skips Inf. A NaN lane that reaches an element
takes the policy's nan_to_nonan; an Inf lane saturates.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mxemu.kernels.abi import EMIN, IGNORE_NAN, NAN_SCALE, NONFINITE, PROPAGATE, SPECIALS, SPECIALS_NONE
from mxemu.kernels.element import decode_value, encode_value, nan_code, pow2, unpack
from mxemu.kernels.scale import max_normal


@njit(cache=True, inline="always")
def float32_parts(v):
    """unpack() of a float32 value."""
    return unpack(np.int64(np.array([v], np.float32).view(np.int32)[0]), 8, 23)


@njit(cache=True, parallel=True)
def quantize_nvfp4_blocks(x, tensor_scale, has_tensor_scale, F_elem, F_scale, P, P_scale, codes, scales):
    """Rows of float32 values -> element codes and element-format scale codes (one row per block)."""
    elem_max = np.float32(max_normal(F_elem))
    scale_min = np.float32(pow2(F_scale[EMIN]))
    scale_max = np.float32(max_normal(F_scale))
    scale_nan = nan_code(F_scale, 0)
    nan_fill = nan_code(F_elem, 0) if F_elem[SPECIALS] != SPECIALS_NONE else 0
    rule = P[NONFINITE]
    for b in prange(x.shape[0]):
        row = x[b]
        amax = np.float32(0.0)
        has_nan = False
        has_inf = False
        for i in range(row.shape[0]):
            a = abs(row[i])
            if a != a:
                has_nan = True
            elif math.isinf(a):
                has_inf = True
            elif a > amax:
                amax = a
        if (has_nan and rule in (NAN_SCALE, PROPAGATE)) or (has_inf and rule == NAN_SCALE):
            scales[b] = scale_nan
            for i in range(row.shape[0]):
                codes[b, i] = nan_fill
            continue
        if has_inf and rule in (PROPAGATE, IGNORE_NAN):
            amax = np.float32(np.inf)
        c = np.float32(amax / elem_max)
        if has_tensor_scale:
            c = np.float32(c / tensor_scale)
        if not c >= scale_min:
            c = scale_min
        if c > scale_max:
            c = scale_max
        cls, sign, m, e, E = float32_parts(c)
        s_code = encode_value(cls, sign, m, e, E, F_scale, P_scale, np.int64(0))
        scales[b] = s_code
        s = np.float32(decode_value(s_code, F_scale))
        if has_tensor_scale:
            r = np.float32(np.float32(np.float32(1.0) / tensor_scale) / s)
        else:
            r = np.float32(np.float32(1.0) / s)
        for i in range(row.shape[0]):
            q = np.float32(row[i] * r)
            if q > elem_max:
                q = elem_max
            elif q < -elem_max:
                q = -elem_max
            qc, qs, qm, qe, qE = float32_parts(q)
            codes[b, i] = encode_value(qc, qs, qm, qe, qE, F_elem, P, np.int64(0))
