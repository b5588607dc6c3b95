"""One MX block, exactly (contract steps 1-5): quantize to (codes, scale), dequantize, fake-quantize."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

import numpy as np

from mxemu.errors import InputError, MXError
from mxemu.oracle.element import decode_value, encode_value, keeps_sign, nan_code, sign_bit
from mxemu.oracle.exact import nearest_float32, pow2
from mxemu.oracle.philox import random_int
from mxemu.oracle.scale import block_values, flushed_block, fp32_scale, mx_format, scale_code_of
from mxemu.oracle.vector import decode_array
from mxemu.policy import Policy, get_policy
from mxemu.spec import MXFormat, ScaleFormat

__all__ = ["dequantize_block", "fake_quantize_block", "quantize_block"]


def _encoding_exponent(code: int, scale: ScaleFormat, policy: Policy) -> int:
    """The exponent the elements are encoded at: the scale's, except that under min_scale_encoding the
    smallest scale 2^-127 encodes its elements at 2^-126 (min_normal) or at 1 (unit), as those peers do."""
    if code == 0 and policy.min_scale_encoding != "exact":
        return -126 if policy.min_scale_encoding == "min_normal" else 0
    return code - scale.bias


def _draws(policy: Policy, n: int, random_bits: np.ndarray | Iterable[int] | None, seed: int | None,
           indices: np.ndarray | Iterable[int] | None) -> list[int | None]:
    """The stochastic draw of each lane: from `random_bits`, or Philox at (`seed`, flat index); None when the
    rounding is not stochastic."""
    if policy.rounding != "stochastic":
        return [None] * n
    if random_bits is not None:
        draws = [int(r) for r in np.asarray(random_bits).ravel()]
        if len(draws) != n:
            raise InputError(f"random_bits has {len(draws)} entries for {n} values; accepted: one per value")
        return draws
    if seed is None:
        raise InputError("stochastic rounding needs random_bits or a seed")
    lanes = range(n) if indices is None else [int(i) for i in np.asarray(indices).ravel()]
    return [random_int(seed, i, policy.sr_bits) for i in lanes]


def quantize_block(
    x: np.ndarray | Iterable[float],
    mxfmt: str | MXFormat,
    policy: Policy | str | None = None,
    random_bits: np.ndarray | Iterable[int] | None = None,
    seed: int | None = None,
    indices: np.ndarray | Iterable[int] | None = None,
) -> tuple[np.ndarray, int]:
    """(element codes, scale code) of one block of at most block_size values, by the contract's block rules.

    Stochastic rounding draws rnd from `random_bits` (one per lane) or from Philox keyed by `seed` at the
    lanes' flat `indices` in the caller's array (default 0, 1, ...).

    >>> codes, scale = quantize_block([6.0, -1.5, 0.5], "mxfp4_e2m1")
    >>> codes.tolist(), scale
    ([7, 11, 1], 127)
    """
    mxfmt, scale = mx_format(mxfmt)
    policy = get_policy(policy)
    elem = mxfmt.element
    raw, input_exponent_bits = block_values(x)
    if len(raw) > mxfmt.block_size:
        raise InputError(f"a block of {mxfmt.name} holds at most {mxfmt.block_size} values, got {len(raw)}; "
                         f"accepted: 1..{mxfmt.block_size} values")
    values = flushed_block(raw, policy)
    code = scale_code_of(values, input_exponent_bits, elem, scale, policy)
    if code == scale.nan_code:
        fill = nan_code(elem, False) if elem.has_nan else 0
        return np.full(len(values), fill, dtype=np.uint8), code
    # Only a NaN that reaches an element must be encoded; under a NaN scale every element is don't-care.
    if policy.nan_to_nonan == "error" and not elem.has_nan and any(math.isnan(v) for v in raw):
        raise MXError(f"NaN input cannot be encoded in {elem.name} (policy nan_to_nonan = 'error')")
    draws = _draws(policy, len(values), random_bits, seed, indices)
    exponent = _encoding_exponent(code, scale, policy)
    codes = [encode_value(v, elem, exponent, policy, r) for v, r in zip(values, draws, strict=True)]
    return np.array(codes, dtype=np.uint8), code


def dequantize_block(codes: np.ndarray | Iterable[int], scale: int, mxfmt: str | MXFormat) -> np.ndarray:
    """Exact float64 values of one block: element value times 2^(scale - bias); a NaN scale gives all NaN.

    >>> dequantize_block([7, 11, 1], 127, "mxfp4_e2m1").tolist()
    [6.0, -1.5, 0.5]
    """
    mxfmt, scale_fmt = mx_format(mxfmt)
    codes = np.asarray(codes, dtype=np.int64)
    scale = int(scale)
    if scale == scale_fmt.nan_code:
        return np.full(codes.shape, np.nan)
    if not 0 <= scale < scale_fmt.nan_code:
        raise InputError(f"scale code {scale} outside [0, {scale_fmt.nan_code}]; accepted: 0..{scale_fmt.nan_code}")
    return decode_array(codes, mxfmt.element, scale - scale_fmt.bias)


def fake_quantize_block(x: np.ndarray | Iterable[float], mxfmt: str | MXFormat,
                        policy: Policy | str | None = None) -> np.ndarray:
    """Exact float64 fake-quantized values of one block (non-stochastic policies): the dequantized codes,
    except that under fake_int_zero = "signed" an integer lane that is zero is -0 when its input was
    negative and nonzero (or -0 itself under zero_sign = "keep"), as sign(x) * round(|x|) computes it, and
    under "signed_quotient" when its float32 quotient by the integer quantum is negative and nonzero. Under
    a float32 scale_value the values are the peers' float32 arithmetic (`_fp32_scale_fake_quantize`)."""
    mxfmt, scale = mx_format(mxfmt)
    policy = get_policy(policy)
    if policy.scale_value != "e8m0":
        raw, input_exponent_bits = block_values(x)
        return _fp32_scale_fake_quantize(flushed_block(raw, policy), input_exponent_bits, mxfmt, policy)
    codes, code = quantize_block(x, mxfmt, policy)
    values = dequantize_block(codes, code, mxfmt)
    if not mxfmt.element.is_int or policy.fake_int_zero == "positive":
        return values
    exponent = _encoding_exponent(code, scale, policy)
    raw, _ = block_values(x)
    for i, v in enumerate(flushed_block(raw, policy)):
        negative = math.copysign(1.0, v) < 0 and not math.isnan(v)
        if policy.fake_int_zero == "signed_quotient":
            # -0 where the float32 quotient by the integer quantum is negative and nonzero.
            quantum = pow2(exponent + mxfmt.element.emin)
            if values[i] == 0 and negative and math.isfinite(v) and v != 0 and policy.zero_sign != "positive" \
                    and nearest_float32(abs(Fraction(v)) / quantum) != 0:
                values[i] = -0.0
        elif values[i] == 0 and negative and not math.isinf(v) and (
                (v != 0 and keeps_sign(abs(Fraction(v)), exponent, policy))
                or (v == 0 and policy.zero_sign == "keep")):
            values[i] = -0.0
    return values


def _fp32_scale_fake_quantize(values: list[float], input_exponent_bits: int, mxfmt: MXFormat,
                              policy: Policy) -> np.ndarray:
    """Fake-quantized values of one block under a float32 scale_value rule (Brevitas, AMD Quark): each input,
    read as a float32, divided in float32 by the unit (the scale; for integers fl32(scale * 2^emin), the peers'
    scale / 2^f), encoded as that many units, and multiplied back in float32."""
    elem = mxfmt.element
    s = fp32_scale(values, input_exponent_bits, elem, policy)
    if s is None:
        return np.full(len(values), np.nan)
    emin = elem.emin if elem.is_int else 0
    unit = Fraction(float(nearest_float32(s * pow2(emin))))
    out = []
    for v in values:
        with np.errstate(over="ignore"):
            v32 = float(np.float32(v))  # RNE; float64 beyond the float32 range becomes Inf
        if unit == 0:  # an integer quantum below the float32 range (Quark: scale / 2^f underflows)
            q = math.copysign(math.inf, v32) if v32 != 0 and not math.isnan(v32) else math.nan
        elif math.isfinite(v32) and v32 != 0:
            q = float(nearest_float32(Fraction(v32) / unit))
            if q == 0:
                q = math.copysign(0.0, v32)
        else:
            q = v32  # +-0, +-Inf and NaN keep their kind through the division
        code = encode_value(q, elem, -emin, policy)
        element = decode_value(code, elem)
        if isinstance(element, float) and not math.isfinite(element):
            out.append(element * (1 if unit else math.nan))
        elif unit == 0 and element != 0:
            out.append(math.copysign(0.0, element))
        elif element == 0:
            negative = elem.is_int and math.copysign(1.0, q) < 0 and not math.isnan(q) and _int_zero_negative(q, policy)
            out.append(-0.0 if negative or (not elem.is_int and code & sign_bit(elem)) else 0.0)
        else:
            out.append(float(nearest_float32(Fraction(element) / pow2(emin) * unit)))
    return np.array(out, dtype=np.float64)


def _int_zero_negative(q: float, policy: Policy) -> bool:
    """Whether an integer zero from the negative float32 quotient q reads as -0 (fake_int_zero, zero_sign)."""
    if policy.fake_int_zero == "positive" or policy.zero_sign == "positive":
        return False
    if policy.fake_int_zero == "signed_quotient" or policy.zero_sign == "fp32_quotient":
        return q != 0
    return True
