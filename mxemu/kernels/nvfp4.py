"""NVFP4 block quantization: E2M1 elements, an E4M3 scale per 16 elements, an optional FP32 tensor scale.

Unlike the E8M0 formats, NVFP4's scales are found by float32 arithmetic, so this kernel follows the
published two-level recipe step by step in float32 (NVIDIA's NVFP4 paper, torchao nvfp4_quantize):

    bs = fl32(amax / 6)                        # the ideal block scale
    c  = bs, or fl32(bs / P) with a tensor scale P
    s  = E4M3_RNE(clamp(c, 2^-6, 448))         # never a subnormal E4M3 scale
    r  = fl32(1 / s), or fl32(fl32(1 / P) / s)
    q  = clamp(fl32(x * r), -6, 6)  ->  E2M1 by the policy's rounding
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mxemu.kernels.element import decode_value, encode_value, unpack

E4M3_SCALE_MIN = np.float32(2.0 ** -6)
E4M3_SCALE_MAX = np.float32(448.0)


@njit(cache=True, inline="always")
def float32_parts(v):
    """unpack() of a float32 value."""
    return unpack(np.int64(np.array([v], np.float32).view(np.int32)[0]), 8, 23)


@njit(cache=True, parallel=True)
def quantize_nvfp4_blocks(x, tensor_scale, has_tensor_scale, F_elem, F_scale, P, P_scale, codes, scales):
    """Rows of 16 float32 values -> E2M1 codes and E4M3 scale codes (NaN anywhere: scale NaN, codes 0)."""
    six = np.float32(6.0)
    for b in prange(x.shape[0]):
        row = x[b]
        amax = np.float32(0.0)
        has_nan = False
        for i in range(row.shape[0]):
            a = abs(row[i])
            if a != a:
                has_nan = True
            elif a > amax:
                amax = a
        if has_nan:
            scales[b] = 0x7F
            for i in range(row.shape[0]):
                codes[b, i] = 0
            continue
        c = np.float32(amax / six)
        if has_tensor_scale:
            c = np.float32(c / tensor_scale)
        if not c >= E4M3_SCALE_MIN:
            c = E4M3_SCALE_MIN
        if c > E4M3_SCALE_MAX:
            c = E4M3_SCALE_MAX
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
            if q > six:
                q = six
            elif q < -six:
                q = -six
            qc, qs, qm, qe, qE = float32_parts(q)
            codes[b, i] = encode_value(qc, qs, qm, qe, qE, F_elem, P, np.int64(0))
