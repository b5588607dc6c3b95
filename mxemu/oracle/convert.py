"""MX-to-MX conversion of one block, exactly: requantize and scale-preserving slice_and_scale."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mxemu.errors import UnknownNameError
from mxemu.oracle.block import dequantize_block, quantize_block
from mxemu.oracle.element import decode_value, encode_value
from mxemu.oracle.exact import floor_log2, pow2
from mxemu.oracle.scale import mx_format
from mxemu.policy import Policy, get_policy
from mxemu.spec import MXFormat

__all__ = ["METHODS", "convert_block"]

METHODS = ("requantize", "slice_and_scale")  # the methods of mxemu.convert


def convert_block(codes: np.ndarray, scale: int, source: str | MXFormat, target: str | MXFormat,
                  method: str = "requantize", policy: Policy | str | None = None) -> tuple[np.ndarray, int]:
    """(codes, scale) of one block of `source` converted to `target` (docs/convert_dot.md), on exact values:
    requantize = quantize_block of the exact dequantized values; slice_and_scale = the scale raised by
    emax_src - emax_dst (clamped or NaN past 2^127; from 2^-127 only as far as the largest element needs) and
    each element's exact value re-encoded at the raised scale; a NaN scale kept; an all-zero block takes
    zero_block_scale.

    >>> codes, scale = convert_block([0x68, 0x78], 127, "mxfp8_e4m3", "mxfp4_e2m1", "slice_and_scale")
    >>> codes.tolist(), scale
    ([2, 6], 133)
    """
    src, src_scale = mx_format(source)
    tgt, _ = mx_format(target)
    policy = get_policy(policy)
    if method not in METHODS:
        raise UnknownNameError(f"unknown conversion method {method!r}; accepted: {', '.join(METHODS)}")
    scale = int(scale)
    values = dequantize_block(codes, scale, src)
    if method == "requantize":
        return quantize_block(values, tgt, policy)
    codes = np.asarray(codes)
    fill = encode_value(math.nan, tgt.element, 0, policy) if tgt.element.has_nan else 0
    if scale == src_scale.nan_code:
        return np.full(len(codes), fill, np.uint8), scale
    elem = src.element
    exact = [decode_value(int(c), elem) for c in codes]
    signed = [(-0.0 if (int(c) >> (elem.bits - 1)) and not elem.is_int else 0.0) if v == 0 else v
              for c, v in zip(codes, exact, strict=True)]
    if all(v == 0 for v in exact):
        return np.array([encode_value(v, tgt.element, 0, policy) for v in signed], np.uint8), policy.zero_block_scale
    e = scale - src_scale.bias
    raised = e + elem.emax - tgt.element.emax
    if scale == 0:
        # A block at 2^-127 may have been clamped there: it rises only as far as its largest finite
        # element needs, floor(log2 |P|) - emax_dst, and not below 2^-127.
        finite = [abs(v) for v in exact if isinstance(v, Fraction) and v != 0]
        need = max(floor_log2(v) for v in finite) - tgt.element.emax if finite else 0
        raised = e + min(elem.emax - tgt.element.emax, max(need, 0))
    if raised > src_scale.max_exponent:
        if policy.scale_overflow == "nan":
            return np.full(len(codes), fill, np.uint8), src_scale.nan_code
        raised = src_scale.max_exponent
    shift = pow2(e - raised)
    out = [encode_value(v * shift if isinstance(v, Fraction) else v, tgt.element, 0, policy) for v in signed]
    return np.array(out, np.uint8), raised + src_scale.bias
