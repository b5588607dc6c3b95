"""The transformer_engine preset follows Transformer Engine's MXFP8 cast kernel as published.

Transformer Engine needs CUDA, so the reference here is the kernel's arithmetic restated in numpy
float32 steps (quantize_mxfp8.cuh, ptx float_to_e8m0 software path, exp2f_rcp), not a run of TE.
"""

import ml_dtypes
import numpy as np
import pytest

import mxemu as mx

F32 = np.float32
FP8 = {"mxfp8_e4m3": (ml_dtypes.float8_e4m3fn, 448.0), "mxfp8_e5m2": (ml_dtypes.float8_e5m2, 57344.0)}


def float_to_e8m0(d: np.ndarray) -> np.ndarray:
    """Round a non-negative float32 up to a power of two, saturating at 2^127 (TE's software path)."""
    bits = d.view(np.uint32).astype(np.int64)
    exponent, mantissa = bits >> 23, bits & 0x7FFFFF
    # Round up when the mantissa is non-zero, except at the top code and for subnormals <= 2^-127.
    up = (mantissa > 0) & (exponent != 0xFE) & ~((exponent == 0) & (mantissa <= 0x400000))
    code = np.where(d == 0, 0, exponent + up)
    code = np.where(np.isinf(d), 0xFE, code)
    return np.where(np.isnan(d), 0xFF, code).astype(np.uint8)


def te_mxfp8(x: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    dtype, top = FP8[fmt]
    blocks = x.reshape(x.shape[0], -1, 32)
    with np.errstate(all="ignore"):
        amax = np.where(np.isnan(blocks), 0, np.abs(blocks)).max(axis=-1).astype(F32)  # fmaxf drops NaN
        code = float_to_e8m0((amax * F32(1.0 / top)).astype(F32))
        reciprocal = np.where(code == 0, F32(1.0), np.ldexp(F32(1.0), 127 - code.astype(np.int64))).astype(F32)
        scaled = (blocks * reciprocal[..., None]).astype(F32)
        elements = np.clip(scaled, -top, top).astype(dtype).view(np.uint8)  # cvt.rn.satfinite
    return code, elements.reshape(x.shape)


def blocks(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((512, 64)) * np.exp2(rng.integers(-130, 120, (512, 1)))).astype(F32)
    x[0, 3] = np.nan
    x[1, 40] = np.inf
    x[2, :32] = 0.0
    x[3, :32] *= F32(1e-39)
    x[4, 7] = -np.inf
    x[5, :32] = F32(448.0) * F32(2.0) ** 20
    x[5, 1] = np.nextafter(F32(448.0) * F32(2.0) ** 20, F32(np.inf))
    return x


@pytest.mark.parametrize("fmt", list(FP8))
@pytest.mark.clause("ext.presets", "ext.scale-rules")
def test_preset_equals_the_transformer_engine_kernel_arithmetic(fmt):
    x = blocks(0)
    want_scales, want_codes = te_mxfp8(x, fmt)
    q = mx.quantize(x, fmt, policy="transformer_engine")
    np.testing.assert_array_equal(q.scales, want_scales)
    np.testing.assert_array_equal(q.codes, want_codes)
