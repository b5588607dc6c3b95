"""The torchao presets equal torchao's own `to_mx` (CPU) byte for byte: scales and element codes."""

import logging
import warnings

import ml_dtypes
import numpy as np
import pytest
import torch

import mxemu as mx

logging.disable(logging.WARNING)
warnings.filterwarnings("ignore", module="torchao")
from torchao.prototype.mx_formats.config import ScaleCalculationMode  # noqa: E402
from torchao.prototype.mx_formats.constants import DTYPE_FP6_E2M3, DTYPE_FP6_E3M2  # noqa: E402
from torchao.prototype.mx_formats.mx_tensor import to_mx  # noqa: E402

ELEMENTS = {
    "mxfp8_e4m3": torch.float8_e4m3fn,
    "mxfp8_e5m2": torch.float8_e5m2,
    "mxfp6_e2m3": DTYPE_FP6_E2M3,
    "mxfp6_e3m2": DTYPE_FP6_E3M2,
    "mxfp4_e2m1": torch.float4_e2m1fn_x2,
}
MODES = {"torchao": ScaleCalculationMode.FLOOR, "torchao_ceil": ScaleCalculationMode.CEIL,
         "torchao_even": ScaleCalculationMode.EVEN, "torchao_rceil": ScaleCalculationMode.RCEIL}


def torchao_codes(x: np.ndarray, fmt: str, preset: str) -> tuple[np.ndarray, np.ndarray]:
    """(E8M0 scale bytes, element codes one per byte) from torchao's to_mx on the CPU."""
    t = torch.from_numpy(x.astype(np.float32)) if x.dtype != ml_dtypes.bfloat16 else \
        torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16)
    scale, data = to_mx(t, ELEMENTS[fmt], 32, MODES[preset])
    scales = scale.view(torch.uint8).numpy().reshape(x.shape[0], -1)
    raw = data.view(torch.uint8).numpy() if fmt != "mxfp6_e2m3" and fmt != "mxfp6_e3m2" else data.numpy()
    if fmt == "mxfp4_e2m1":
        # Element 2i is the low nibble of byte i (torchao pack_uint4).
        codes = np.stack([raw & 0xF, raw >> 4], axis=-1).reshape(x.shape)
    else:
        codes = raw.reshape(x.shape)
    return scales, codes


def special_blocks() -> np.ndarray:
    """One block per row of the values where MX implementations part ways."""
    f32 = np.float32
    rows = []
    lane = np.linspace(-1, 1, 32, dtype=f32)
    for value in (np.nan, np.inf, -np.inf):
        r = lane.copy()
        r[7] = value
        rows.append(r)
    rows.append(np.zeros(32, f32))
    rows.append(-np.zeros(32, f32))
    rows.append(lane * f32(1e-39))                      # FP32 subnormal amax
    rows.append(lane * f32(2.0 ** -149) * 31)           # the smallest subnormals
    for e in (-126, -3, 0, 7, 100, 127):
        below = np.nextafter(f32(2.0) ** e, f32(0))     # amax one ulp below a power of two
        rows.append(np.where(np.arange(32) == 5, below, lane * f32(2.0) ** (e - 2)).astype(f32))
    for fmt_max in (448.0, 57344.0, 28.0, 7.5, 6.0):
        for e in (-100, -1, 0, 3, 60):
            at = f32(fmt_max) * f32(2.0) ** e                # amax at max_normal * 2^e, and one ulp above
            rows.append(np.where(np.arange(32) == 9, at, lane * at / 3).astype(f32))
            rows.append(np.where(np.arange(32) == 9, np.nextafter(at, f32(np.inf)), lane).astype(f32))
    rows.append(np.full(32, np.finfo(f32).max, f32))
    rows.append(np.array([6.5, 5.0, 3.5, 2.5, 0.75, 0.25, 7.75, 28.0, 30.0, 464.0, 61440.0] + [1.0] * 21, f32))
    rows.append(np.array([-x for x in rows[-1]], f32))
    return np.stack(rows)


def random_blocks(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((256, 128)) * np.exp2(rng.integers(-40, 40, (256, 1)))
    outliers = rng.random(x.shape) < 0.01
    x[outliers] *= 1000.0
    return x.astype(np.float32)


@pytest.mark.parametrize("preset", list(MODES))
@pytest.mark.parametrize("fmt", list(ELEMENTS))
@pytest.mark.parametrize("data", ["random", "special", "bfloat16"])
@pytest.mark.clause("ext.presets", "ext.scale-rules")
def test_preset_equals_torchao_to_mx(preset, fmt, data):
    x = {"random": lambda: random_blocks(0), "special": special_blocks,
         "bfloat16": lambda: random_blocks(1).astype(ml_dtypes.bfloat16)}[data]()
    want_scales, want_codes = torchao_codes(x, fmt, preset)
    q = mx.quantize(x, fmt, policy=preset)
    np.testing.assert_array_equal(q.scales, want_scales)
    # Element codes under a NaN scale are "don't care" in both libraries (docs/numerics.md).
    meaningful = np.repeat(want_scales != 0xFF, 32, axis=1)
    np.testing.assert_array_equal(np.where(meaningful, q.codes, 0), np.where(meaningful, want_codes, 0))
    if data == "special":
        assert (want_scales == 0xFF).any() and meaningful.any()


@pytest.mark.parametrize("tensor_scale", [None, "amax", 0.001, 3.0])
@pytest.mark.clause("ext.nvfp4")
def test_nvfp4_equals_torchao_nvfp4_quantize(tensor_scale):
    from torchao.prototype.mx_formats.nvfp4_tensor import nvfp4_quantize

    x = np.ascontiguousarray(random_blocks(2)[:, :96])
    x[0, :16] = 0.0
    x[1, :16] *= np.float32(1e-30)
    x[2, 5] = np.inf if tensor_scale != "amax" else 1e30
    # torchao counts Inf as an infinite amax (the scale clamps to 448): nonfinite "propagate".
    q = mx.quantize(x, "nvfp4", policy=mx.Policy(nonfinite="propagate"), tensor_scale=tensor_scale)
    ts = None if tensor_scale is None else torch.tensor(
        q.tensor_scale if tensor_scale == "amax" else tensor_scale, dtype=torch.float32)
    if tensor_scale == "amax":
        # torchao's per_tensor_amax_to_scale: amax / (6 * 448) in float32.
        assert q.tensor_scale == float(np.float32(np.abs(x).max() / np.float32(2688.0)))
    scale, data = nvfp4_quantize(torch.from_numpy(x), 16, ts)
    raw = data.view(torch.uint8).numpy()
    np.testing.assert_array_equal(q.scales, scale.view(torch.uint8).numpy().reshape(q.scales.shape))
    np.testing.assert_array_equal(q.codes, np.stack([raw & 0xF, raw >> 4], axis=-1).reshape(x.shape))
