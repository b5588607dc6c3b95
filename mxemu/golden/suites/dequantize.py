"""The dequantize suite and its exact oracle: element code times E8M0 scale into float32 bits."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from mxemu import oracle
from mxemu.array import MXArray
from mxemu.errors import MXError
from mxemu.golden.suites.tables import EV_NONFINITE, EV_OVERFLOW, EV_SCALE_END, EV_SCALE_NAN, TAG_IDS, Table, layout
from mxemu.golden.suites.values import f32_bits
from mxemu.ops import decode
from mxemu.policy import Policy
from mxemu.spec import MXFormat


def dequantize_scales(mx: MXFormat, level: str) -> tuple[int, ...]:
    """E8M0 scale codes of the dequantize suite: both ends (float32-subnormal products, overflow to Inf),
    around 2^0, the NaN code; L1 adds every code for elements of up to 6 bits, every 8th code for 8-bit ones;
    L2 every code."""
    nan = mx.scale.nan_code
    ends = {0, 1, 2, 3, 5, 8, 10, 16, 0x70, 0x7E, 0x7F, 0x80, 0x85, 0xF0, 0xF8, 0xFB, 0xFC, 0xFD, nan - 1, nan}
    if level == "L0":
        return tuple(sorted(ends))
    if mx.element.bits <= 6 or level == "L2":
        return tuple(range(nan + 1))
    return tuple(sorted(ends | set(range(0, nan + 1, 8)) | set(range(0x77, 0x88))))


def build_dequantize(mx: MXFormat, policy: Policy, level: str, seed: int) -> Table:
    """(E8M0 scale, element code) -> float32 bits of the element's value times the scale, by
    MXArray.dequantize: every code at each scale of `dequantize_scales` (NaN results: check class nan)."""
    elem = mx.element
    scales = np.array(dequantize_scales(mx, level), dtype=np.uint8)
    codes = np.arange(elem.num_codes, dtype=np.uint8)
    sc = np.repeat(scales, len(codes))
    cd = np.tile(codes, len(scales))
    q = MXArray(codes=cd.reshape(-1, 1), scales=sc.reshape(-1, 1), format=mx, policy=policy, axis=(1,))
    values = q.dequantize(np.float32).reshape(-1)
    elem_value = decode(cd, elem, dtype=np.float64)
    is_nan_scale = sc == mx.scale.nan_code
    finite = np.isfinite(elem_value) & ~is_nan_scale
    v = values.astype(np.float64)
    tiny = float(np.finfo(np.float32).tiny)
    tags = np.select(
        [is_nan_scale, ~np.isfinite(elem_value), elem_value == 0, ~np.isfinite(v), np.abs(v) < tiny],
        [TAG_IDS["DQ-scale-nan"], TAG_IDS["DQ-special"], TAG_IDS["DQ-zero"], TAG_IDS["DQ-overflow"],
         TAG_IDS["DQ-fp32-sub"]], TAG_IDS["DQ-normal"])
    ev = np.where(~np.isfinite(elem_value) | is_nan_scale, EV_NONFINITE, 0)
    ev |= np.where(finite & ~np.isfinite(v), EV_OVERFLOW, 0)
    ev |= np.where((sc == 0) | (sc == mx.scale.nan_code - 1), EV_SCALE_END, 0)
    ev |= np.where(is_nan_scale, EV_SCALE_NAN, 0)
    t = Table("dequantize", mx, layout("dequantize", mx))
    t.columns = {"tag": tags.astype(np.uint16), "scale": sc, "code": cd, "value": f32_bits(values).copy(),
                 "ev": ev.astype(np.uint8), "chk": np.where(np.isnan(v), 1, 0).astype(np.uint8)}
    return t


def oracle_dequantize(scale: int, code: int, mx: MXFormat) -> int:
    """Exact element value times 2^(scale - bias), into float32 bits; a NaN scale gives the quiet NaN.
    `MXError` for a value float32 would have to round (never in the dequantize suite: every scale and code
    it writes has a float32 value, or one beyond the largest, which is Inf)."""
    if scale == mx.scale.nan_code:
        return 0x7FC00000
    v = oracle.decode_value(code, mx.element)
    if not isinstance(v, Fraction):  # NaN or Inf element
        return int(f32_bits(np.float32([v]))[0])
    exact = v * Fraction(2) ** (scale - mx.scale.bias)
    f = oracle.nearest_float32(exact)
    if np.isfinite(f) and Fraction(float(f)) != exact:
        raise MXError(f"{exact} is not a float32 value")
    negative_zero = exact == 0 and not mx.element.is_int and bool(code >> (mx.element.bits - 1))
    return 0x80000000 if negative_zero else int(f32_bits(np.float32([f]))[0])
